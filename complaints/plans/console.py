"""What the ops console shows: the incident board, one plan's sheet (for the review form), plan counts.

Plain rows and markdown from the database; the Prefect side (tasks/) publishes them, masked, as artifacts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from complaints.core.models import Complaint, Incident, Plan, PlanStep
from complaints.core.statuses import INCIDENT_ACTIVE, STEP_OPEN, PlanStatus
from complaints.plans.create import subject_ref
from complaints.plans.ops import get_plan, plan_events

SEVERITY_ORDER = {"P1": 0, "P2": 1, "P3": 2}


def _hours(delta_seconds: float) -> str:
    hours = delta_seconds / 3600
    return f"{hours / 24:.1f} d" if abs(hours) >= 48 else f"{hours:.1f} h"


def late_by(due_at: datetime, now: datetime) -> str:
    """`3.5 h late` / `due in 2.0 d`."""
    seconds = (now - due_at).total_seconds()
    return f"{_hours(seconds)} late" if seconds > 0 else f"due in {_hours(-seconds)}"


def _local(at: datetime | None, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if at else ""


def incident_board(session: Session, now: datetime, tz: ZoneInfo) -> list[dict[str, object]]:
    """Every open (active) incident: severity, users, age, status, its plan, and the next open step's
    deadline and owner; most severe first, then the nearest deadline."""
    incidents = list(session.execute(select(Incident).where(Incident.status.in_(INCIDENT_ACTIVE))).scalars())
    plans = {p.subject_id: p for p in session.execute(select(Plan).where(
        Plan.subject_type == "incident", Plan.subject_id.in_([i.id for i in incidents]))).scalars()}
    next_step = {}
    if plans:
        first_due = (select(PlanStep.plan_id, func.min(PlanStep.due_at).label("due"))
                     .where(PlanStep.plan_id.in_([p.id for p in plans.values()]), PlanStep.status.in_(STEP_OPEN))
                     .group_by(PlanStep.plan_id).subquery())
        rows = session.execute(select(PlanStep.plan_id, PlanStep.due_at, PlanStep.owner, PlanStep.title)
                               .join(first_due, (first_due.c.plan_id == PlanStep.plan_id)
                                     & (first_due.c.due == PlanStep.due_at))
                               .where(PlanStep.status.in_(STEP_OPEN)).order_by(PlanStep.seq)).all()
        for r in rows:
            next_step.setdefault(r.plan_id, r)
    board: list[tuple[tuple[int, datetime], dict[str, object]]] = []
    for inc in incidents:
        plan = plans.get(inc.id)
        step = next_step.get(plan.id) if plan else None
        board.append(((SEVERITY_ORDER.get(inc.severity, 9), step.due_at if step else datetime.max.replace(tzinfo=tz)), {
            "incident": subject_ref("incident", inc.id), "title": inc.title, "severity": inc.severity,
            "users": inc.user_count, "age": _hours((now - inc.first_complaint_at).total_seconds()),
            "status": inc.status,
            "plan": (f"plan {plan.id} {plan.status}" + (", approved" if plan.approved_at else ", not approved"))
            if plan else "no plan yet",
            "next_deadline": _local(step.due_at, tz) if step else "",
            "late": late_by(step.due_at, now) if step else "",
            "owner": step.owner if step else "", "next_step": step.title if step else "",
        }))
    return [row for _, row in sorted(board, key=lambda pair: pair[0])]


@dataclass(frozen=True)
class PlanCounts:
    open: int
    total: int


def plan_counts(session: Session) -> PlanCounts:
    """Plans open now and ever made (a run that created none may still find many: another flow made them)."""
    total, open_ = session.execute(select(func.count(), func.count().filter(Plan.status == PlanStatus.open))
                                   .select_from(Plan)).one()
    return PlanCounts(open=open_, total=total)


@dataclass(frozen=True)
class PlanSheet:
    team: str
    subject_type: str
    status: str
    markdown: str


def plan_sheet(session: Session, plan_id: int, now: datetime, tz: ZoneInfo) -> PlanSheet:
    """One plan for the reviewer: its team, subject type and status, and as markdown the subject, incident
    figures, steps with owners, due dates and how late, and the plan's history."""
    plan = get_plan(session, plan_id, for_update=False)
    ref = subject_ref(plan.subject_type, plan.subject_id)
    lines = [f"## Plan {plan.id} · {ref} · {plan.status}", ""]
    if plan.subject_type == "incident":
        inc = session.get(Incident, plan.subject_id)
        if inc is not None:
            lines += [f"**Incident {ref}**: {inc.title}", "",
                      f"- severity **{inc.severity}**, status {inc.status}, **{inc.user_count}** users, "
                      f"{inc.complaint_count} complaints, since {_local(inc.first_complaint_at, tz)}",
                      f"- why: {'; '.join(inc.reason.get('severity_reasons', [])) or '-'}",
                      f"- root cause: {inc.root_cause or 'not recorded'}"]
    else:
        complaint = session.get(Complaint, plan.subject_id)
        lines.append(f"**Complaint {ref}**: {complaint.title if complaint else ''}")
    lines += ["", f"- team **{plan.team}**, category {plan.category}, final deadline {_local(plan.due_at, tz)} "
              f"({late_by(plan.due_at, now)}), approved: {plan.approved_by or 'no'}", "", "### Steps", ""]
    # A list, not a table: the resume form is a narrow dialog, where a table's owner and due columns scroll away.
    for s in plan.steps:
        when = late_by(s.due_at, now) if s.status in STEP_OPEN else f"done {_local(s.done_at, tz)}"
        flag = " · **OVERDUE**" if s.status in STEP_OPEN and s.due_at < now else ""
        lines.append(f"{s.seq}. {s.title} — **{s.owner}** · {s.status} · due {_local(s.due_at, tz)} ({when}){flag}")
    history = plan_events(session, plan.id)
    lines += ["", "### History", ""] + [
        f"- {_local(e.at, tz)} **{e.action}** by {e.actor}" + (f": {e.note}" if e.note else "")
        for e in history[-20:]] + ([f"- … {len(history) - 20} earlier events"] if len(history) > 20 else [])
    return PlanSheet(plan.team, plan.subject_type, plan.status, "\n".join(lines))
