"""complaints.customer_ref and transactions.customer_ref in one form: without spaces, upper case (ingest now stores
them so: complaints.core.normalize.account_ref), so that an account typed " w607075546" in a web form is the
account W607075546 the app sends, for dedupe, history and erasure alike. Width folding (full-width letters) is
not done here; such references stay as stored. Downgrade leaves them as they are: the typed case is not kept.

Revision ID: 0014
Revises: 0013
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ('complaints', 'transactions'):
        op.execute(f"UPDATE {table} SET customer_ref = UPPER(REPLACE(customer_ref, ' ', '')) "
                   "WHERE customer_ref IS NOT NULL AND customer_ref != UPPER(REPLACE(customer_ref, ' ', ''))")


def downgrade() -> None:
    pass
