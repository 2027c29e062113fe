"""quarantine.fingerprint is the record's content, not reason + content: a replay that changes a still-bad row's
reason no longer lets the next re-read quarantine it again (issue 16). Rows already doubled that way are merged
into the earliest.

Revision ID: 0006
Revises: 0005
"""
import hashlib
from collections.abc import Callable, Sequence

import sqlalchemy as sa

from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rewrite(fingerprint: Callable[[str, str], str]) -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, source, reason, raw FROM quarantine ORDER BY id")).all()
    kept: dict[tuple[str, str], int] = {}
    doubled: list[int] = []
    updates: list[dict[str, object]] = []
    for row in rows:
        new = fingerprint(row.reason, row.raw)
        if (row.source, new) in kept:
            doubled.append(row.id)
        else:
            kept[(row.source, new)] = row.id
            updates.append({"i": row.id, "f": new})
    for start in range(0, len(doubled), 1000):
        conn.execute(sa.text("DELETE FROM quarantine WHERE id IN :ids").bindparams(sa.bindparam("ids", expanding=True)),
                     {"ids": doubled[start : start + 1000]})
    # Through a placeholder first: an old and a new fingerprint never collide, but the order of updates must not
    # matter to the unique (source, fingerprint) either.
    if updates:
        conn.execute(sa.text("UPDATE quarantine SET fingerprint = 'x' || CAST(id AS VARCHAR(20))"))
        conn.execute(sa.text("UPDATE quarantine SET fingerprint = :f WHERE id = :i"), updates)


def upgrade() -> None:
    _rewrite(lambda _reason, raw: hashlib.sha256(raw.encode()).hexdigest())


def downgrade() -> None:
    _rewrite(lambda reason, raw: hashlib.sha256(f"{reason}\x00{raw}".encode()).hexdigest())
