"""The Alembic migrations build exactly the schema of complaints/core/models.py, and 0002 keeps old rows detected."""

from __future__ import annotations

from datetime import timedelta

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from complaints.core.db import downgrade, get_engine, migrate, session_scope
from complaints.core.models import Base
from tests.factories import T0


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
