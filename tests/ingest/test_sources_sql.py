"""SQL source: a table or query in another database (a second SQLite file, or PostgreSQL), by watermark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from complaints.core.config import AppConfig, SqlSourceSpec
from complaints.core.db import normalise_url, session_scope
from complaints.core.models import Complaint, Source
from complaints.ingest.store import ingest_source

T0 = datetime(2026, 11, 16, 1, 0, tzinfo=UTC)
MAPPING = {"external_id": "ticket_no", "received_at": "opened_at", "body": "description", "contact": "phone",
           "amount": "amount"}


@pytest.fixture
def other_db(db_url: str, tmp_path: Path) -> str:
    """The partner database: a second SQLite file, or a table in the PostgreSQL test database."""
    url = f"sqlite:///{tmp_path / 'partner.db'}" if db_url.startswith("sqlite") else db_url
    engine = create_engine(normalise_url(url))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE partner_tickets (ticket_no VARCHAR(20) PRIMARY KEY, opened_at VARCHAR(40), "
                          "description TEXT, phone VARCHAR(20), amount NUMERIC(12, 2), changed_seq INTEGER)"))
    engine.dispose()
    return url


def add(url: str, start: int, n: int, seq: int) -> None:
    engine = create_engine(normalise_url(url))
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO partner_tickets VALUES (:t, :o, :d, :p, :a, :s)"),
            [{"t": f"T{i}", "o": (T0 + timedelta(minutes=i)).isoformat(), "d": f"扣款未退回 {i}", "p": "13812345678",
              "a": 12.5 if i % 2 else None, "s": seq + i} for i in range(start, start + n)],
        )
    engine.dispose()


def run(db_url: str, app_config: AppConfig, spec: SqlSourceSpec, **kw: object):
    with session_scope(db_url) as s:
        return ingest_source(s, app_config, spec, "k", **kw)  # type: ignore[arg-type]


def test_table_by_watermark_batches_and_rerun(db_url: str, other_db: str, app_config: AppConfig,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARTNER_DB_URL", other_db)
    spec = SqlSourceSpec(name="partner_db", kind="sql", channel="partner", url_env="PARTNER_DB_URL",
                         table="partner_tickets", watermark_column="changed_seq", batch_size=4, mapping=MAPPING)
    add(other_db, 0, 10, 100)
    first = run(db_url, app_config, spec)
    assert (first.batches, first.inserted) == (3, 10)
    with session_scope(db_url) as s:
        assert s.execute(select(Source.state)).scalar_one() == {"since": 109}
        c = s.execute(select(Complaint).where(Complaint.external_id == "T1")).scalar_one()
        assert (str(c.amount), c.contact_masked, c.received_at) == ("12.50", "138****5678", T0 + timedelta(minutes=1))
    add(other_db, 10, 3, 200)
    again = run(db_url, app_config, spec)
    assert (again.records, again.inserted, again.unchanged) == (4, 3, 1)  # T9 at the boundary, absorbed
    with session_scope(db_url) as s:
        assert s.execute(select(func.count()).select_from(Complaint)).scalar_one() == 13


def test_query_source_and_config_validation(db_url: str, other_db: str, app_config: AppConfig) -> None:
    add(other_db, 0, 6, 0)
    spec = SqlSourceSpec(name="partner_q", kind="sql", channel="partner", url=other_db, watermark_column="opened_at",
                         query="SELECT * FROM partner_tickets WHERE amount IS NOT NULL", mapping=MAPPING)
    assert run(db_url, app_config, spec).inserted == 3
    with pytest.raises(ValueError, match="exactly one of table or query"):
        SqlSourceSpec(name="x", kind="sql", channel="c", url=other_db, watermark_column="w", mapping=MAPPING)
