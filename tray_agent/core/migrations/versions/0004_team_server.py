"""Team server: agents' roles, queues' pickup modes, when a conversation was taken, and
the server's own tables (epoch, sign-in codes, devices, audit log, idempotency keys).

team server

Revision ID: 0004
Revises: 0001
Create Date: 2026-12-01 10:28:37.450494
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('server_meta',
    sa.Column('key', sa.String(), nullable=False),
    sa.Column('value', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=True),
    sa.Column('actor_agent_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(), nullable=False),
    sa.Column('action', sa.String(), nullable=False),
    sa.Column('target', sa.String(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['actor_agent_id'], ['agent.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_at', ['at', 'id'], unique=False)

    op.create_table('device',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('token_hash', sa.String(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=True),
    sa.Column('last_seen_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_agent_id'), ['agent_id'], unique=False)

    op.create_table('idempotency_key',
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=True),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('response', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ),
    sa.PrimaryKeyConstraint('agent_id', 'key')
    )
    op.create_table('sign_in_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('selector', sa.String(), nullable=False),
    sa.Column('secret_hash', sa.String(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.Column('failed_attempts', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('selector')
    )
    with op.batch_alter_table('sign_in_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sign_in_code_agent_id'), ['agent_id'], unique=False)

    with op.batch_alter_table('agent', schema=None) as batch_op:
        batch_op.add_column(sa.Column('role', sa.String(), server_default='agent', nullable=False))

    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assigned_at', sa.DateTime(), nullable=True))

    with op.batch_alter_table('message_queue', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pickup_mode', sa.String(), server_default='auto', nullable=False))



def downgrade() -> None:
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35+, as 0003 does): a batch copy of these
    # tables would drop them, which the foreign keys pointing at them refuse.
    op.drop_column('message_queue', 'pickup_mode')
    op.drop_column('conversation', 'assigned_at')
    op.drop_column('agent', 'role')

    with op.batch_alter_table('sign_in_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sign_in_code_agent_id'))

    op.drop_table('sign_in_code')
    op.drop_table('idempotency_key')
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_agent_id'))

    op.drop_table('device')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_at')

    op.drop_table('audit_log')
    op.drop_table('server_meta')
