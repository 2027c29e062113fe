"""Plans: an investigation and remediation plan with owners and deadlines for every incident and
every serious complaint; escalation of overdue steps up the chain, once per level."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from complaints.config import AppConfig, SlaTarget, Team
from complaints.db import insert_ignore
from complaints.models import Complaint, Escalation, Incident, Plan, PlanStep

OPEN_STEP = ("pending", "in_progress")


@dataclass
class PlanSummary:
    created: list[int] = field(default_factory=list)
    steps: int = 0


@dataclass
class EscalationNotice:
    step_id: int
    plan_id: int
    level: int
    from_owner: str
    to_owner: str
    step_title: str
    due_at: datetime
    reason: str
    subject_ref: str  # I00000012 for an incident, C00000034 for a complaint
    subject_title: str = ""


def route(cfg: AppConfig, category: str, severity: str | None) -> tuple[str, Team]:
    """First route matching category (and severity when the route names one), else the default team."""
    for r in cfg.routing.routes:
        if r.category == category and (r.severity is None or r.severity == severity):
            return r.team, cfg.routing.teams[r.team]
    return cfg.routing.default_team, cfg.routing.teams[cfg.routing.default_team]


def sla_target(cfg: AppConfig, severity: str | None, channel: str | None) -> SlaTarget:
    """The strictest applicable target: channel and severity rules can both shorten the default."""
    targets = [cfg.sla.default, cfg.sla.by_severity.get(severity or ""), cfg.sla.by_channel.get(channel or "")]
    present = [t for t in targets if t is not None]
    return min(present, key=lambda t: (t.resolve_days, t.acknowledge_business_days))


def _open_load(session: Session) -> Counter[str]:
    rows = session.execute(
        select(PlanStep.owner, func.count()).where(PlanStep.status.in_(OPEN_STEP)).group_by(PlanStep.owner)
    ).all()
    return Counter(dict(rows))


def _subjects(session: Session, cfg: AppConfig) -> list[tuple[str, int, str, str | None, str | None, datetime]]:
    """(type, id, category, severity, channel, clock start) of everything that needs a plan and has none."""
    planned_incidents = select(Plan.subject_id).where(Plan.subject_type == "incident")
    planned_complaints = select(Plan.subject_id).where(Plan.subject_type == "complaint")
    incidents = session.execute(
        select(Incident).where(Incident.id.not_in(planned_incidents)).order_by(Incident.id)
    ).scalars()
    complaints = session.execute(
        select(Complaint)
        .where(
            Complaint.duplicate_of_id.is_(None),
            Complaint.incident_id.is_(None),  # the incident's plan covers its members
            Complaint.severity.in_(cfg.plans.plan_severities),
            Complaint.id.not_in(planned_complaints),
        )
        .order_by(Complaint.id)
    ).scalars()
    severity_of = {"P1": "critical", "P2": "major", "P3": "major"}
    return [("incident", i.id, i.category, severity_of[i.severity], None, i.detected_at) for i in incidents] + [
        ("complaint", c.id, c.category or cfg.taxonomy.fallback, c.severity, c.channel, c.received_at)
        for c in complaints
    ]


def create_plans(session: Session, cfg: AppConfig) -> PlanSummary:
    """Create missing plans. The unique (subject_type, subject_id) key makes re-runs and
    overlapping runs create each plan once; steps are added only by the run that created it."""
    summary = PlanSummary()
    load = _open_load(session)
    for subject_type, subject_id, category, severity, channel, start in _subjects(session, cfg):
        template_name = category if category in cfg.plans.templates else cfg.plans.default_template
        team_name, team = route(cfg, category, severity)
        target = sla_target(cfg, severity, channel)
        inserted = insert_ignore(
            session,
            Plan,
            [
                {
                    "subject_type": subject_type,
                    "subject_id": subject_id,
                    "category": category,
                    "template": template_name,
                    "team": team_name,
                    "status": "open",
                    "created_at": start,
                    "due_at": start + timedelta(days=target.resolve_days),
                }
            ],
            returning=(Plan.id,),
        )
        if not inserted:
            continue
        plan_id = inserted[0].id
        steps = []
        for seq, step in enumerate(cfg.plans.templates[template_name], start=1):
            if step.role == "lead":
                owner = team.lead
            else:
                # Balance open steps across the roster: the member with the fewest takes it.
                owner = min(team.members, key=lambda m: (load[m], team.members.index(m)))
            load[owner] += 1
            steps.append(
                {"plan_id": plan_id, "seq": seq, "title": step.title, "owner": owner,
                 "due_at": start + timedelta(hours=step.due_hours), "status": "pending", "escalation_level": 0}
            )
        insert_ignore(session, PlanStep, steps)
        summary.created.append(plan_id)
        summary.steps += len(steps)
    return summary


def escalation_chain(cfg: AppConfig, team_name: str, first_owner: str) -> list[str]:
    """Owner, team lead, then the configured chain; level n of an escalation is entry n."""
    team = cfg.routing.teams.get(team_name) or cfg.routing.teams[cfg.routing.default_team]
    return [first_owner, team.lead, *cfg.routing.escalation_chain]


def escalate_overdue(session: Session, cfg: AppConfig, now: datetime) -> list[EscalationNotice]:
    """Move each overdue open step one level up its chain. Level n is due at
    due_at + (n-1) * escalate_every_hours; the unique (step, level) row makes it happen once."""
    every = timedelta(hours=cfg.routing.escalate_every_hours)
    notices: list[EscalationNotice] = []
    rows = session.execute(
        select(PlanStep, Plan)
        .join(Plan, Plan.id == PlanStep.plan_id)
        .where(Plan.status == "open", PlanStep.status.in_(OPEN_STEP), PlanStep.due_at < now)
        .order_by(PlanStep.id)
    ).all()
    for step, plan in rows:
        chain = escalation_chain(cfg, plan.team, step.owner)
        level = step.escalation_level + 1
        if level >= len(chain) or now < step.due_at + (level - 1) * every:
            continue
        reason = f"overdue since {step.due_at.isoformat()}"
        inserted = insert_ignore(
            session,
            Escalation,
            [{"step_id": step.id, "level": level, "from_owner": step.owner, "to_owner": chain[level],
              "reason": reason, "created_at": now}],
            returning=(Escalation.id,),
        )
        if not inserted:
            continue
        ref = f"{'I' if plan.subject_type == 'incident' else 'C'}{plan.subject_id:08d}"
        notices.append(EscalationNotice(step.id, plan.id, level, step.owner, chain[level], step.title, step.due_at,
                                        reason, ref))
        step.owner, step.escalation_level = chain[level], level
    _add_titles(session, notices)
    return notices


def _add_titles(session: Session, notices: list[EscalationNotice]) -> None:
    """Subject titles for the emails, two queries for the whole batch."""
    ids = {kind: {int(n.subject_ref[1:]) for n in notices if n.subject_ref[0] == kind} for kind in "IC"}
    titles = {f"I{i:08d}": t for i, t in session.execute(
        select(Incident.id, Incident.title).where(Incident.id.in_(ids["I"])))}
    titles |= {f"C{i:08d}": t or "" for i, t in session.execute(
        select(Complaint.id, Complaint.title).where(Complaint.id.in_(ids["C"])))}
    for n in notices:
        n.subject_title = titles.get(n.subject_ref, "")

