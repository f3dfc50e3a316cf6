"""Job leases: which team-server replica runs each background job, until when.

job leases

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 12:10:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('job_lease',
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('holder', sa.String(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('job_lease')
