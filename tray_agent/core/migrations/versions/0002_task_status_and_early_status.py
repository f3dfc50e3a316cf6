"""Background tasks' failures (for doctor) and delivery statuses that came before their send's id.

task status and early status

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 10:45:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('task_status',
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), server_default='', nullable=False),
    sa.Column('failed_at', sa.DateTime(), nullable=True),
    sa.Column('ok_at', sa.DateTime(), nullable=True),
    sa.Column('retry_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('early_status',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('provider_message_id', sa.String(), nullable=False),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('error_code', sa.String(), nullable=True),
    sa.Column('reason', sa.String(), nullable=True),
    sa.Column('rule_violation', sa.Boolean(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=True),
    sa.Column('received_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['channel_id'], ['channel.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_early_status_provider_id', 'early_status', ['channel_id', 'provider_message_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_early_status_provider_id', table_name='early_status')
    op.drop_table('early_status')
    op.drop_table('task_status')
