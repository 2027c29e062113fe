"""The Alembic migrations build exactly the schema of complaints/core/models.py, 0002 keeps old rows detected,
0009 re-keys closing messages already queued, 0011 keeps the rows that reference the table it rebuilds, 0014
puts customer references in one form and 0016 makes stored placeholders key no one."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import timedelta
from types import SimpleNamespace

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text

from complaints.core.db import downgrade, get_engine, migrate, session_scope
from complaints.core.models import Base, InboundMessage, Notification, Transaction
from complaints.core.settings import PROJECT_ROOT
from tests.factories import T0, complaint


def test_migrations_match_the_models(db_url: str) -> None:
    with get_engine(db_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    assert diff == []


def test_two_threads_migrating_at_once_both_succeed(db_url: str) -> None:
    """Two flow runs started together in one process each migrate on first use; Alembic's proxies are process
    globals, so unserialised the second tore down the first's (KeyError 'script', or a table created twice)."""
    errors: list[BaseException] = []

    def upgrade() -> None:
        try:
            migrate(db_url)
        except BaseException as exc:  # collected, asserted below
            errors.append(exc)

    for _ in range(3):
        downgrade(db_url, "base")
        runs = [threading.Thread(target=upgrade) for _ in range(2)]
        for t in runs:
            t.start()
        for t in runs:
            t.join()
    assert errors == []
    test_migrations_match_the_models(db_url)


def test_two_processes_migrating_one_database_at_once_both_succeed(db_url: str) -> None:
    """Two workers starting on a fresh database: the second waits for the first's migration (on PostgreSQL an
    advisory lock; SQLite locks the file), then finds it at head."""
    code = f"from complaints.core.db import migrate; migrate({db_url!r})"
    for _ in range(2):
        downgrade(db_url, "base")
        runs = [subprocess.Popen([sys.executable, "-c", code], cwd=PROJECT_ROOT, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
        finished = [(p.communicate(timeout=120)[1], p.returncode) for p in runs]
        assert [code for _, code in finished] == [0, 0], [err[-500:] for err, _ in finished]
    test_migrations_match_the_models(db_url)


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


def test_0011_keeps_transactions_their_callbacks_and_replies(db_url: str) -> None:
    """0011 rebuilds `transactions` on SQLite: the call-backs and replies that reference its rows survive (with
    foreign keys on, the rebuild's drop had cascaded to the replies); a downgrade refuses when two feeds share an
    id instead of deleting one (and its replies)."""
    downgrade(db_url, "0010")
    with session_scope(db_url) as s:
        s.execute(text("INSERT INTO transactions (id, transaction_id, source, occurred_at, type, amount, status, "
                       "created_at, updated_at) VALUES (1, 'T1', 'wallet_tx', :t, 'transfer', 60000, 'succeeded', "
                       ":t, :t)"), {"t": T0})
        s.add(Notification(idempotency_key="callback:transaction:1", kind="callback", recipient="a@example.com",
                           language="zh", subject="s", body_text="b", message_id="<cb@x>", transaction_id=1))
        s.flush()
        s.add(InboundMessage(transaction_id=1, channel="email", message_id="<r@x>", received_at=T0,
                             body_masked="5分", score=5))
    migrate(db_url)
    with session_scope(db_url) as s:
        assert s.scalars(select(InboundMessage.score)).all() == [5]
        assert s.scalars(select(Notification.transaction_id)).all() == [1]
        s.add(Transaction(id=2, transaction_id="T1", source="bank_tx", occurred_at=T0, type="payment", amount=5,
                          status="succeeded"))  # another feed's T1: allowed from 0011 on
    with pytest.raises(RuntimeError, match="several feeds have a transaction with the same id"):
        downgrade(db_url, "0010")
    with session_scope(db_url) as s:
        assert len(s.scalars(select(Transaction)).all()) == 2 and s.scalars(select(InboundMessage.score)).all() == [5]


def test_0014_stores_every_customer_reference_in_one_form(db_url: str) -> None:
    """A database from before 0014 holds references as typed, in complaints and transactions: they become exactly
    the form ingest now stores (full width and beyond ASCII too)."""
    typed = [" w607075546 ", "W607075546", "ｗ６０７ 1", "wäß", None]
    with session_scope(db_url) as s:
        for i, ref in enumerate(typed):
            complaint(s, "b", customer_ref=ref)
            s.add(Transaction(source="core", transaction_id=f"t{i}", occurred_at=T0, type="payment", amount=1,
                              status="success", customer_ref=ref))
    downgrade(db_url, "0013")
    migrate(db_url)
    with session_scope(db_url) as s:
        for table in ("complaints", "transactions"):
            rows = s.execute(text(f"SELECT customer_ref FROM {table} ORDER BY id"))
            assert [r[0] for r in rows] == ["W607075546", "W607075546", "W607 1", "WÄSS", None]


def test_0016_makes_stored_placeholders_key_no_one(db_url: str) -> None:
    """Before 0016 ingest keyed what people typed for none: those identifiers go (a contact with its mask and key),
    in complaints and transactions, exactly as pii.no_one and normalize.placeholder decide today; real ones stay."""
    from complaints.core.normalize import placeholder
    from complaints.core.pii import no_one

    typed = [("13800138000", "N/A"), ("none@qq.com", "#N/A"), ("138****1234", "暂无"), ("0755-0000 0000", "W0"),
             ("13912345678", "W607075546"), ("na@163.com", "1111111"), ("wechat:zhang", None)]
    with session_scope(db_url) as s:
        for i, (contact, ref) in enumerate(typed):
            c = complaint(s, "b", contact=contact, customer_ref=ref)
            c.contact_key = f"old-{i}"  # as ingest keyed it then
            s.add(Transaction(source="core", transaction_id=f"t{i}", occurred_at=T0, type="payment", amount=1,
                              status="success", customer_ref=ref, contact=contact, contact_masked="m",
                              contact_key=f"old-{i}"))
    downgrade(db_url, "0015")
    migrate(db_url)
    with session_scope(db_url) as s:
        for table in ("complaints", "transactions"):
            rows = s.execute(text(f"SELECT contact, contact_masked, contact_key, customer_ref FROM {table} "
                                  "ORDER BY id")).all()
            kept = [(contact, True, f"old-{i}") for i, (contact, _) in enumerate(typed)][4:]
            assert [(r.contact, r.contact_masked is not None, r.contact_key) for r in rows] == [
                (None, False, None)] * 4 + kept
            assert [r.customer_ref for r in rows] == [None, None, None, "W0", "W607075546", "1111111", None]
    # The revision's copy of the rules agrees with today's.
    assert [no_one(contact) for contact, _ in typed] == [True] * 4 + [False] * 3
    assert [ref is not None and placeholder(ref) for _, ref in typed] == [True] * 3 + [False] * 4
