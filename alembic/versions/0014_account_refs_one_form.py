"""complaints.customer_ref and transactions.customer_ref in one form: width-folded, trimmed, upper case, as
ingest now stores them (complaints.core.normalize.account_ref), so that an account typed " w607075546 " in a web
form is the account W607075546 the app sends, for dedupe, history and erasure alike. Converted in Python (SQL's
UPPER differs between backends beyond ASCII), with the rule as it stood at this revision copied here, and written
by primary key in chunks (customer_ref had no index until 0015: an UPDATE per reference would scan the table each
time). A reference whose form would exceed the column stays as stored. Online only (it reads the rows). Downgrade
leaves them as they are: the typed form is not kept.

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

_INVISIBLE = re.compile("[\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff\x00-\x08\x0b-\x1f\x7f]")
_SPACE = re.compile(r"\s+")
CHUNK = 1000


def one_form(value: str) -> str | None:
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", _INVISIBLE.sub("", value))).strip().upper() or None


def upgrade() -> None:
    bind = op.get_bind()
    for name in ('complaints', 'transactions'):
        table = sa.table(name, sa.column('id', sa.Integer), sa.column('customer_ref', sa.String))
        changed = [{"_id": row.id, "ref": one} for row in bind.execute(
                       sa.select(table.c.id, table.c.customer_ref).where(table.c.customer_ref.is_not(None)))
                   if (one := one_form(row.customer_ref)) != row.customer_ref and len(one or "") <= 200]
        update = sa.update(table).where(table.c.id == sa.bindparam("_id")).values(customer_ref=sa.bindparam("ref"))
        for k in range(0, len(changed), CHUNK):
            bind.execute(update, changed[k:k + CHUNK])


def downgrade() -> None:
    pass
