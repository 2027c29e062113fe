"""transactions are unique per feed (source, transaction_id), not across feeds: two feeds may number theirs alike

Revision ID: 0011
Revises: 0010
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_constraint('uq_transactions_transaction_id', type_='unique')
        batch_op.create_unique_constraint('uq_transactions_source_transaction_id', ['source', 'transaction_id'])


def downgrade() -> None:
    # Two feeds' transactions with the same id cannot both stay under the older, global key; deleting one would take
    # its call-backs and replies with it, so the downgrade refuses instead.
    shared = op.get_bind().execute(sa.text(
        "SELECT transaction_id FROM transactions GROUP BY transaction_id HAVING COUNT(*) > 1")).first()
    if shared is not None:
        raise RuntimeError("cannot downgrade below 0011: several feeds have a transaction with the same id "
                           f"({shared[0]!r}); remove one feed's transactions first")
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_constraint('uq_transactions_source_transaction_id', type_='unique')
        batch_op.create_unique_constraint('uq_transactions_transaction_id', ['transaction_id'])
