"""complaints.customer_ref and transactions.customer_ref in one form: width-folded, without spaces, upper case,
as ingest now stores them (complaints.core.normalize.account_ref), so that an account typed " w607 075546" in a web
form is the account W607075546 the app sends, for dedupe, history and erasure alike. Converted in Python, one
distinct reference at a time, so that stored rows get exactly the form ingest gives (SQL's UPPER differs between
backends beyond ASCII). Downgrade leaves them as they are: the typed form is not kept.

Revision ID: 0014
Revises: 0013
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from complaints.core.normalize import account_ref

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    for name in ('complaints', 'transactions'):
        table = sa.table(name, sa.column('customer_ref', sa.String))
        stored = bind.execute(sa.select(table.c.customer_ref).distinct()
                              .where(table.c.customer_ref.is_not(None))).scalars().all()
        for ref in stored:
            if (one := account_ref(ref)) != ref:
                bind.execute(sa.update(table).where(table.c.customer_ref == ref).values(customer_ref=one))


def downgrade() -> None:
    pass
