"""Plans per incident and serious complaint, routing and load balancing, escalation once per level."""

from datetime import timedelta

from sqlalchemy import func, select

from complaints.config import AppConfig
from complaints.db import session_scope
from complaints.models import Escalation, Incident, Plan, PlanStep
from complaints.planning import create_plans, escalate_overdue
from tests.factories import T0, complaint


def _incident(s, category: str = "transfer_delay") -> Incident:
    inc = Incident(signature=f"category={category}|merchant=X", opened_window=T0, category=category, title="t",
                   severity="P2", status="open", detected_at=T0, first_complaint_at=T0, last_complaint_at=T0,
                   user_count=40, complaint_count=40, reason={})
    s.add(inc)
    s.flush()
    return inc


def test_plans_from_templates_routed_and_idempotent(db_url: str, app_config: AppConfig) -> None:
    with session_scope(db_url) as s:
        inc = _incident(s)
        member = complaint(s, "提现未到账", severity="major", category="transfer_delay", incident_id=inc.id)
        fraud = complaint(s, "账户被盗刷", severity="critical", category="account_security", channel="regulator")
        complaint(s, "界面难用", severity="minor", category="usability")  # minor: no plan
        first = create_plans(s, app_config)
    with session_scope(db_url) as s:
        again = create_plans(s, app_config)
        plans = {(p.subject_type, p.subject_id): p for p in s.execute(select(Plan)).scalars()}
        assert len(first.created) == 2 and again.created == []
        assert set(plans) == {("incident", inc.id), ("complaint", fraud.id)}  # members are covered by the incident
        assert ("complaint", member.id) not in plans
        inc_plan, fraud_plan = plans[("incident", inc.id)], plans[("complaint", fraud.id)]
        assert (inc_plan.template, inc_plan.team) == ("transfer_delay", "payments_ops")
        assert (fraud_plan.template, fraud_plan.team) == ("account_security", "risk")
        steps = fraud_plan.steps
        assert [st.title for st in steps][:2] == ["Freeze and secure the account", "Trace the funds"]
        assert steps[0].due_at == T0 + timedelta(hours=2)
        assert steps[-1].title.startswith("Record lessons learned") and steps[-1].owner == "risk.lead"
        # Owner steps alternate across the roster (fewest open steps first).
        owners = [st.owner for st in steps if st.owner != "risk.lead"]
        assert owners == ["risk.zhang", "risk.li", "risk.zhang", "risk.li", "risk.zhang"]
        # Critical complaints: 7 calendar days from receipt (sla.yaml by_severity).
        assert fraud_plan.due_at == T0 + timedelta(days=7)
        assert s.execute(select(func.count()).select_from(PlanStep)).scalar_one() == len(inc_plan.steps) + len(steps)


def test_escalation_once_per_level(db_url: str, app_config: AppConfig) -> None:
    every = timedelta(hours=app_config.routing.escalate_every_hours)
    with session_scope(db_url) as s:
        _incident(s)
        create_plans(s, app_config)
    first_due = T0 + timedelta(hours=4)  # "Reconcile with the bank or clearing channel"
    with session_scope(db_url) as s:
        assert escalate_overdue(s, app_config, first_due) == []  # due, not yet past due
        notices = escalate_overdue(s, app_config, first_due + timedelta(minutes=1))
        assert [(n.level, n.from_owner, n.to_owner, n.subject_ref) for n in notices] == [
            (1, "payops.wang", "payops.lead", f"I{1:08d}")]
        assert notices[0].subject_title == "t"
    with session_scope(db_url) as s:
        # Re-run within the same breach: nothing more.
        assert escalate_overdue(s, app_config, first_due + timedelta(minutes=30)) == []
        # Still overdue a full interval later: one more level, to head of service.
        later = escalate_overdue(s, app_config, first_due + every + timedelta(minutes=1))
        assert [(n.step_id, n.level, n.to_owner) for n in later][0][1:] == (2, "head_of_service")
    with session_scope(db_url) as s:
        rows = s.execute(select(Escalation.level, Escalation.from_owner, Escalation.to_owner)
                         .order_by(Escalation.id)).all()
        assert rows[0] == (1, "payops.wang", "payops.lead")
        assert (2, "payops.lead", "head_of_service") in rows
        step = s.execute(select(PlanStep).where(PlanStep.seq == 1)).scalar_one()
        assert (step.owner, step.escalation_level) == ("head_of_service", 2)
        # A done step is never escalated.
        step.status = "done"
    with session_scope(db_url) as s:
        assert all(n.step_id != step.id for n in escalate_overdue(s, app_config, first_due + 10 * every))
