"""Outbox keys of the messages that close a complaint (resolution, its call-back) are per ticket and person,
resolution:complaint:<ticket>:<contact_key>, whichever closing queued them; an incident's were per incident
(resolution:incident:<id>:<contact_key>), so a member with an outcome of its own got two resolutions. Keys already
queued are rewritten to the new form (the row's complaint is the user's ticket), so an incident resolved before
the upgrade is not announced again; where both forms exist (the double already sent) the old row keeps its key.

Revision ID: 0009
Revises: 0008
"""
import re
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CLOSING = re.compile(r"^(resolution|callback):(?:incident|complaint):\d+:(.+)$")


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT id, idempotency_key, complaint_id, contact_key FROM notifications "
        "WHERE idempotency_key LIKE 'resolution:%' OR idempotency_key LIKE 'callback:%' ORDER BY id")).all()
    taken = {r.idempotency_key for r in rows}
    updates = []
    for r in rows:
        match = _CLOSING.match(r.idempotency_key)
        if match is None or r.complaint_id is None or r.contact_key is None:
            continue  # periodic and transaction call-backs; rows anonymised by forget or retention
        new = f"{match.group(1)}:complaint:{r.complaint_id}:{r.contact_key}"
        if new not in taken:
            taken.add(new)
            updates.append({"i": r.id, "k": new})
    if updates:
        conn.execute(sa.text("UPDATE notifications SET idempotency_key = :k WHERE id = :i"), updates)


def downgrade() -> None:
    # The new keys are as unique as the old ones; the old code would queue an incident's messages again under its
    # own keys, which is what this revision prevents, so nothing is undone.
    pass
