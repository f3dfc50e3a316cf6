"""Presence and queues beyond Linkus: the status an agent sets and the presence last
announced for them; a queue's automatic assignment, capacity and re-queue time.

presence and assignment

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 13:40:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agent', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(), nullable=False, server_default='available'))
        batch_op.add_column(sa.Column('presence_announced', sa.String(), nullable=False, server_default='offline'))
    with op.batch_alter_table('message_queue', schema=None) as batch_op:
        batch_op.add_column(sa.Column('auto_assign', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('capacity', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('requeue_after_minutes', sa.Integer(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (as 0004's downgrade): a batch copy of a referenced table breaks its foreign keys.
    for table, column in (('message_queue', 'requeue_after_minutes'), ('message_queue', 'capacity'),
                          ('message_queue', 'auto_assign'), ('agent', 'presence_announced'), ('agent', 'status')):
        op.drop_column(table, column)
