"""Plans per incident and serious complaint: templates, routing and weekly rotation, business-time
deadlines over a holiday, the extension rule, at-risk warnings and escalation once, closing rules."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from complaints.core.business_time import BusinessCalendar
from complaints.core.config import AppConfig, Route, RoutingConfig, SlaConfig, Team
from complaints.core.db import session_scope
from complaints.core.models import Escalation, Incident, Notification, Plan, PlanEvent, PlanStep
from complaints.plans.create import Subject, create_plans, escalate_overdue, roster, route
from complaints.plans.ops import PlanActionError, Review, apply_review, complete_step, extend_plan, reassign_step
from tests.factories import T0, complaint

SH = ZoneInfo("Asia/Shanghai")


def _incident(s, category: str = "transfer_delay", at: datetime = T0) -> Incident:
    inc = Incident(signature=f"category={category}|merchant=X", opened_window=at, category=category, title="t",
                   severity="P2", status="open", detected_at=at, first_complaint_at=at, last_complaint_at=at,
                   user_count=40, complaint_count=40, reason={})
    s.add(inc)
    s.flush()
    return inc


def _plan(s, subject_type: str, subject_id: int) -> Plan:
    return s.execute(select(Plan).where(Plan.subject_type == subject_type, Plan.subject_id == subject_id)).scalar_one()


def test_plans_from_templates_routed_and_idempotent(db_url: str, app_config: AppConfig) -> None:
    with session_scope(db_url) as s:
        inc = _incident(s)
        member = complaint(s, "提现未到账", severity="major", category="transfer_delay", incident_id=inc.id)
        fraud = complaint(s, "账户被盗刷", severity="critical", category="account_security")
        referred = complaint(s, "手续费未告知", severity="major", category="fees_pricing", channel="regulator")
        complaint(s, "界面难用", severity="minor", category="usability")  # minor: no plan
        first = create_plans(s, app_config, T0)
    with session_scope(db_url) as s:
        again = create_plans(s, app_config, T0 + timedelta(hours=1))
        plans = {(p.subject_type, p.subject_id): p for p in s.execute(select(Plan)).scalars()}
        assert len(first.created) == 3 and again.created == []
        # Members are covered by their incident's plan.
        assert set(plans) == {("incident", inc.id), ("complaint", fraud.id), ("complaint", referred.id)}
        assert ("complaint", member.id) not in plans
        inc_plan, fraud_plan, ref_plan = (plans[k] for k in (("incident", inc.id), ("complaint", fraud.id),
                                                             ("complaint", referred.id)))
        assert (inc_plan.template, inc_plan.team) == ("transfer_delay", "payments_ops")
        assert (fraud_plan.template, fraud_plan.team) == ("account_security", "risk")
        steps = fraud_plan.steps
        assert [(st.title, st.kind, st.unit) for st in steps][:2] == [
            ("Freeze and secure the account", "task", "calendar_hours"),
            ("Trace the funds", "task", "calendar_hours")]
        assert [st.kind for st in steps][-3:] == ["feedback", "callback", "lessons_learned"]
        assert steps[0].due_at == T0 + timedelta(hours=2)
        # 27 business hours from Monday 09:00 = three working days: Wednesday 18:00 Shanghai.
        assert steps[2].due_at == datetime(2026, 11, 18, 18, 0, tzinfo=SH)
        assert steps[-1].owner == "risk.lead"
        # Week 2026-W47 rotates the risk roster to [li, zhang]: the on-call takes ties.
        owners = [st.owner for st in steps if st.owner != "risk.lead"]
        assert owners == ["risk.li", "risk.zhang", "risk.li", "risk.zhang", "risk.li"]
        # Critical: 7 calendar days; acknowledge within one business day (9 working hours from the opening).
        assert fraud_plan.due_at == T0 + timedelta(days=7)
        assert fraud_plan.ack_due_at == datetime(2026, 11, 16, 18, 0, tzinfo=SH)
        # Nothing before the call-back is due after the final answer.
        assert all(st.due_at <= fraud_plan.due_at for st in steps if st.kind in ("task", "feedback"))
        # Regulator referral, CFPB layout: response in 15 days, final answer in 60.
        assert (ref_plan.respond_due_at, ref_plan.due_at) == (T0 + timedelta(days=15), T0 + timedelta(days=60))
        assert inc_plan.due_at == T0 + timedelta(days=15) and inc_plan.severity == "major"
        assert s.execute(select(func.count()).select_from(PlanStep)).scalar_one() == sum(
            len(p.steps) for p in plans.values())
        assert s.execute(select(func.count()).select_from(PlanEvent).where(PlanEvent.action == "created")
                         ).scalar_one() == 3


def test_routing_by_severity_merchant_region_and_weekly_rotation(app_config: AppConfig) -> None:
    teams = dict(app_config.routing.teams) | {"risk_hk": Team(members=["risk.chan", "risk.ho"], lead="risk.hk.lead")}
    routing = RoutingConfig(teams=teams, default_team="service", routes=[
        Route(category="account_security", region="Hong Kong", team="risk_hk"),
        Route(category="transfer_delay", merchant="快捷支付通道", severity="critical", team="tech"),
        *app_config.routing.routes])
    cfg = app_config.model_copy(update={"routing": routing})

    def subject(category: str, severity: str = "major", merchant: str | None = None, region: str | None = None):
        return Subject("complaint", 1, category, severity, "app", merchant, region, T0)

    assert route(cfg, subject("account_security", region="Hong Kong"))[0] == "risk_hk"
    assert route(cfg, subject("account_security", region="Shanghai"))[0] == "risk"
    assert route(cfg, subject("transfer_delay", "critical", merchant="快捷支付通道"))[0] == "tech"
    assert route(cfg, subject("transfer_delay", "major", merchant="快捷支付通道"))[0] == "payments_ops"
    assert route(cfg, subject("usability"))[0] == "service"

    team = app_config.routing.teams["payments_ops"]
    weeks = [roster(team, date(2026, 11, 16) + timedelta(weeks=w)) for w in range(4)]
    assert [w[0] for w in weeks] == ["payops.wang", "payops.chen", "payops.zhao", "payops.wang"]
    assert all(sorted(w) == sorted(team.members) for w in weeks)
    # Every day of one ISO week has the same on-call.
    assert {roster(team, date(2026, 11, 16) + timedelta(days=d))[0] for d in range(7)} == {"payops.wang"}


def test_business_days_across_national_day(db_url: str, app_config: AppConfig) -> None:
    cal = BusinessCalendar(app_config.sla)
    # 2026 National Day golden week: Oct 1-7 off; Sun Sep 20 and Sat Oct 10 are make-up working days.
    assert not any(cal.is_workday(date(2026, 10, d)) for d in range(1, 8))
    assert cal.is_workday(date(2026, 9, 20)) and cal.is_workday(date(2026, 10, 10))
    assert cal.add_business_days(datetime(2026, 9, 30, 15, 0, tzinfo=SH), 1) == datetime(2026, 10, 8, 15, 0,
                                                                                          tzinfo=SH)
    assert cal.add_business_days(datetime(2026, 10, 9, 15, 0, tzinfo=SH), 1) == datetime(2026, 10, 10, 15, 0,
                                                                                          tzinfo=SH)
    assert cal.add_business_hours(datetime(2026, 9, 18, 17, 0, tzinfo=SH), 2) == datetime(2026, 9, 20, 10, 0,
                                                                                           tzinfo=SH)
    # Configurable: a company closure on Oct 8 pushes the acknowledgement to Oct 9.
    closed = BusinessCalendar(SlaConfig(extra_holidays=[date(2026, 10, 8)]))
    assert closed.add_business_days(datetime(2026, 9, 30, 15, 0, tzinfo=SH), 1) == datetime(2026, 10, 9, 15, 0,
                                                                                             tzinfo=SH)
    received = datetime(2026, 9, 30, 15, 0, tzinfo=SH)
    with session_scope(db_url) as s:
        c = complaint(s, "投诉", severity="major", category="usability", at=received)
        create_plans(s, app_config, received)
    with session_scope(db_url) as s:
        plan = _plan(s, "complaint", c.id)
        assert plan.ack_due_at == datetime(2026, 10, 8, 15, 0, tzinfo=SH)
        # default template: 9 and 45 business hours; the final answer counts calendar days.
        assert plan.steps[0].due_at == datetime(2026, 10, 8, 15, 0, tzinfo=SH)
        assert plan.steps[1].due_at == datetime(2026, 10, 13, 15, 0, tzinfo=SH)
        assert plan.due_at == received + timedelta(days=15)


def test_extension_once_with_reason(db_url: str, app_config: AppConfig) -> None:
    now = T0 + timedelta(days=2)
    with session_scope(db_url) as s:
        c = complaint(s, "投诉", severity="major", category="usability")
        referred = complaint(s, "监管转办", severity="major", category="usability", channel="regulator")
        create_plans(s, app_config, T0)
    with session_scope(db_url) as s:
        plan = _plan(s, "complaint", c.id)
        before = {st.seq: st.due_at for st in plan.steps}
        with pytest.raises(PlanActionError, match="reason"):
            extend_plan(s, app_config, plan.id, "alice", "  ", now)
        new_due = extend_plan(s, app_config, plan.id, "alice", "bank statement requested from the acquirer", now)
        assert new_due == T0 + timedelta(days=30)
        after = {st.seq: st.due_at for st in plan.steps}
        assert after[1] == before[1]  # already overdue: a breach stays a breach
        assert all(after[k] == before[k] + timedelta(days=15) for k in range(2, 6))
    with session_scope(db_url) as s:
        plan = _plan(s, "complaint", c.id)
        assert (plan.extensions, plan.extension_reason) == (1, "bank statement requested from the acquirer")
        with pytest.raises(PlanActionError, match="allows 1"):
            extend_plan(s, app_config, plan.id, "alice", "again", now)
        with pytest.raises(PlanActionError, match="allows 0"):  # regulator deadlines are not extendable
            extend_plan(s, app_config, _plan(s, "complaint", referred.id).id, "alice", "why", now)
        events = s.execute(select(PlanEvent.actor, PlanEvent.action, PlanEvent.note)
                           .where(PlanEvent.plan_id == plan.id, PlanEvent.action == "extend")).all()
        assert events == [("alice", "extend", "bank statement requested from the acquirer")]


def test_at_risk_and_breach_escalate_exactly_once(db_url: str, app_config: AppConfig) -> None:
    every = timedelta(hours=app_config.routing.escalate_every_hours)
    with session_scope(db_url) as s:
        _incident(s)
        create_plans(s, app_config, T0)
    # "Reconcile with the bank": 4 business hours from Monday 09:00, at risk after 80% (3h12m).
    first_due = T0 + timedelta(hours=4)
    with session_scope(db_url) as s:
        assert escalate_overdue(s, app_config, T0 + timedelta(hours=3)) == []
        warned = escalate_overdue(s, app_config, T0 + timedelta(hours=3, minutes=30))
        assert [(n.kind, n.level, n.to_owner) for n in warned] == [("at_risk", 0, "payops.wang")]
        assert escalate_overdue(s, app_config, T0 + timedelta(hours=3, minutes=50)) == []  # warned once
        assert escalate_overdue(s, app_config, first_due) == []  # due, not yet past due
        notices = escalate_overdue(s, app_config, first_due + timedelta(minutes=1))
        assert [(n.kind, n.level, n.from_owner, n.to_owner, n.subject_ref) for n in notices] == [
            ("overdue", 1, "payops.wang", "payops.lead", f"I{1:08d}")]
        assert notices[0].subject_title == "t"
    with session_scope(db_url) as s:
        # Re-run within the same breach: nothing more.
        assert escalate_overdue(s, app_config, first_due + timedelta(minutes=30)) == []
        # Still overdue a full interval later: one more level, to head of service. Step 2 (due
        # Monday 18:00) passed its at-risk window unseen: it is escalated, never warned late.
        later = escalate_overdue(s, app_config, first_due + every + timedelta(minutes=1))
        assert [(n.kind, n.level, n.to_owner) for n in later] == [
            ("overdue", 2, "head_of_service"), ("overdue", 1, "payops.lead")]
    with session_scope(db_url) as s:
        rows = s.execute(select(Escalation.kind, Escalation.level, Escalation.from_owner, Escalation.to_owner)
                         .order_by(Escalation.id)).all()
        assert rows[:3] == [("at_risk", 0, "payops.wang", "payops.wang"), ("overdue", 1, "payops.wang", "payops.lead"),
                            ("overdue", 2, "payops.lead", "head_of_service")]
        step = s.execute(select(PlanStep).where(PlanStep.seq == 1)).scalar_one()
        assert (step.owner, step.escalation_level) == ("head_of_service", 2)
        step.status = "done"  # a done step is never escalated
    with session_scope(db_url) as s:
        assert all(n.step_id != step.id for n in escalate_overdue(s, app_config, first_due + 10 * every))


def test_late_run_jumps_to_due_level_and_rerun_changes_nothing(db_url: str, app_config: AppConfig) -> None:
    every = timedelta(hours=app_config.routing.escalate_every_hours)
    with session_scope(db_url) as s:
        _incident(s)
        create_plans(s, app_config, T0)
    late = T0 + timedelta(hours=4) + 2 * every + timedelta(minutes=1)  # first step: level 3 is due
    with session_scope(db_url) as s:
        first = [n for n in escalate_overdue(s, app_config, late) if n.kind == "overdue"]
        assert (first[0].level, first[0].from_owner, first[0].to_owner) == (3, "payops.wang", "compliance")
    with session_scope(db_url) as s:
        assert escalate_overdue(s, app_config, late) == []  # a replay at the same time: nothing new
        assert s.execute(select(func.count()).select_from(Escalation)).scalar_one() == len(first)


def test_escalation_emails_queued_once(app_env: str, app_config: AppConfig) -> None:
    from tasks.plan import escalate_task

    with session_scope(app_env) as s:
        _incident(s)
        create_plans(s, app_config, T0)
    for _ in range(2):
        escalate_task.fn(T0 + timedelta(hours=3, minutes=30))
        escalate_task.fn(T0 + timedelta(hours=4, minutes=1))
    with session_scope(app_env) as s:
        mails = s.execute(select(Notification.recipient, Notification.subject).order_by(Notification.id)).all()
    assert mails == [("payops.wang@wallet.example", f"[At risk] I{1:08d} due soon: Reconcile with the bank or "
                      "clearing channel"),
                     ("payops.lead@wallet.example", f"[Escalation L1] I{1:08d} overdue: Reconcile with the bank "
                      "or clearing channel")]


def test_late_run_sends_one_digest_per_owner(app_env: str, app_config: AppConfig) -> None:
    from tasks.plan import escalate_task

    with session_scope(app_env) as s:
        _incident(s)
        create_plans(s, app_config, T0)
    late = T0 + timedelta(days=20)
    escalated = escalate_task.fn(late)
    assert escalate_task.fn(late) == []  # a replay: nothing new, no mail
    per_owner: dict[str, int] = {}
    for e in escalated:
        per_owner[e["to"]] = per_owner.get(e["to"], 0) + 1
    with session_scope(app_env) as s:
        mails = s.execute(select(Notification).order_by(Notification.id)).scalars().all()
        assert sorted(m.recipient for m in mails) == sorted(f"{o}@wallet.example" for o in per_owner)
        digest = next(m for m in mails if per_owner[m.recipient.split("@")[0]] > 1)
        n = per_owner[digest.recipient.split("@")[0]]
        assert digest.subject.startswith(f"[Escalation] {n} steps need you: {n} overdue")
        assert digest.body_text.count("Previous owner:") == n


def test_a_long_digest_lists_the_first_steps_and_counts_all(app_env: str, app_config: AppConfig,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import complaints.notify.escalations
    from tasks.plan import escalate_task

    monkeypatch.setattr(complaints.notify.escalations, "DIGEST_ITEMS", 1)
    with session_scope(app_env) as s:
        _incident(s)
        create_plans(s, app_config, T0)
    escalated = escalate_task.fn(T0 + timedelta(days=20))
    per_owner: dict[str, int] = {}
    for e in escalated:
        per_owner[e["to"]] = per_owner.get(e["to"], 0) + 1
    owner, n = max(per_owner.items(), key=lambda kv: kv[1])
    assert n > 1
    with session_scope(app_env) as s:
        digest = s.execute(select(Notification).where(Notification.recipient == f"{owner}@wallet.example")).scalar_one()
        assert digest.subject.startswith(f"[Escalation] {n} steps need you: {n} overdue")
        assert digest.body_text.count("Previous owner:") == 1 and f"... and {n - 1} more." in digest.body_text


def test_closing_rules_and_rerun_never_reopens(db_url: str, app_config: AppConfig) -> None:
    now = T0 + timedelta(days=3)
    with session_scope(db_url) as s:
        inc = _incident(s)
        create_plans(s, app_config, T0)
    with session_scope(db_url) as s:
        plan = _plan(s, "incident", inc.id)
        with pytest.raises(PlanActionError, match="unknown owner"):
            reassign_step(s, app_config, plan.id, 2, "nobody", "alice", now)
        apply_review(s, app_config, plan.id, Review(approve=True, owner="payops.zhao", note="ok"), "bob", now)
        assert {st.owner for st in plan.steps if st.kind != "lessons_learned"} == {"payops.zhao"}
        assert plan.approved_by == "bob"
        last = len(plan.steps)
        for seq in range(1, last):
            assert complete_step(s, plan.id, seq, "alice", now, note=f"step {seq} done") is False
        with pytest.raises(PlanActionError, match="lessons-learned step needs"):
            complete_step(s, plan.id, last, "alice", now)
    with session_scope(db_url) as s:
        plan = _plan(s, "incident", inc.id)
        root = "clearing channel certificate expired; renewed; expiry monitor added"
        assert complete_step(s, plan.id, last, "payops.lead", now, note=root) is True
    with session_scope(db_url) as s:
        plan, incident = _plan(s, "incident", inc.id), s.get(Incident, inc.id)
        assert (plan.status, plan.closed_at) == ("closed", now)
        assert (incident.status, incident.resolved_at, incident.root_cause) == ("resolved", now, root)
        with pytest.raises(PlanActionError, match="never reopened"):
            complete_step(s, plan.id, 1, "alice", now)
        # Re-runs long after: no new plan, nothing reopened, nothing escalated.
        assert create_plans(s, app_config, now + timedelta(days=30)).created == []
        assert escalate_overdue(s, app_config, now + timedelta(days=30)) == []
    with session_scope(db_url) as s:
        assert [p.status for p in s.execute(select(Plan)).scalars()] == ["closed"]
        actions = [a for (a,) in s.execute(select(PlanEvent.action).where(PlanEvent.plan_id == plan.id)
                                           .order_by(PlanEvent.id))]
        assert actions[0] == "created" and actions[-1] == "closed"
        assert actions.count("done") == last and "approve" in actions and "reassign" in actions
