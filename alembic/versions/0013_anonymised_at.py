"""complaints.anonymised_at and transactions.anonymised_at: when retention or an erasure request removed the record's
personal data, so that re-reading its source (a backfill) never brings it back

Existing anonymised complaints are the ones whose text hash is their text (both set to the purge marker). Existing
transactions are not marked: one cleared before this revision cannot be told from one that never had a person (a
feed may add the person later). A re-read that gives a transaction past the retention period its person back is
cleared again by the next retention run; one erased by request before this revision is not protected.

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


def downgrade() -> None:
    for table in ('complaints', 'transactions'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('anonymised_at')
