"""One minor complaint from ingest to the call-back score: its queue (team, owner, SLA and statutory clock), the
progress message when the answer is late, the outcome with its remedy, the resolution with thanks (read from the
.eml), the user's reply read back through the IMAP source and the score recorded. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import func, select

from complaints.core.config import AppConfig, FileSourceSpec
from complaints.core.db import session_scope
from complaints.core.models import (
    CallbackResult,
    Complaint,
    ComplaintClock,
    ComplaintEvent,
    InboundMessage,
    Notification,
    Plan,
)
from complaints.core.settings import Settings
from complaints.ingest.store import ingest_source
from complaints.notify.outbox import send_pending, ticket_number
from complaints.notify.updates import queue_updates
from complaints.plans.create import create_plans
from complaints.regulatory.clocks import start_clocks
from complaints.regulatory.outcomes import record_outcome
from tests.ingest.test_sources_imap import Mailbox, dovecot, mailbox  # noqa: F401  (fixtures)
from tests.ingest.test_sources_imap import spec as imap_spec
from tests.stages import run_process

RECEIVED = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
USER = "wang.fang@example.com"


def _at_ten(day: datetime) -> datetime:
    """10:00 in Shanghai (02:00 UTC) of the day after `day`: outside quiet hours."""
    return datetime.combine(day.date() + timedelta(days=1), datetime.min.time(), UTC) + timedelta(hours=2)


def _eml(settings: Settings, message_id: str) -> EmailMessage:
    (path,) = [p for p in settings.outbox_path.glob("*.eml")
               if message_from_bytes(p.read_bytes(), policy=policy.default)["Message-ID"] == message_id]
    msg = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def _text(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def test_one_minor_complaint_from_ingest_to_callback_score(
    db_url: str, app_config: AppConfig, settings: Settings, mailbox: Mailbox, tmp_path: Path  # noqa: F811
) -> None:
    cfg = app_config
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "app.csv").write_text(
        "id,at,contact,body\n"
        f"A-1,{RECEIVED.isoformat()},{USER},我在钱包提现八百元，三天了还没到账，请尽快退款。\n", encoding="utf-8")
    source = FileSourceSpec(name="app", kind="file", channel="app", path=str(inbox / "*.csv"),
                            mapping={"external_id": "id", "received_at": "at", "contact": "contact", "body": "body"})
    pii_key = settings.pii_key.get_secret_value()

    # Ingest and process: the amount and the demand come from the text; 800 CNY is below the major threshold.
    with session_scope(db_url) as s:
        assert ingest_source(s, cfg, source, pii_key).inserted == 1
        run_process(s, cfg)
        start_clocks(s, cfg)
    with session_scope(db_url) as s:
        c = s.execute(select(Complaint)).scalar_one()
        cid, ticket = c.id, ticket_number(c.id)
        assert (c.amount, c.currency, c.demand, c.severity) == (Decimal("800.00"), "CNY", "refund", "minor")
        clock_due = s.execute(select(func.min(ComplaintClock.due_at))
                              .where(ComplaintClock.complaint_id == cid)).scalar_one()

    # The plan stage gives it its team's queue: owner from the roster, the answer deadline from the SLA and clocks.
    with session_scope(db_url) as s:
        summary = create_plans(s, cfg, RECEIVED + timedelta(hours=1))
        assert (summary.created, summary.queued) == ([], 1)
    with session_scope(db_url) as s:
        c = s.get(Complaint, cid)
        assert c is not None and s.execute(select(func.count()).select_from(Plan)).scalar_one() == 0
        assert c.team == "payments_ops" and c.owner in cfg.routing.teams["payments_ops"].members
        sla_due = RECEIVED + timedelta(days=cfg.sla.default.resolve_days)
        assert c.answer_due_at == (min(sla_due, clock_due) if clock_due else sla_due)
        answer_due = c.answer_due_at
        assert create_plans(s, cfg, RECEIVED + timedelta(hours=2)).queued == 0  # once

    # The deadline passes without an outcome: one progress message saying the answer is late.
    late = _at_ten(answer_due)
    with session_scope(db_url) as s:
        assert queue_updates(s, cfg, settings, late)["progress"] == 1
        assert queue_updates(s, cfg, settings, late)["progress"] == 0
    assert send_pending(db_url, settings, 5, policy=cfg.notifications.policy, now=late).sent == 1

    # The outcome, with its remedy: the resolution (decision, remedy, thanks), then the call-back, each once.
    decided = late + timedelta(days=1)
    with session_scope(db_url) as s:
        assert record_outcome(s, cid, decided_at=decided, decided_by="payops.wang", outcome="upheld",
                              relief="monetary", redress_amount=Decimal("800.00"), redress_currency="CNY",
                              remedy_at=decided, root_cause="system_fault", basis="提现通道故障，款项已退回。")
    with session_scope(db_url) as s:
        counts = queue_updates(s, cfg, settings, decided)
        assert (counts["resolution"], counts["callback"]) == (1, 1)
        assert queue_updates(s, cfg, settings, decided) == {"progress": 0, "resolution": 0, "callback": 0}
        kinds = dict(s.execute(select(Notification.kind, Notification.message_id)
                               .where(Notification.complaint_id == cid)).all())
    assert send_pending(db_url, settings, 5, policy=cfg.notifications.policy, now=decided).sent == 1
    resolution = _text(_eml(settings, kinds["resolution"]))
    assert ticket in resolution and "您的投诉成立" in resolution
    assert "800.00 CNY" in resolution and "感谢" in resolution and "提现通道故障" in resolution
    progress = _text(_eml(settings, kinds["progress"]))
    assert ticket in progress and "晚于" in progress

    callback_at = _at_ten(decided + timedelta(days=cfg.notifications.callbacks.default_days))
    assert send_pending(db_url, settings, 5, policy=cfg.notifications.policy, now=callback_at).sent == 1
    callback = _eml(settings, kinds["callback"])
    assert ticket in _text(callback)

    # The user answers the call-back by email: read back from the mailbox onto the complaint, not a new complaint.
    reply = EmailMessage()
    reply["From"] = USER
    reply["To"] = "complaints@wallet.example"
    reply["Subject"] = f"Re: {callback['Subject']}"
    reply["Message-ID"] = "<reply-1@example.com>"
    reply["In-Reply-To"] = kinds["callback"]
    reply["References"] = f"{kinds['resolution']} {kinds['callback']}"
    reply["Date"] = "Fri, 20 Nov 2026 10:30:00 +0800"
    reply.set_content("5分，退款已经收到了，谢谢！\n\n"
                      "在 2026年11月20日，数字钱包 写道：\n> 请直接回复本邮件，写下 1 到 5 分\n")
    mailbox.append(reply.as_bytes())
    with session_scope(db_url) as s:
        read = ingest_source(s, cfg, imap_spec(mailbox), pii_key)
        assert (read.replies, read.inserted, read.quarantined) == (1, 0, 0)
    with session_scope(db_url) as s:
        assert s.execute(select(func.count()).select_from(Complaint)).scalar_one() == 1
        (msg,) = s.execute(select(InboundMessage)).scalars()
        assert (msg.complaint_id, msg.channel, msg.score) == (cid, "email", 5)
        assert msg.body_masked.startswith("5分") and "写道" not in msg.body_masked
        result = s.execute(select(CallbackResult).where(CallbackResult.complaint_id == cid)).scalar_one()
        assert (result.reached, result.score) == (True, 5)
        assert "reply_received" in {e.kind for e in s.execute(select(ComplaintEvent)
                                                              .where(ComplaintEvent.complaint_id == cid)).scalars()}
