"""Call-backs after important transactions: a transaction feed read by the file connector and stored once per
transaction id, the rules of notifications.yaml (large transfer, first withdrawal, failed payment), one call-back per
transaction through the outbox under the cap, quiet hours and opt-outs every call-back has, the reply (score, time
window) read back onto the transaction instead of becoming a complaint (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from complaints.core.config import AppConfig, TransactionSourceSpec
from complaints.core.db import session_scope
from complaints.core.models import Complaint, InboundMessage, Notification, QuarantinedRecord, Transaction
from complaints.core.records import RawRecord
from complaints.core.settings import Settings
from complaints.ingest.store import ingest_source
from complaints.notify.outbox import send_pending
from complaints.notify.policy import opt_out
from complaints.notify.replies import divert_replies
from complaints.notify.transactions import queue_transaction_callbacks
from complaints.notify.updates import queue_updates
from complaints.regulatory.forget import forget
from tests.factories import complaint

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # Friday 10:00 in Shanghai
HEADER = "txn_id,created_at,user_id,mobile_or_email,txn_type,amount,currency,state\n"
KEY = "k"


def _row(txn: str, at: datetime, user: str, contact: str, kind: str, amount: str, currency: str, state: str) -> str:
    return f"{txn},{at.isoformat()},{user},{contact},{kind},{amount},{currency},{state}\n"


def test_important_transactions_get_one_callback_each(db_url: str, app_config: AppConfig, settings: Settings,
                                                      tmp_path: Path) -> None:
    feed = tmp_path / "feed"
    feed.mkdir()
    day = NOW - timedelta(hours=12)  # 22:00 in Shanghai the night before
    (feed / "tx.csv").write_text(HEADER + "".join([
        _row("T1", day, "U1", "a@example.com", "transfer", "60000", "CNY", "success"),  # large
        _row("T2", day, "U1", "a@example.com", "transfer", "49999.99", "CNY", "success"),  # just under
        _row("T3", day - timedelta(days=30), "U2", "b@example.com", "提现", "100", "CNY", "成功"),  # first: too old
        _row("T4", day, "U2", "b@example.com", "提现", "500", "CNY", "成功"),  # not U2's first withdrawal
        _row("T5", day, "U3", "c@example.com", "CASHOUT", "800", "CNY", "00"),  # U3's first (feed's own code)
        _row("T6", day, "U4", "d@example.com", "payment", "88", "CNY", "99"),  # failed (feed's own code)
        _row("T7", day, "U4", "d@example.com", "payment", "88", "CNY", "00"),  # succeeded
        _row("T8", day, "U5", "e@example.com", "C2C", "20000", "USD", "00"),  # large, USD
        _row("T9", day, "U6", "f@example.com", "payment", "12", "CNY", "pending"),  # fails later (below)
        "T10,not a time,U7,g@example.com,transfer,1,CNY,00\n",
        _row("T11", day, "U1", "a@example.com", "transfer", "70000", "CNY", "pending"),  # large, not done yet
        _row("T12", day - timedelta(hours=2), "U8", "h@example.com", "提现", "300", "CNY", "失败"),  # failed: none
        _row("T13", day, "U8", "h@example.com", "提现", "300", "CNY", "成功"),  # U8's first withdrawal
        _row("T\x0014", day, "U9", "i@example.com", "transfer", "1", "CNY", "00"),  # NUL in the id (PostgreSQL)
    ]), encoding="utf-8")
    spec = TransactionSourceSpec(
        name="wallet_tx", kind="transactions", path=str(feed / "*.csv"),
        mapping={"transaction_id": "txn_id", "occurred_at": "created_at", "customer_ref": "user_id",
                 "contact": "mobile_or_email", "type": "txn_type", "amount": "amount", "currency": "currency",
                 "status": "state"},
        type_values={"CASHOUT": "withdrawal", "C2C": "transfer"}, status_values={"00": "succeeded", "99": "failed"})
    with session_scope(db_url) as s:
        read = ingest_source(s, app_config, spec, KEY)
    assert (read.records, read.inserted, read.quarantined) == (14, 12, 2)
    with session_scope(db_url) as s:
        reasons = sorted(s.scalars(select(QuarantinedRecord.reason)))
        assert reasons[0].startswith("transaction_id contains a control character ('\\x00' at position 1)")
        assert reasons[1].startswith("unparseable occurred_at")
        t5 = s.execute(select(Transaction).where(Transaction.transaction_id == "T5")).scalar_one()
        assert (t5.type, t5.status, t5.contact_masked) == ("withdrawal", "succeeded", "c***@example.com")
        assert s.execute(select(func.count()).select_from(Complaint)).scalar_one() == 0  # a feed is no complaint
    # The feed sends T9 again, failed now, and T4 again unchanged: one update, no new rows.
    with (feed / "tx.csv").open("a", encoding="utf-8") as fh:
        fh.write(_row("T9", day, "U6", "f@example.com", "payment", "12", "CNY", "99"))
        fh.write(_row("T4", day, "U2", "b@example.com", "提现", "500", "CNY", "成功"))
    with session_scope(db_url) as s:
        again = ingest_source(s, app_config, spec, KEY)
    assert (again.records, again.inserted, again.updated, again.unchanged) == (2, 0, 1, 1)
    # Another feed numbers its transactions alike: its T1 is its own, and ours stays as it was.
    (tmp_path / "bank").mkdir()
    (tmp_path / "bank" / "tx.csv").write_text(HEADER + _row("T1", day, "B1", "z@example.com", "payment", "5", "CNY",
                                                            "00"), encoding="utf-8")
    bank = spec.model_copy(update={"name": "bank_tx", "path": str(tmp_path / "bank" / "*.csv")})
    with session_scope(db_url) as s:
        assert ingest_source(s, app_config, bank, KEY).inserted == 1
        both = s.execute(select(Transaction.source, Transaction.amount).where(Transaction.transaction_id == "T1"))
        assert sorted(both.all()) == [("bank_tx", 5), ("wallet_tx", 60000)]

    # d@ asked for no messages; a@ had two messages this week already (the cap of every call-back: 2 in 7 days).
    with session_scope(db_url) as s:
        opt_out(s, "d@example.com", KEY)
        c = complaint(s, "转账慢", contact="a@example.com", at=NOW - timedelta(days=5))
        c.contact_key = s.execute(select(Transaction.contact_key).where(Transaction.transaction_id == "T1")).scalar()
        for i, kind in enumerate(("progress", "callback")):
            s.add(Notification(idempotency_key=f"earlier:{i}", kind=kind, recipient="a@example.com", language="zh",
                               subject="s", body_text="b", message_id=f"<e{i}@x>", complaint_id=c.id, status="sent",
                               sent_at=NOW - timedelta(days=3), contact_key=c.contact_key))
    with session_scope(db_url) as s:
        assert queue_transaction_callbacks(s, app_config, settings, NOW) == 6
        assert queue_transaction_callbacks(s, app_config, settings, NOW + timedelta(hours=1)) == 0
        # Other call-backs do not pick these up, and these are not complaints' call-backs.
        assert queue_updates(s, app_config, settings, NOW)["callback"] == 0
        queued = {t: n for n, t in s.execute(
            select(Notification, Transaction.transaction_id).join(Transaction, Notification.transaction_id
                                                                  == Transaction.id)).all()}
    # Not T11 (pending) nor T12 (failed); T13 is U8's first withdrawal, T12 having failed.
    assert sorted(queued) == ["T1", "T13", "T5", "T6", "T8", "T9"]
    assert all(n.kind == "callback" and n.complaint_id is None and n.idempotency_key == f"callback:transaction:"
               f"{n.transaction_id}" for n in queued.values())
    # 24 h after the transaction is 22:00 in Shanghai: held until the quiet hours end at 08:00.
    morning = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)
    assert {n.not_before for n in queued.values()} == {morning}
    t1 = queued["T1"].body_text
    assert "60,000.00 CNY" in t1 and "转账" in t1 and "1 到 5 分" in t1 and "上午、下午或晚上" in t1
    assert "首次提现" in queued["T5"].body_text and "未能成功" in queued["T6"].body_text

    policy = app_config.notifications.policy
    assert send_pending(db_url, settings, 10, policy=policy, now=morning - timedelta(minutes=1)).sent == 0
    sent = send_pending(db_url, settings, 10, policy=policy, now=morning)
    assert (sent.sent, sent.suppressed) == (4, 2)
    with session_scope(db_url) as s:
        status = {t: (n.status, n.last_error) for n, t in s.execute(
            select(Notification, Transaction.transaction_id).join(Transaction, Notification.transaction_id
                                                                  == Transaction.id)).all()}
    assert status["T1"] == ("suppressed", "frequency cap: 2 messages in 7 days")
    assert status["T6"] == ("suppressed", "opted out")
    assert status["T5"] == status["T8"] == status["T9"] == ("sent", None)

    # c@ answers the call-back: recorded on T5 with the score and the time window, not ingested as a complaint.
    record = RawRecord("imap:INBOX uid 1", {
        "message_id": "<r1@example.com>", "date": (NOW + timedelta(hours=2)).isoformat(), "from": "c@example.com",
        "subject": "Re: 关于您的首次提现", "body": "4分，挺顺利的。下午可以打电话。\n\n> 请直接回复本邮件",
        "in_reply_to": queued["T5"].message_id, "references": None})
    with session_scope(db_url) as s:
        rest, replies = divert_replies(s, [record], KEY)
        assert (rest, replies) == ([], 1)
        reply = s.execute(select(InboundMessage)).scalar_one()
        assert (reply.transaction_id, reply.complaint_id) == (queued["T5"].transaction_id, None)
        assert (reply.score, reply.callback_window) == (4, "afternoon")

    # Forgetting the person clears the transactions' contact too.
    with session_scope(db_url) as s:
        gone = forget(s, "c@example.com", pii_key=KEY, outbox_dir=settings.outbox_path, marker="[purged]")
        assert (gone.transactions, gone.notifications) == (1, 1)
        t5 = s.execute(select(Transaction).where(Transaction.transaction_id == "T5")).scalar_one()
        assert (t5.contact, t5.contact_masked, t5.contact_key, t5.customer_ref) == (None, None, None, None)
