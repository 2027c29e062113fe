"""Identifiers stored before ingest knew placeholders (N/A, 暂无, none@qq.com, 00000000000, 13800138000) key no one:
a placeholder customer_ref becomes NULL, and a placeholder contact is no contact (contact, contact_masked and
contact_key NULL), in complaints and transactions, as ingest now stores them. Left keyed, every stranger who typed
one stayed one person for a customer's history and an erasure (`forget` of one's account reached the others through
the shared key) and one user in detection's history. The raw record keeps what was typed. Decided in Python with
the rules as they stood at this revision copied here (complaints.core.normalize.placeholder, placeholder_number;
complaints.core.pii.no_one), written by primary key in chunks. Online only (it reads the rows). Downgrade leaves
them as they are: the stored keys are not kept.

Revision ID: 0016
Revises: 0015
"""
import re
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 1000
_INVISIBLE = re.compile("[\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
_SPACE = re.compile(r"\s+")
_PUNCT_SPACE = re.compile(r"[\W_]+")
_NO_VALUE = re.compile(r"[\W_xX0*]*")
_WORDS = frozenset({
    "na", "nan", "none", "null", "nil", "undefined", "unknown", "anonymous", "test", "noemail", "nomail", "noreply",
    "nobody", "empty", "blank", "无", "暂无", "没有", "未知", "不详", "不知道", "空", "匿名", "无号码", "无账号",
    "暂无账号", "未提供", "不提供", "客户未提供", "未填", "未填写",
})
_NAME_WORDS = frozenset({"none", "null", "undefined", "unknown", "anonymous", "test", "noemail", "nomail", "noreply",
                         "nobody"})
_SEQUENCE = "01234567890123456789"
_MASKED = re.compile(r"\*\*|\d(?:[*×#]+|[xX]{2,})\d")


def _fold(value: str) -> str:
    return _SPACE.sub(" ", _INVISIBLE.sub("", unicodedata.normalize("NFKC", value))).strip()


def _squeeze(value: str) -> str:
    return _PUNCT_SPACE.sub("", value.lower())


def placeholder(value: str) -> bool:
    folded = _fold(value)
    if _NO_VALUE.fullmatch(folded) or _squeeze(folded) in _WORDS:
        return True
    name, at, _ = folded.partition("@")
    return bool(at) and (_squeeze(name) in _NAME_WORDS or (len(name) >= 3 and _NO_VALUE.fullmatch(name) is not None))


def _number_for_none(digits: str) -> bool:
    if digits.startswith("1") and len(digits) == 11:
        rest = digits[3:]
    elif digits.startswith("0"):
        rest = digits[3:] if digits[1:2] in ("1", "2") else digits[4:]
    else:
        rest = digits[2:] if digits[:1] in ("1", "2") else digits[3:]
    return (len(rest) >= 7 and set(rest) == {"0"}) or digits == "13800138000" or (
        len(digits) >= 10 and (len(set(digits)) == 1 or digits in _SEQUENCE or digits in _SEQUENCE[::-1]))


def contact_for_none(value: str) -> bool:
    value = unicodedata.normalize("NFKC", value).strip()
    if not value:
        return False
    if placeholder(value) or _MASKED.search(value):
        return True
    if "@" in value:
        return False
    digits = re.sub(r"\D", "", value)
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return len(digits) >= 7 and _number_for_none(digits)


def upgrade() -> None:
    bind = op.get_bind()
    for name in ('complaints', 'transactions'):
        table = sa.table(name, sa.column('id', sa.Integer), sa.column('customer_ref', sa.String),
                         sa.column('contact', sa.String), sa.column('contact_masked', sa.String),
                         sa.column('contact_key', sa.String))
        refs, contacts = [], []
        for row in bind.execute(sa.select(table.c.id, table.c.customer_ref, table.c.contact).where(
                sa.or_(table.c.customer_ref.is_not(None), table.c.contact.is_not(None)))):
            if row.customer_ref is not None and placeholder(row.customer_ref):
                refs.append({"_id": row.id})
            if row.contact is not None and contact_for_none(row.contact):
                contacts.append({"_id": row.id})
        where = table.c.id == sa.bindparam("_id")
        for rows, values in ((refs, {"customer_ref": None}),
                             (contacts, {"contact": None, "contact_masked": None, "contact_key": None})):
            for k in range(0, len(rows), CHUNK):
                bind.execute(sa.update(table).where(where).values(**values), rows[k:k + CHUNK])


def downgrade() -> None:
    pass
