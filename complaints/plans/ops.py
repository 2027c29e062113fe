"""What ops do to plans without code: start and finish steps, extend the final deadline once,
reassign, approve and record a root cause. Every action leaves a plan_events row (who, when, note)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from complaints.core.business_time import BusinessCalendar
from complaints.core.config import AppConfig
from complaints.core.models import Complaint, Incident, Plan, PlanEvent, PlanStep
from complaints.core.settings import Settings, get_settings
from complaints.core.statuses import STEP_OPEN, IncidentStatus, PlanStatus
from complaints.detect.incidents import ACTIVE, transition
from complaints.plans.create import sla_target
from complaints.regulatory.clocks import queue_extension_notice


class PlanActionError(ValueError):
    """The action is not allowed (unknown plan or step, closed plan, rule broken)."""


@dataclass(frozen=True)
class Review:
    """An ops decision on a plan (from the Prefect UI form or elsewhere)."""

    approve: bool = False
    owner: str | None = None
    root_cause: str | None = None
    note: str | None = None


def _event(session: Session, plan: Plan, action: str, actor: str, now: datetime, *, step: PlanStep | None = None,
           note: str | None = None, **detail: object) -> None:
    session.add(PlanEvent(plan_id=plan.id, step_id=step.id if step else None, at=now, actor=actor, action=action,
                          note=note, detail=detail))


def get_plan(session: Session, plan_id: int, *, for_update: bool = True) -> Plan:
    """The plan (locked for update by default); PlanActionError if there is none."""
    plan = session.get(Plan, plan_id, with_for_update=for_update)
    if plan is None:
        raise PlanActionError(f"no plan {plan_id}")
    return plan


def _open_plan(session: Session, plan_id: int) -> Plan:
    # Row lock on PostgreSQL: two ops acting on one plan at once apply one after the other.
    plan = get_plan(session, plan_id)
    if plan.status != "open":
        raise PlanActionError(f"plan {plan_id} is {plan.status}; a closed plan is never reopened")
    return plan


def _step(plan: Plan, seq: int) -> PlanStep:
    for step in plan.steps:
        if step.seq == seq:
            return step
    raise PlanActionError(f"plan {plan.id} has no step {seq} (steps 1-{len(plan.steps)})")


def known_staff(cfg: AppConfig) -> set[str]:
    """Everyone routing.yaml names: team members, leads and the escalation chain."""
    teams = cfg.routing.teams.values()
    return {m for t in teams for m in t.members} | {t.lead for t in teams} | set(cfg.routing.escalation_chain)


def start_step(session: Session, plan_id: int, seq: int, actor: str, now: datetime, note: str | None = None) -> None:
    """Start a pending step of an open plan, recording the event."""
    step = _step(_open_plan(session, plan_id), seq)
    if step.status != "pending":
        raise PlanActionError(f"step {seq} is {step.status}, only a pending step can be started")
    step.status, step.started_at = "in_progress", now
    if note:
        step.note = note
    _event(session, step.plan, "start", actor, now, step=step, note=note)


def complete_step(session: Session, plan_id: int, seq: int, actor: str, now: datetime,
                  note: str | None = None) -> bool:
    """Mark a step done; the last open step closes the plan. Returns True when the plan closed."""
    plan = _open_plan(session, plan_id)
    step = _step(plan, seq)
    if step.status not in STEP_OPEN:
        raise PlanActionError(f"step {seq} is already {step.status}")
    if step.kind == "lessons_learned" and not (note or step.note):
        raise PlanActionError("the lessons-learned step needs --note with the root cause, fix and prevention")
    step.status, step.done_at = "done", now
    if note:
        step.note = note
    _event(session, plan, "done", actor, now, step=step, note=note)
    if any(s.status in STEP_OPEN for s in plan.steps):
        return False
    _close(session, plan, actor, now)
    return True


def _close(session: Session, plan: Plan, actor: str, now: datetime) -> None:
    """Close the plan; an incident's plan resolves the incident with the lessons-learned root cause."""
    plan.status, plan.closed_at = PlanStatus.closed, now
    lessons = next((s.note for s in plan.steps if s.kind == "lessons_learned"), None)
    if plan.subject_type == "incident":
        incident = session.get(Incident, plan.subject_id)
        if incident is not None:
            if incident.status in ACTIVE:  # the one path to a status change: it records the history
                transition(session, incident, IncidentStatus.resolved, f"plan {plan.id} closed by {actor}", at=now)
            incident.root_cause = lessons or incident.root_cause
    _event(session, plan, "closed", actor, now, root_cause=lessons)


