"""The Alembic migrations build exactly the schema of complaints/core/models.py, 0002 keeps old rows detected and
0009 re-keys closing messages already queued."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text

from complaints.core.db import downgrade, get_engine, migrate, session_scope
from complaints.core.models import Base, Notification
from tests.factories import T0, complaint


def test_migrations_match_the_models(db_url: str) -> None:
    with get_engine(db_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    assert diff == []


def test_0002_marks_processed_complaints_detected(db_url: str) -> None:
    """A database from before 0002: what was processed had been detected; what was not, is left to detection."""
    downgrade(db_url, "0001")
    with session_scope(db_url) as s:
        for i, processed in enumerate([T0 + timedelta(hours=1), None]):
            s.execute(text(
                "INSERT INTO complaints (source, external_id, received_at, channel, body, text_hash, language, "
                "needs_review, severity_reasons, status, raw, channels, first_seen_at, last_seen_at, processed_at, "
                "created_at, updated_at) VALUES ('app', :x, :t, 'app', 'b', 'h', 'zh', false, '[]', 'new', '{}', "
                "'[]', :t, :t, :p, :t, :t)"), {"x": f"e{i}", "t": T0, "p": processed})
    migrate(db_url)
    with session_scope(db_url) as s:
        rows = s.execute(text("SELECT external_id, detected_at IS NOT NULL FROM complaints ORDER BY external_id"))
        assert [tuple(r) for r in rows] == [("e0", True), ("e1", False)]


def test_0009_gives_queued_closing_messages_their_ticket_key(db_url: str) -> None:
    """An incident's resolution queued before 0009 is found under the key the incident path uses now, so it is not
    queued again; a double already queued keeps both rows; periodic call-backs and anonymised rows stay."""
    with session_scope(db_url) as s:  # at head: the model's columns (held_at came later) are all there
        cid = complaint(s, "转账没到账", contact="a@example.com").id
    downgrade(db_url, "0008")
    with session_scope(db_url) as s:
        c = SimpleNamespace(id=cid)
        rows = [("resolution:incident:7:ka", "resolution", c.id, "ka"),  # -> resolution:complaint:<c>:ka
                ("callback:incident:7:ka", "callback", c.id, "ka"),
                ("resolution:incident:8:kb", "resolution", c.id, "kb"),  # the double: both stay as they are
                (f"resolution:complaint:{c.id}:kb", "resolution", c.id, "kb"),
                ("callback:periodic:2026-11:ka", "callback", c.id, "ka"),
                ("resolution:incident:9:kc", "resolution", c.id, None)]  # forgotten: no person key left
        for i, (key, kind, cid, ck) in enumerate(rows):
            s.add(Notification(idempotency_key=key, kind=kind, recipient="x", language="zh", subject="s",
                               body_text="b", message_id=f"<{i}@x>", complaint_id=cid, contact_key=ck))
    migrate(db_url)
    with session_scope(db_url) as s:
        keys = set(s.scalars(select(Notification.idempotency_key)))
    assert keys == {f"resolution:complaint:{cid}:ka", f"callback:complaint:{cid}:ka", "resolution:incident:8:kb",
                    f"resolution:complaint:{cid}:kb", "callback:periodic:2026-11:ka", "resolution:incident:9:kc"}
