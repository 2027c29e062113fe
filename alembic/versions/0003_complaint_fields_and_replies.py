"""What a complaint says as fields (demand), the outcome's root cause and remedy date, users' replies

Revision ID: 0003
Revises: 0002
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.add_column(sa.Column('demand', sa.String(length=20), nullable=True))
    with op.batch_alter_table('complaint_outcomes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('root_cause', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('remedy_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_complaint_outcomes_root_cause', ['root_cause'], unique=False)
    op.create_table(
        'inbound_messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('complaint_id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=10), nullable=False),
        sa.Column('message_id', sa.String(length=200), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('contact_key', sa.String(length=64), nullable=True),
        sa.Column('body_masked', sa.Text(), nullable=False),
        sa.Column('notification_id', sa.Integer(), nullable=True),
        sa.Column('score', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['complaint_id'], ['complaints.id'],
                                name='fk_inbound_messages_complaint_id_complaints', ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['notification_id'], ['notifications.id'],
                                name='fk_inbound_messages_notification_id_notifications'),
        sa.PrimaryKeyConstraint('id', name='pk_inbound_messages'),
        sa.UniqueConstraint('channel', 'message_id', name='uq_inbound_messages_channel_message_id'),
    )
    op.create_index('ix_inbound_messages_complaint_id', 'inbound_messages', ['complaint_id'], unique=False)
    op.create_index('ix_inbound_messages_contact_key', 'inbound_messages', ['contact_key'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_inbound_messages_contact_key', table_name='inbound_messages')
    op.drop_index('ix_inbound_messages_complaint_id', table_name='inbound_messages')
    op.drop_table('inbound_messages')
    with op.batch_alter_table('complaint_outcomes', schema=None) as batch_op:
        batch_op.drop_index('ix_complaint_outcomes_root_cause')
        batch_op.drop_column('remedy_at')
        batch_op.drop_column('root_cause')
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.drop_column('demand')
