"""complaints.anonymised_at and transactions.anonymised_at: when retention or an erasure request removed the record's
personal data, so that re-reading its source (a backfill) never brings it back

Existing anonymised complaints are the ones whose text hash is their text (both set to the purge marker). An existing
transaction without any person counts as anonymised: a feed cannot tell a cleared one from one that never had a
person, and leaving it out would let a backfill restore a cleared one.

Revision ID: 0013
Revises: 0012
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ('complaints', 'transactions'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('anonymised_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE complaints SET anonymised_at = updated_at WHERE text_hash = body")
    op.execute("UPDATE transactions SET anonymised_at = updated_at "
               "WHERE contact IS NULL AND contact_key IS NULL AND customer_ref IS NULL")


def downgrade() -> None:
    for table in ('complaints', 'transactions'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('anonymised_at')
