"""Lease fencing and shared sign-in limits: each job lease's generation (bumped at every
take-over, checked by the holder's writes) and the failed sign-in attempts every replica counts.

lease fencing, sign-in attempts

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-01 13:30:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('job_lease', sa.Column('generation', sa.BigInteger(), nullable=False, server_default='0'))
    op.create_table('sign_in_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_sign_in_attempt_key_at', 'sign_in_attempt', ['key', 'at'], unique=False)
    op.create_index(op.f('ix_sign_in_attempt_at'), 'sign_in_attempt', ['at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_sign_in_attempt_at'), table_name='sign_in_attempt')
    op.drop_index('ix_sign_in_attempt_key_at', table_name='sign_in_attempt')
    op.drop_table('sign_in_attempt')
    op.drop_column('job_lease', 'generation')
