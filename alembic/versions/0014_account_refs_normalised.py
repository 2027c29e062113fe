"""complaints.customer_ref and transactions.customer_ref as one key per account: width, spaces and case dropped
(complaints.core.normalize.account_ref as of this revision), as ingest now stores them, so "w822709649" typed in a
web form and "W822709649" from the app are one person for dedupe, erasure and the transaction match

Revision ID: 0014
Revises: 0013
"""
import re
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def account_ref(value: str) -> str | None:
    """The rule frozen here (the application's may change later): NFKC, no whitespace or zero-width, upper case."""
    text = re.sub("[\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]", "", unicodedata.normalize("NFKC", value))
    return "".join(text.split()).upper() or None


def upgrade() -> None:
    bind = op.get_bind()
    for name in ('complaints', 'transactions'):
        table = sa.table(name, sa.column('customer_ref', sa.String))
        refs = bind.execute(sa.select(table.c.customer_ref).where(table.c.customer_ref.is_not(None)).distinct())
        for (ref,) in refs.all():
            if account_ref(ref) != ref:
                bind.execute(table.update().where(table.c.customer_ref == ref).values(customer_ref=account_ref(ref)))


def downgrade() -> None:
    pass  # the typed forms are not kept: nothing to restore