def extend_plan(session: Session, cfg: AppConfig, plan_id: int, actor: str, reason: str, now: datetime, *,
                approver: str | None = None, settings: Settings | None = None) -> datetime:
    """Extend the final deadline by the SLA rule's extension_days, at most max_extensions times,
    with a recorded reason and approver (default: the actor). Open steps not yet due move by the same amount
    (a breach stays a breach). A complaint's plan queues the complainant's extension notice, once."""
    if not reason.strip():
        raise PlanActionError("an extension needs a reason")
    plan = _open_plan(session, plan_id)
    target = sla_target(cfg.sla, plan.severity, plan.channel)
    if plan.extensions >= target.max_extensions:
        raise PlanActionError(f"plan {plan_id} was extended {plan.extensions} time(s); the rule allows "
                              f"{target.max_extensions}")
    delta = timedelta(days=target.extension_days)
    old_due = plan.due_at
    plan.due_at, plan.extensions, plan.extension_reason = old_due + delta, plan.extensions + 1, reason
    cal = BusinessCalendar(cfg.sla)
    for step in plan.steps:
        if step.status in STEP_OPEN and step.due_at >= now:
            step.due_at += delta
            step.warn_at = cal.share_point(plan.created_at, step.due_at, cfg.routing.at_risk_share, step.unit)
    complaint = session.get(Complaint, plan.subject_id) if plan.subject_type == "complaint" else None
    queued = complaint is not None and queue_extension_notice(
        session, cfg, settings or get_settings(), complaint, key=f"extension:plan:{plan.id}:{plan.extensions}",
        new_due=plan.due_at.astimezone(cal.tz).date(), reason=reason, now=now)
    _event(session, plan, "extend", actor, now, note=reason, from_due=old_due.isoformat(),
           to_due=plan.due_at.isoformat(), approver=approver or actor, notice_queued=queued)
    return plan.due_at


def reassign_step(session: Session, cfg: AppConfig, plan_id: int, seq: int, owner: str, actor: str, now: datetime,
                  note: str | None = None) -> None:
    """Give an open step to another known staff member, recording the previous and new owner."""
    if owner not in known_staff(cfg):
        raise PlanActionError(f"unknown owner {owner!r}: not a member, lead or escalation contact in routing.yaml")
    plan = _open_plan(session, plan_id)
    step = _step(plan, seq)
    if step.status not in STEP_OPEN:
        raise PlanActionError(f"step {seq} is {step.status}; only open steps can be reassigned")
    previous, step.owner = step.owner, owner
    _event(session, plan, "reassign", actor, now, step=step, note=note, from_owner=previous, to_owner=owner)


def apply_review(session: Session, cfg: AppConfig, plan_id: int, review: Review, actor: str, now: datetime) -> None:
    """Apply an ops decision: approve the plan, give the open steps its team's members hold to one owner,
    record the incident's root cause. Steps owned by a role stay with it: the lead's (lessons learned, the
    regulator phone report), compliance's written report, and steps escalated up the chain."""
    plan = _open_plan(session, plan_id)
    if review.owner:
        if review.owner not in known_staff(cfg):
            raise PlanActionError(f"unknown owner {review.owner!r}: not a member, lead or escalation contact in "
                                  "routing.yaml")
        team = cfg.routing.teams.get(plan.team) or cfg.routing.teams[cfg.routing.default_team]
        roster = set(team.members)
        for step in plan.steps:
            if (step.status in STEP_OPEN and step.kind != "lessons_learned" and step.owner in roster
                    and step.owner != review.owner):
                reassign_step(session, cfg, plan_id, step.seq, review.owner, actor, now, review.note)
    if review.root_cause:
        if plan.subject_type != "incident":
            raise PlanActionError("a root cause is recorded on an incident's plan")
        incident = session.get(Incident, plan.subject_id)
        if incident is not None:
            incident.root_cause = review.root_cause
        _event(session, plan, "root_cause", actor, now, note=review.root_cause)
    if review.approve:
        plan.approved_by, plan.approved_at = actor, now
        _event(session, plan, "approve", actor, now, note=review.note)


def list_plans(session: Session, *, status: str | None = "open", team: str | None = None,
               owner: str | None = None) -> list[Plan]:
    """Plans by status (open by default), team and owner of an open step, earliest due first."""
    stmt = select(Plan).order_by(Plan.due_at, Plan.id)
    if status:
        stmt = stmt.where(Plan.status == status)
    if team:
        stmt = stmt.where(Plan.team == team)
    if owner:
        stmt = stmt.where(Plan.id.in_(select(PlanStep.plan_id).where(PlanStep.owner == owner,
                                                                     PlanStep.status.in_(STEP_OPEN))))
    return list(session.execute(stmt).scalars())


def plan_events(session: Session, plan_id: int) -> list[PlanEvent]:
    """The plan's history, in the order it happened."""
    return list(session.execute(select(PlanEvent).where(PlanEvent.plan_id == plan_id)
                                .order_by(PlanEvent.at, PlanEvent.id)).scalars())
