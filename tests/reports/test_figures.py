"""Report figures pinned on a backfilled week: data quality by received week, SLA on the run's clock, one overdue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from complaints.core.config import AppConfig
from complaints.core.db import session_scope
from complaints.core.models import Complaint, DuplicateLink, Notification, Plan, PlanStep, QuarantinedRecord
from complaints.reports import weekly_report_data
from tests.reports.test_reports import TZ, WEEK, _complaint

SH = ZoneInfo(TZ)
MONDAY = datetime(2026, 11, 16, tzinfo=SH)
INGESTED = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)  # the backfill ran two weeks after the week
AS_OF = datetime(2026, 11, 23, 9, 0, tzinfo=SH)  # the replay's clock


def _add(session: Session, n: int, at: datetime, channel: str, contact: str | None, **kw: object) -> Complaint:
    c = _complaint(n, at, "transfer_delay", channel=channel, source=kw.pop("source", channel), contact=contact,
                   created_at=INGESTED, **kw)
    session.add(c)
    session.flush()
    return c


def _ack(session: Session, c: Complaint, queued: datetime) -> None:
    # Queued on the run's clock; delivered (sent_at) on the wall clock, long after: the report must not use it.
    session.add(Notification(idempotency_key=f"ack:{c.id}", kind="acknowledgement", recipient="u@example.com",
                             language="zh", subject="s", body_text="b", complaint_id=c.id, status="sent",
                             message_id=f"<{c.id}@x>", created_at=queued, sent_at=INGESTED))


def _plan(session: Session, n: int, team: str, created: datetime, due: datetime,
          steps: list[tuple[str, datetime, datetime | None]]) -> None:
    plan = Plan(subject_type="complaint", subject_id=n, category="transfer_delay", template="transfer_delay",
                team=team, status="open", created_at=created, due_at=due)
    plan.steps = [PlanStep(seq=i + 1, title="Credit delayed funds", owner=owner, due_at=step_due,
                           status="done" if done else "pending", done_at=done)
                  for i, (owner, step_due, done) in enumerate(steps)]
    session.add(plan)


def seed_backfill(session: Session) -> None:
    app = [_add(session, i, MONDAY + timedelta(days=i % 5, hours=10), "app", f"u{i}@example.com")
           for i in range(6)]
    hotline = [_add(session, 10 + i, MONDAY + timedelta(days=2, hours=9 + i), "hotline", f"h{i}@example.com")
               for i in range(2)]
    for i in range(2):  # CFPB-style referrals: nobody to acknowledge
        _add(session, 20 + i, MONDAY + timedelta(days=3, hours=12), "regulator", None)
    for k, c in enumerate(app[:4]):
        _ack(session, c, c.received_at + timedelta(hours=2 + k))  # within a day
    _ack(session, app[4], app[4].received_at + timedelta(hours=30))  # late
    _ack(session, hotline[0], hotline[0].received_at + timedelta(hours=3))
    _ack(session, hotline[1], AS_OF + timedelta(days=2))  # queued after the report's clock: not yet

    # Duplicates received in the week (merged during the backfill), and one received the week before.
    for k, at in enumerate([*(MONDAY + timedelta(days=1, hours=h) for h in (11, 12, 13)), MONDAY - timedelta(days=2)]):
        dup = _add(session, 30 + k, at, "app", "u0@example.com", duplicate_of_id=app[0].id,
                   customer_ref=app[0].customer_ref)
        session.add(DuplicateLink(complaint_id=dup.id, canonical_id=app[0].id, method="fuzzy", score=0.97,
                                  created_at=INGESTED))
    # Quarantined during the backfill: dated in the week (two formats), undated in the week's batch of its
    # source, dated in another week, undated from a source with nothing received this week.
    for k, (source, raw) in enumerate([
        ("hotline", '{"来电时间": "2026/11/18 09:00", "金额": "很多钱"}'),
        ("regulator", '{"Date received": "11/20/2026", "Complaint ID": ""}'),
        ("app", '{"submitted_at": "昨天下午"}'),
        ("app", '{"submitted_at": "2026-11-05T10:00:00+08:00"'),
        ("email", '{"sent": "yesterday"}'),
    ]):
        session.add(QuarantinedRecord(source=source, location=f"x:{k}", reason="bad", raw=raw, fingerprint=f"q{k}",
                                      created_at=INGESTED))

    wed, thu, fri = (MONDAY + timedelta(days=d, hours=12) for d in (2, 3, 4))
    next_week = MONDAY + timedelta(days=9)
    created = MONDAY + timedelta(days=1)
    # Step 2 open past due at the week's end: overdue. Its plan's own due date is later.
    _plan(session, 1, "payments_ops", created, next_week,
          [("payops.wang", wed, wed - timedelta(hours=1)), ("payops.chen", thu, None),
           ("payops.zhao", next_week, None)])
    # Done, but only after the week ended: overdue at the cutoff; the plan is past its own due date too.
    _plan(session, 2, "risk", created, fri, [("risk.wu", fri, next_week)])
    _plan(session, 3, "risk", created, next_week, [("risk.li", next_week, None)])  # not due yet
    _plan(session, 4, "risk", next_week, next_week, [("risk.li", fri, None)])  # made after the week


def test_backfilled_week_figures(db_url: str, app_config: AppConfig) -> None:
    with session_scope(db_url) as session:
        seed_backfill(session)
    with session_scope(db_url) as session:
        d = weekly_report_data(session, app_config, WEEK, TZ, as_of=AS_OF)

    # Data quality by received week, although every row was written in W49.
    assert d.duplicates == 3
    assert {q.key: q.count for q in d.quarantined} == {"hotline": 1, "regulator": 1, "app": 1}
    assert d.quarantined_total == 3 and d.quarantined_undated == 1
    assert next(q for q in d.quarantined if q.key == "regulator").label == {"zh": "监管转办", "en": "Regulator"}

    # SLA on the run's clock; nobody to reach on the regulator channel: n/a, not 0%.
    sla = {r.channel: (r.complaints, r.reachable, r.acknowledged, r.within_1d, r.within_share) for r in d.sla}
    assert sla == {"app": (6, 6, 5, 4, 4 / 6), "hotline": (2, 2, 1, 1, 0.5), "regulator": (2, 0, 0, 0, None)}
    assert (d.sla_total.reachable, d.sla_total.within_1d) == (8, 5)

    # One definition of overdue for steps and plans, grouped by team and owner.
    assert d.cutoff == MONDAY + timedelta(days=7)
    assert d.overdue_step_count == 2 and d.overdue_plans == 2
    groups = [(g.team, g.owner, g.steps, g.plans, g.overdue_hours) for g in d.overdue_groups]
    assert groups == [("payments_ops", "payops.chen", 1, 1, 3 * 24 + 12), ("risk", "risk.wu", 1, 1, 2 * 24 + 12)]

    # Without as_of the real clock applies: the late acknowledgement is counted now.
    with session_scope(db_url) as session:
        now = weekly_report_data(session, app_config, WEEK, TZ)
    assert {r.channel: r.acknowledged for r in now.sla}["hotline"] == 2
