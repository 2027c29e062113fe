"""Incident fan-out with per-user dedupe, resolutions and call-backs, quiet hours, the cap, opt-outs."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from complaints.core.config import AppConfig, FrequencyCap, QuietHours, UserPolicy
from complaints.core.db import session_scope
from complaints.core.models import Complaint, Incident, Notification, Plan
from complaints.core.settings import Settings
from complaints.notify.outbox import claim_batch, queue_message, route_user, send_pending
from complaints.notify.policy import opt_in, opt_out, quiet_until
from complaints.notify.updates import queue_updates
from complaints.regulatory.outcomes import record_outcome
from tests.factories import complaint

# 10:00 in Shanghai: outside quiet hours.
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
SHANGHAI = timedelta(hours=8)


def incident(session: Session, status: str, **kw: Any) -> Incident:
    values: dict[str, Any] = {
        "signature": f"transfer_delay|m{status}",
        "opened_window": NOW - timedelta(days=2),
        "category": "transfer_delay",
        "title": "Transfers delayed",
        "severity": "P2",
        "status": status,
        "detected_at": NOW - timedelta(days=2),
        "first_complaint_at": NOW - timedelta(days=2),
        "last_complaint_at": NOW - timedelta(days=1),
    }
    i = Incident(**(values | kw))
    session.add(i)
    session.flush()
    return i


def plan(session: Session, subject_type: str, subject_id: int, closed_at: datetime | None) -> Plan:
    p = Plan(
        subject_type=subject_type,
        subject_id=subject_id,
        category="account_security",
        template="default",
        team="risk",
        status="closed" if closed_at else "open",
        due_at=NOW + timedelta(days=3),
        closed_at=closed_at,
    )
    session.add(p)
    session.flush()
    return p


def outbox(url: str) -> list[Notification]:
    with session_scope(url) as s:
        return list(s.scalars(select(Notification).order_by(Notification.id)))


def updates(url: str, cfg: AppConfig, settings: Settings, now: datetime = NOW) -> dict[str, int]:
    with session_scope(url) as s:
        return queue_updates(s, cfg, settings, now)


def test_incident_updates_reach_each_user_once(db_url: str, settings: Settings, app_config: AppConfig) -> None:
    with session_scope(db_url) as s:
        inc = incident(s, "investigating")
        # User A complained three times: two incident members and one merged duplicate.
        a1 = complaint(s, "转账三天没到账", contact="a@example.com", incident_id=inc.id, at=NOW - timedelta(days=2))
        complaint(s, "转账还是没到账", contact="A@Example.com", duplicate_of_id=a1.id, at=NOW - timedelta(days=1))
        complaint(s, "transfer still missing", contact="a@example.com", incident_id=inc.id, at=NOW)
        b = complaint(s, "transfer delayed", contact="b@example.com", incident_id=inc.id)
        # A merged duplicate from someone else counts as an affected user too.
        complaint(s, "到账延迟", contact="c@example.com", duplicate_of_id=b.id)
        complaint(s, "转账延迟", contact="13812345678", incident_id=inc.id)  # no webhook configured
        complaint(s, "unrelated", contact="z@example.com")
        inc_id, a1_id = inc.id, a1.id

    assert updates(db_url, app_config, settings) == {"progress": 4, "resolution": 0, "callback": 0}
    assert updates(db_url, app_config, settings) == {"progress": 0, "resolution": 0, "callback": 0}
    rows = outbox(db_url)
    assert sorted(n.recipient for n in rows) == ["138****5678", "a@example.com", "b@example.com", "c@example.com"]
    assert all(n.idempotency_key == f"progress:incident:{inc_id}:investigating:{n.contact_key}" for n in rows)
    [phone] = [n for n in rows if n.recipient.startswith("138")]
    assert (phone.status, phone.last_error) == ("suppressed", "no channel")
    [a] = [n for n in rows if n.recipient == "a@example.com"]
    assert a.complaint_id == a1_id and f"C{a1_id:08d}" in a.subject  # the ticket A was acknowledged with
    assert "正在调查原因" in a.body_text

    with session_scope(db_url) as s:
        s.execute(update(Incident).values(status="remediating"))
    assert updates(db_url, app_config, settings)["progress"] == 4
    with session_scope(db_url) as s:
        s.execute(update(Incident).values(status="resolved", resolved_at=NOW - timedelta(hours=1)))
    assert updates(db_url, app_config, settings) == {"progress": 0, "resolution": 4, "callback": 4}
    assert updates(db_url, app_config, settings) == {"progress": 0, "resolution": 0, "callback": 0}

    summary = send_pending(db_url, settings, max_attempts=3, now=NOW)
    assert (summary.sent, summary.suppressed) == (9, 0)  # 3 users x (2 progress + 1 resolution); call-backs wait
    files = list(settings.outbox_path.glob("*.eml"))
    to = sorted(str(message_from_bytes(f.read_bytes(), policy=policy.default)["To"]) for f in files)
    assert to == sorted(["a@example.com", "b@example.com", "c@example.com"] * 3)
    callbacks = [n for n in outbox(db_url) if n.kind == "callback"]
    # transfer_delay: the default 3 days after resolution.
    assert {n.not_before for n in callbacks if n.status == "pending"} == {NOW - timedelta(hours=1) + timedelta(days=3)}


def test_closed_complaint_plan_gets_resolution_and_a_callback_outside_quiet_hours(
    db_url: str, settings: Settings, app_config: AppConfig
) -> None:
    # Closed at 22:30 Shanghai: the resolution waits for 08:00, and so does the call-back 7 days later
    # (account_security in config/notifications.yaml).
    closed = datetime(2026, 11, 19, 14, 30, tzinfo=UTC)
    morning = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
    with session_scope(db_url) as s:
        c = complaint(s, "账户被盗", contact="victim@example.com", category="account_security")
        complaint(s, "账户被盗了", contact="victim@example.com", duplicate_of_id=c.id)
        plan(s, "complaint", c.id, closed_at=closed)
        plan(s, "complaint", complaint(s, "still open", contact="x@example.com").id, closed_at=None)
        cid = c.id
    at_night = closed + timedelta(minutes=5)
    assert updates(db_url, app_config, settings, at_night) == {"progress": 0, "resolution": 1, "callback": 1}
    res, cb = outbox(db_url)
    assert res.idempotency_key.startswith(f"resolution:complaint:{cid}:") and res.not_before == morning
    assert cb.idempotency_key.startswith(f"callback:complaint:{cid}:")
    assert cb.not_before == morning + timedelta(days=7)
    assert "2026年11月19日" in cb.body_text and "1 到 5 分" in cb.body_text

    def claimable(at: datetime) -> list[str]:
        with session_scope(db_url) as s:
            taken = [n.kind for n in claim_batch(s, 10, at)]
            s.rollback()
        return taken

    assert claimable(at_night) == []
    assert claimable(morning - timedelta(minutes=1)) == []
    assert claimable(morning) == ["resolution"]
    assert claimable(morning + timedelta(days=7)) == ["resolution", "callback"]


def test_quiet_until() -> None:
    quiet = QuietHours()
    tz = "Asia/Shanghai"
    day = datetime(2026, 11, 20, tzinfo=UTC) - SHANGHAI  # midnight in Shanghai
    assert quiet_until(day + timedelta(hours=20, minutes=59), tz, quiet) is None
    assert quiet_until(day + timedelta(hours=21), tz, quiet) == day + timedelta(days=1, hours=8)
    assert quiet_until(day + timedelta(hours=3), tz, quiet) == day + timedelta(hours=8)
    assert quiet_until(day + timedelta(hours=8), tz, quiet) is None
    lunch = QuietHours(start=time(12), end=time(14))
    assert quiet_until(day + timedelta(hours=13), tz, lunch) == day + timedelta(hours=14)
    assert quiet_until(day + timedelta(hours=1), "Europe/London", quiet) is None  # 17:00 in London


def _queue(session: Session, settings: Settings, pol: UserPolicy, key: str, kind: str, contact: str) -> None:
    user = route_user(contact, f"key-{contact}", None, settings, pol, kind=kind, now=NOW)
    queue_message(
        session,
        key=key,
        kind=kind,
        recipient=contact,
        language="en",
        template="progress",
        context={"ticket": "C00000001", "progress_note": key},
        settings=settings,
        user=user,
    )


def test_send_in_quiet_hours_is_deferred_not_counted(db_url: str, settings: Settings) -> None:
    pol = UserPolicy()
    with session_scope(db_url) as s:
        _queue(s, settings, pol, "p1", "progress", "a@example.com")
    late = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    summary = send_pending(db_url, settings, max_attempts=3, policy=pol, now=late)
    assert (summary.sent, summary.deferred) == (0, 1)
    [n] = outbox(db_url)
    assert (n.status, n.attempts, n.not_before) == ("pending", 0, datetime(2026, 11, 21, 0, 0, tzinfo=UTC))
    assert send_pending(db_url, settings, max_attempts=3, policy=pol, now=late + timedelta(hours=8)).sent == 0
    assert send_pending(db_url, settings, max_attempts=3, policy=pol, now=late + timedelta(hours=9)).sent == 1
    [n] = outbox(db_url)
    assert (n.status, n.attempts) == ("sent", 1)


def test_frequency_cap_suppresses_beyond_the_limit(db_url: str, settings: Settings) -> None:
    pol = UserPolicy(cap=FrequencyCap(max_messages=2, days=7, exempt_kinds=["acknowledgement"]))
    with session_scope(db_url) as s:
        for i in range(4):
            _queue(s, settings, pol, f"a-{i}", "progress", "a@example.com")
        _queue(s, settings, pol, "a-ack", "acknowledgement", "a@example.com")
        _queue(s, settings, pol, "b-0", "progress", "b@example.com")
    summary = send_pending(db_url, settings, max_attempts=3, policy=pol, now=NOW)
    assert (summary.sent, summary.suppressed) == (4, 2)
    assert all("a***@example.com" in line and "a@example.com" not in line for line in summary.suppressions)
    status = {n.idempotency_key: (n.status, n.last_error) for n in outbox(db_url)}
    assert status["a-0"] == status["a-1"] == status["a-ack"] == status["b-0"] == ("sent", None)
    assert status["a-2"] == status["a-3"] == ("suppressed", "frequency cap: 2 messages in 7 days")

    with session_scope(db_url) as s:
        _queue(s, settings, pol, "a-4", "progress", "a@example.com")
        _queue(s, settings, pol, "a-5", "progress", "a@example.com")
    # The two sent at NOW still count six days later, no longer after seven.
    assert send_pending(db_url, settings, max_attempts=3, policy=pol, now=NOW + timedelta(days=6)).suppressed == 2
    with session_scope(db_url) as s:
        _queue(s, settings, pol, "a-6", "progress", "a@example.com")
    assert send_pending(db_url, settings, max_attempts=3, policy=pol, now=NOW + timedelta(days=8)).sent == 1


def test_opt_out_and_back_in(db_url: str, settings: Settings, app_config: AppConfig) -> None:
    with session_scope(db_url) as s:
        inc = incident(s, "investigating")
        complaint(s, "transfer delayed", contact="A@example.com", incident_id=inc.id)
        complaint(s, "transfer delayed too", contact="b@example.com", incident_id=inc.id)
        assert opt_out(s, "a@example.com ", "test-key")  # same person: the contact is normalised
        assert not opt_out(s, "a@example.com", "test-key")
        for typed, says in (("13800138000", "placeholder"), ("wechat:zhang", "not an email address")):
            with pytest.raises(ValueError, match=says):  # what the opt-out is refused for
                opt_out(s, typed, "test-key")
    updates(db_url, app_config, settings)
    summary = send_pending(db_url, settings, max_attempts=3, policy=app_config.notifications.policy, now=NOW)
    assert (summary.sent, summary.suppressed) == (1, 1)
    assert {n.recipient: (n.status, n.last_error) for n in outbox(db_url)} == {
        "A@example.com": ("suppressed", "opted out"),
        "b@example.com": ("sent", None),
    }
    with session_scope(db_url) as s:
        assert opt_in(s, "a@example.com", "test-key")
        assert not opt_in(s, "a@example.com", "test-key")
        s.execute(update(Incident).values(status="remediating"))
    updates(db_url, app_config, settings)
    assert send_pending(db_url, settings, max_attempts=3, policy=app_config.notifications.policy, now=NOW).sent == 2


def test_old_resolutions_are_not_announced(sqlite_url: str, tmp_path: Path, app_config: AppConfig) -> None:
    settings = Settings(var_dir=tmp_path / "var", database_url=sqlite_url)
    with session_scope(sqlite_url) as s:
        c = complaint(s, "old", contact="a@example.com")
        plan(s, "complaint", c.id, closed_at=NOW - timedelta(days=45))
        s.execute(update(Complaint).values(category="fees_pricing"))
    assert updates(sqlite_url, app_config, settings) == {"progress": 0, "resolution": 0, "callback": 0}


def test_incident_member_with_its_own_outcome_gets_one_resolution(
    db_url: str, settings: Settings, app_config: AppConfig
) -> None:
    """A's complaint is decided before its incident is resolved, C's incident is resolved before C's complaint is
    decided: each of them hears of the resolution once (and is called back once), B (no outcome) from the incident."""
    with session_scope(db_url) as s:
        first, second = incident(s, "investigating"), incident(s, "investigating", signature="fees_pricing|x")
        a = complaint(s, "转账没到账", contact="a@example.com", incident_id=first.id)
        complaint(s, "转账延迟", contact="b@example.com", incident_id=first.id)
        c = complaint(s, "收费不透明", contact="c@example.com", incident_id=second.id)
        record_outcome(s, a.id, decided_at=NOW - timedelta(hours=3), decided_by="cs.sun", outcome="upheld",
                       relief="explanation", basis="通道故障")
        s.execute(update(Incident).where(Incident.id == second.id)
                  .values(status="resolved", resolved_at=NOW - timedelta(hours=3)))
        ids = {"first": first.id, "a": a.id, "c": c.id}
    assert updates(db_url, app_config, settings)["resolution"] == 2  # A's outcome, C's incident
    with session_scope(db_url) as s:
        s.execute(update(Incident).where(Incident.id == ids["first"])
                  .values(status="resolved", resolved_at=NOW - timedelta(hours=1)))
        record_outcome(s, ids["c"], decided_at=NOW - timedelta(hours=1), decided_by="cs.sun", outcome="not_upheld",
                       relief="explanation")
    assert updates(db_url, app_config, settings)["resolution"] == 1  # B, from the incident
    assert updates(db_url, app_config, settings) == {"progress": 0, "resolution": 0, "callback": 0}
    closing = [n for n in outbox(db_url) if n.kind in ("resolution", "callback")]
    assert sorted((n.recipient, n.kind) for n in closing) == [
        (f"{who}@example.com", kind) for who in "abc" for kind in ("callback", "resolution")]
    [a_resolution] = [n for n in closing if n.recipient == "a@example.com" and n.kind == "resolution"]
    assert a_resolution.idempotency_key == f"resolution:complaint:{ids['a']}:{a_resolution.contact_key}"
    assert "通道故障" in a_resolution.body_text  # the message of the first closing: A's decision
