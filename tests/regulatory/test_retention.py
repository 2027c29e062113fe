"""Retention: complaints past the retention period are anonymised once, held ones are kept, figures stay."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from complaints.core.config import AppConfig, FileSourceSpec, TransactionSourceSpec
from complaints.core.db import session_scope
from complaints.core.models import (
    CallbackResult,
    Complaint,
    InboundMessage,
    Incident,
    Notification,
    QuarantinedRecord,
    RetentionPurge,
    Transaction,
)
from complaints.ingest.store import ingest_source, replay_quarantine
from complaints.notify.channels.email import eml_path
from complaints.regulatory.outcomes import record_outcome
from complaints.regulatory.retention import HoldError, place_hold, purge, release_hold
from complaints.regulatory.returns import build_return, totals
from tests.factories import complaint

NOW = datetime(2030, 1, 10, 3, 0, tzinfo=UTC)


def test_purge_anonymises_old_complaints_except_held(db_url: str, app_config: AppConfig, tmp_path: Path) -> None:
    old, recent = datetime(2026, 11, 16, 1, 0, tzinfo=UTC), datetime(2027, 6, 1, 1, 0, tzinfo=UTC)
    with session_scope(db_url) as s:
        inc = Incident(signature="category=fraud", opened_window=old, category="account_security", title="盗刷",
                       severity="P2", detected_at=old, first_complaint_at=old, last_complaint_at=old, reason={})
        s.add(inc)
        s.flush()
        a = complaint(s, "账户被盗刷，电话13812345678", at=old, contact="a@example.com", category="account_security")
        held = complaint(s, "律师函：被盗刷 5000 元", at=old, contact="b@example.com", category="account_security")
        member = complaint(s, "同样被盗刷", at=old, contact="c@example.com", incident_id=inc.id,
                           category="account_security")
        late = complaint(s, "closed late, kept", at=old, contact="d@example.com", category="other")
        young = complaint(s, "recent", at=recent, contact="e@example.com", category="other")
        record_outcome(s, a.id, decided_at=datetime(2026, 12, 1, tzinfo=UTC), decided_by="cs.lead", outcome="upheld",
                       relief="monetary", investigation="用户 13812345678 的交易记录")
        record_outcome(s, late.id, decided_at=datetime(2027, 2, 1, tzinfo=UTC), decided_by="cs.lead",
                       outcome="not_upheld", relief="explanation")
        s.add(Notification(idempotency_key="ack:a", kind="acknowledgement", recipient="a@example.com",
                           language="zh", subject="s", body_text="您好 a@example.com", complaint_id=a.id,
                           message_id="<m@x>"))
        s.add(Notification(idempotency_key="ack:held", kind="acknowledgement", recipient="b@example.com",
                           language="zh", subject="s", body_text="您好 b@example.com", complaint_id=held.id,
                           message_id="<h@x>"))
        for message_id, to in (("<m@x>", "a@example.com"), ("<h@x>", "b@example.com")):
            eml_path(tmp_path, message_id).write_text(f"To: {to}\n\nhello\n")
        s.add(CallbackResult(complaint_id=a.id, reached=True, score=2, comment="手机13812345678 不满意"))
        ids = {"a": a.id, "held": held.id, "member": member.id, "late": late.id, "young": young.id}
        place_hold(s, complaint_id=held.id, reason="court case 2029-17", by="legal", now=NOW)
        hold = place_hold(s, incident_id=inc.id, reason="police investigation", by="legal", now=NOW)
        incident_hold = hold.id
    with session_scope(db_url) as s:
        before = totals(build_return(s, app_config, "pboc", date(2026, 11, 1), date(2026, 11, 30), "Asia/Shanghai"))
        dry = purge(s, app_config, NOW, dry_run=True, outbox_dir=tmp_path)
        assert (dry.eligible, dry.held, dry.anonymised, dry.eml_files) == (3, 2, [], 1)  # `late`: closed < 3 years
        assert eml_path(tmp_path, "<m@x>").exists()  # a dry run deletes nothing
        assert s.execute(select(func.count()).select_from(RetentionPurge)).scalar_one() == 0
    with session_scope(db_url) as s:
        done = purge(s, app_config, NOW, outbox_dir=tmp_path)
        assert (done.anonymised, done.eml_files) == ([ids["a"]], 1)
        assert not eml_path(tmp_path, "<m@x>").exists() and eml_path(tmp_path, "<h@x>").exists()  # held: kept
    with session_scope(db_url) as s:
        assert purge(s, app_config, NOW, outbox_dir=tmp_path).anonymised == []  # re-run: nothing twice
        gone = s.get_one(Complaint, ids["a"])
        assert (gone.contact, gone.contact_key, gone.body, gone.raw) == (None, None, "[purged]", {})
        assert (gone.category, gone.received_at) == ("account_security", old)  # what figures need stays
        kept = s.get_one(Complaint, ids["held"])
        assert kept.contact == "b@example.com" and "律师函" in kept.body
        note = s.execute(select(Notification).where(Notification.complaint_id == ids["a"])).scalar_one()
        assert note.recipient == "[purged]" and "a@example.com" not in note.body_text
        assert s.execute(select(CallbackResult.comment)).scalar_one() is None
        after = totals(build_return(s, app_config, "pboc", date(2026, 11, 1), date(2026, 11, 30), "Asia/Shanghai"))
        assert after == before
        release_hold(s, incident_hold, now=NOW)
    with session_scope(db_url) as s:  # the incident hold released: its member goes on the next run
        assert purge(s, app_config, NOW, outbox_dir=tmp_path).anonymised == [ids["member"]]
        with pytest.raises(HoldError, match="already anonymised"):
            place_hold(s, complaint_id=ids["a"], reason="late request", by="legal", now=NOW)


def test_purge_removes_the_person_from_old_transactions_and_their_call_backs(db_url: str, app_config: AppConfig,
                                                                             tmp_path: Path) -> None:
    """A transaction feed keeps who made each transaction (for call-backs): keep_years after it occurred, contact,
    reference, the call-back's text (and its .eml) and the reply's text go; type, amount, status and the reply's
    score stay. Once. A person with a complaint under a legal hold keeps theirs."""
    old, recent = datetime(2026, 11, 16, 1, 0, tzinfo=UTC), datetime(2027, 6, 1, 1, 0, tzinfo=UTC)
    with session_scope(db_url) as s:
        held = complaint(s, "提现被冻结，已起诉", at=recent, contact="13312345678", category="transfer_delay")
        held.customer_ref = "U3"
        place_hold(s, complaint_id=held.id, reason="court case 2030-2", by="legal", now=NOW)
        for n, at in ((1, old), (2, recent), (3, old)):
            s.add(Transaction(id=n, transaction_id=f"T{n}", source="wallet_tx", occurred_at=at, type="withdrawal",
                              amount=Decimal("5000.00"), status="succeeded", customer_ref=f"U{n}",
                              contact=f"13{n}12345678", contact_masked="138****5678", contact_key=f"key{n}"))
            s.flush()
            s.add(Notification(idempotency_key=f"callback:transaction:{n}", kind="callback",
                               recipient=f"13{n}12345678", language="zh", subject="回访",
                               body_text=f"您好 U{n}，您的提现已到账", contact_key=f"key{n}", message_id=f"<cb{n}@x>",
                               transaction_id=n))
            s.flush()
            s.add(InboundMessage(transaction_id=n, channel="webhook", message_id=f"r{n}", received_at=at,
                                 contact_key=f"key{n}", body_masked="5分，客服小王很好，我住在***", score=5))
            eml_path(tmp_path, f"<cb{n}@x>").write_text(f"To: 13{n}12345678\n\n您好 U{n}\n")
    with session_scope(db_url) as s:
        assert purge(s, app_config, NOW, dry_run=True, outbox_dir=tmp_path).transactions == 1
        assert s.get_one(Transaction, 1).contact == "13112345678"  # a dry run changes nothing
    with session_scope(db_url) as s:
        done = purge(s, app_config, NOW, outbox_dir=tmp_path)
        assert (done.transactions, done.eml_files) == (1, 1)
        assert not eml_path(tmp_path, "<cb1@x>").exists() and eml_path(tmp_path, "<cb2@x>").exists()
    with session_scope(db_url) as s:
        assert purge(s, app_config, NOW, outbox_dir=tmp_path).transactions == 0  # once
        gone, kept = s.get_one(Transaction, 1), s.get_one(Transaction, 2)
        assert (gone.contact, gone.contact_masked, gone.contact_key, gone.customer_ref) == (None, None, None, None)
        assert (gone.type, gone.amount, gone.status, gone.occurred_at) == ("withdrawal", Decimal("5000.00"),
                                                                           "succeeded", old)
        assert (kept.contact, kept.customer_ref) == ("13212345678", "U2")
        by_tx = {n.transaction_id: n for n in s.scalars(select(Notification))}
        assert (by_tx[1].recipient, by_tx[1].subject, by_tx[1].body_text, by_tx[1].contact_key) == (
            "[purged]", "[purged]", "[purged]", None)
        assert by_tx[2].recipient == "13212345678" and by_tx[3].recipient == "13312345678"
        assert s.get_one(Transaction, 3).customer_ref == "U3"  # held: kept, and its .eml
        assert eml_path(tmp_path, "<cb3@x>").exists()
        replies = {m.transaction_id: m for m in s.scalars(select(InboundMessage))}
        assert (replies[1].body_masked, replies[1].contact_key, replies[1].score) == ("[purged]", None, 5)
        assert "客服小王" in replies[2].body_masked


def test_a_backfill_brings_back_nothing_retention_removed(db_url: str, app_config: AppConfig,
                                                          tmp_path: Path) -> None:
    """Sources keep their old records: re-reading them (a backfill) must not store again the text and contact of an
    anonymised complaint or who made an anonymised transaction (files: tests/ingest/test_attachments.py); the
    quarantine's old records go too."""
    app = FileSourceSpec(name="app", kind="file", channel="app", path=str(tmp_path / "app/*.jsonl"),
                         mapping={"external_id": "id", "received_at": "at", "body": "text", "contact": "email",
                                  "customer_ref": "uid"})
    feed = TransactionSourceSpec(name="wallet_tx", kind="transactions", path=str(tmp_path / "tx/*.csv"),
                                 mapping={"transaction_id": "id", "occurred_at": "at", "type": "type",
                                          "amount": "amount", "contact": "phone", "customer_ref": "uid"})
    (tmp_path / "app").mkdir()
    (tmp_path / "app/a.jsonl").write_text("\n".join([
        json.dumps({"id": "A1", "at": "2026-11-16T09:00:00+08:00", "text": "提现未到账，电话13812345678",
                    "email": "a@example.com", "uid": "U1"}, ensure_ascii=False),
        '{"id": "A2", "at": "13912345678", "text": "我的电话13912345678", "email": "b@example.com"}']) + "\n")
    (tmp_path / "tx").mkdir()
    (tmp_path / "tx/t.csv").write_text("id,at,type,amount,phone,uid\n"
                                       "T1,2026-11-16T08:00:00+08:00,withdrawal,5000,13812345678,U1\n")
    window = {"since": datetime(2026, 11, 1, tzinfo=UTC), "until": datetime(2026, 12, 1, tzinfo=UTC)}
    with session_scope(db_url) as s:
        assert ingest_source(s, app_config, app, "k").quarantined == 1
        assert ingest_source(s, app_config, feed, "k").inserted == 1
        assert "13912345678" in s.scalars(select(QuarantinedRecord.reason)).one()  # the reason quotes the value
    with session_scope(db_url) as s:
        assert purge(s, app_config, NOW, dry_run=True, outbox_dir=tmp_path).quarantined == 1
    with session_scope(db_url) as s:
        done = purge(s, app_config, NOW, outbox_dir=tmp_path)
        assert (len(done.anonymised), done.transactions, done.quarantined) == (1, 1, 1)
    with session_scope(db_url) as s:  # the backfill an engineer runs later
        again = ingest_source(s, app_config, app, "k", **window)
        assert (again.inserted, again.updated, again.anonymised, again.quarantined) == (0, 0, 1, 1)
        again = ingest_source(s, app_config, feed, "k", **window)
        assert (again.inserted, again.anonymised) == (0, 1)
    with session_scope(db_url) as s:
        c = s.scalars(select(Complaint)).one()
        assert (c.body, c.contact, c.customer_ref, c.raw, c.processed_at) == ("[purged]", None, None, {}, None)
        t = s.scalars(select(Transaction)).one()
        assert (t.contact, t.contact_key, t.customer_ref, t.amount) == (None, None, None, Decimal("5000.00"))
        q = s.scalars(select(QuarantinedRecord)).one()  # the bad row read again is known: still one row
        assert q.raw == "[purged]" and "received_at" in q.reason and "13912345678" not in q.reason
        assert purge(s, app_config, NOW, outbox_dir=tmp_path).quarantined == 0  # once
        assert replay_quarantine(s, app_config, "k").still_bad == 0  # a removed record is not mapped again
