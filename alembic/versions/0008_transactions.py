"""transactions (a transaction feed, once per transaction id) for call-backs after important transactions: the
outbox and users' replies can belong to a transaction instead of a complaint; replies keep the call-back's time
window

Revision ID: 0008
Revises: 0007
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'transactions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('transaction_id', sa.String(length=200), nullable=False),
        sa.Column('source', sa.String(length=100), nullable=False),
        sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('customer_ref', sa.String(length=200), nullable=True),
        sa.Column('contact', sa.String(length=320), nullable=True),
        sa.Column('contact_masked', sa.String(length=320), nullable=True),
        sa.Column('contact_key', sa.String(length=64), nullable=True),
        sa.Column('type', sa.String(length=20), nullable=False),
        sa.Column('amount', sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=True),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_transactions'),
        sa.UniqueConstraint('transaction_id', name='uq_transactions_transaction_id'),
    )
    op.create_index('ix_transactions_contact_key', 'transactions', ['contact_key'], unique=False)
    op.create_index('ix_transactions_customer_ref', 'transactions', ['customer_ref'], unique=False)
    op.create_index('ix_transactions_occurred_at', 'transactions', ['occurred_at'], unique=False)
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('transaction_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('callback_window', sa.String(length=10), nullable=True))
        batch_op.alter_column('complaint_id', existing_type=sa.Integer(), nullable=True)
        batch_op.create_index('ix_inbound_messages_transaction_id', ['transaction_id'], unique=False)
        batch_op.create_foreign_key('fk_inbound_messages_transaction_id_transactions', 'transactions',
                                    ['transaction_id'], ['id'], ondelete='CASCADE')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('transaction_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_notifications_transaction_id', ['transaction_id'], unique=False)
        batch_op.create_foreign_key('fk_notifications_transaction_id_transactions', 'transactions',
                                    ['transaction_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint('fk_notifications_transaction_id_transactions', type_='foreignkey')
        batch_op.drop_index('ix_notifications_transaction_id')
        batch_op.drop_column('transaction_id')
    # Replies to transaction call-backs have no complaint: they cannot exist in the older schema.
    op.execute("DELETE FROM inbound_messages WHERE complaint_id IS NULL")
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_constraint('fk_inbound_messages_transaction_id_transactions', type_='foreignkey')
        batch_op.drop_index('ix_inbound_messages_transaction_id')
        batch_op.alter_column('complaint_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('callback_window')
        batch_op.drop_column('transaction_id')
    op.drop_index('ix_transactions_occurred_at', table_name='transactions')
    op.drop_index('ix_transactions_customer_ref', table_name='transactions')
    op.drop_index('ix_transactions_contact_key', table_name='transactions')
    op.drop_table('transactions')
