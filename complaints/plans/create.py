"""Plans: an investigation and remediation plan with owners and deadlines for every incident and
every serious complaint; at-risk warnings and escalation of overdue steps up the chain, once per level."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from complaints.core.bulk import chunks, expire_loaded, rows_by_id, update_by_id
from complaints.core.business_time import BusinessCalendar
from complaints.core.config import AppConfig, SlaConfig, SlaTarget, Team
from complaints.core.db import insert_ignore
from complaints.core.models import (
    Complaint,
    ComplaintClock,
    Escalation,
    Incident,
    Plan,
    PlanEvent,
    PlanStep,
    utcnow,
)
from complaints.core.statuses import CLOCK_RUNNING, STEP_OPEN

PLAN_CHUNK = 20_000  # subjects planned per statement batch
ESCALATE_CHUNK = 50_000  # open steps read and escalated per batch
INCIDENT_SEVERITY = {"P1": "critical", "P2": "major", "P3": "major"}
SYSTEM = "system"
# Steps of these kinds lead to the final answer, so they are never due after its deadline.
BEFORE_ANSWER = ("task", "feedback")
_EPOCH_MONDAY = date(1970, 1, 5)


@dataclass
class PlanSummary:
    created: list[int] = field(default_factory=list)
    steps: int = 0
    queued: int = 0  # complaints without a plan of their own given a team, an owner and an answer deadline


@dataclass
class EscalationNotice:
    """An escalation (level >= 1, to the next owner) or an at-risk warning (level 0, to the owner)."""

    step_id: int
    plan_id: int
    level: int
    from_owner: str
    to_owner: str
    step_title: str
    due_at: datetime
    reason: str
    subject_ref: str  # I00000012 for an incident, C00000034 for a complaint
    kind: str = "overdue"  # overdue | at_risk
    subject_title: str = ""


@dataclass(frozen=True)
class Subject:
    """Something that needs a plan, with what routing and the SLA look at."""

    type: str  # incident | complaint
    id: int
    category: str
    severity: str | None
    channel: str | None
    merchant: str | None
    region: str | None
    clock_start: datetime


def subject_ref(subject_type: str, subject_id: int) -> str:
    """The reference of a plan's subject: I for an incident, C for a complaint, then the zero-padded id."""
    return f"{'I' if subject_type == 'incident' else 'C'}{subject_id:08d}"


# --- routing ----------------------------------------------------------------------------------


def route(cfg: AppConfig, subject: Subject) -> tuple[str, Team]:
    """First route whose named fields all match the subject, else the default team."""
    for r in cfg.routing.routes:
        wanted = {"category": r.category, "severity": r.severity, "merchant": r.merchant, "region": r.region}
        if all(v is None or getattr(subject, k) == v for k, v in wanted.items()):
            return r.team, cfg.routing.teams[r.team]
    return cfg.routing.default_team, cfg.routing.teams[cfg.routing.default_team]


def roster(team: Team, day: date) -> list[str]:
    """The team's members in this ISO week's order: the list rotates by one each week, so the
    first entry is the week's on-call."""
    shift = ((day - _EPOCH_MONDAY).days // 7) % len(team.members)
    return team.members[shift:] + team.members[:shift]


# --- SLA --------------------------------------------------------------------------------------


def sla_target(sla: SlaConfig, severity: str | None, channel: str | None) -> SlaTarget:
    """The rules for the subject's severity and channel replace the default; when both apply,
    the stricter value of each field wins (same rule as the acknowledgement emails)."""
    rules = [t for t in (sla.by_severity.get(severity or ""), sla.by_channel.get(channel or "")) if t]
    if not rules:
        return sla.default
    responds = [t.respond_days for t in rules if t.respond_days is not None]
    return SlaTarget(
        acknowledge_business_days=min(t.acknowledge_business_days for t in rules),
        resolve_days=min(t.resolve_days for t in rules),
        respond_days=min(responds) if responds else None,
        extension_days=min(t.extension_days for t in rules),
        max_extensions=min(t.max_extensions for t in rules),
    )


# --- creation ---------------------------------------------------------------------------------


def _open_load(session: Session) -> Counter[str]:
    rows = session.execute(
        select(PlanStep.owner, func.count()).where(PlanStep.status.in_(STEP_OPEN)).group_by(PlanStep.owner)
    ).all()
    return Counter(dict(rows))


def _signature_fields(signature: str) -> dict[str, str]:
    """category=x|merchant=y -> {...}; '*' marks a field the detector saw empty."""
    pairs = (part.split("=", 1) for part in signature.split("|") if "=" in part)
    return {k: v for k, v in pairs if v != "*"}


def _subjects(session: Session, cfg: AppConfig) -> list[Subject]:
    """Everything that needs a plan and has none."""
    planned_incidents = select(Plan.subject_id).where(Plan.subject_type == "incident")
    planned_complaints = select(Plan.subject_id).where(Plan.subject_type == "complaint")
    incidents = session.execute(
        select(Incident).where(Incident.id.not_in(planned_incidents)).order_by(Incident.id)
    ).scalars()
    complaints = session.execute(
        select(Complaint.id, Complaint.category, Complaint.severity, Complaint.channel, Complaint.merchant,
               Complaint.region, Complaint.received_at)
        .where(
            Complaint.duplicate_of_id.is_(None),
            Complaint.incident_id.is_(None),  # the incident's plan covers its members
            Complaint.severity.in_(cfg.plans.plan_severities),
            Complaint.id.not_in(planned_complaints),
        )
        .order_by(Complaint.id)
    )
    out = []
    for i in incidents:
        sig = _signature_fields(i.signature)
        out.append(Subject("incident", i.id, i.category, INCIDENT_SEVERITY[i.severity], None,
                           sig.get("merchant"), sig.get("region"), i.detected_at))
    out += [
        Subject("complaint", c.id, c.category or cfg.taxonomy.fallback, c.severity, c.channel, c.merchant, c.region,
                c.received_at)
        for c in complaints
    ]
    return out


def create_plans(session: Session, cfg: AppConfig, now: datetime | None = None) -> PlanSummary:
    """Create missing plans, steps assigned by the roster of the week of `now` (default: the present).
    The unique (subject_type, subject_id) key makes re-runs and overlapping runs create each plan
    once; steps are added only by the run that created it, and a closed plan is never touched again."""
    summary = PlanSummary()
    now = now or utcnow()
    load = _open_load(session)
    cal = BusinessCalendar(cfg.sla)
    week_day = now.astimezone(cal.tz).date()
    share = cfg.routing.at_risk_share
    # A chunk of subjects at a time: memory stays flat on a backlog of hundreds of thousands.
    for chunk in chunks(_subjects(session, cfg), PLAN_CHUNK):
        pending: dict[tuple[str, int], tuple[Subject, str, str, Team, datetime]] = {}
        plan_rows = []
        for subject in chunk:
            template_name = subject.category if subject.category in cfg.plans.templates else cfg.plans.default_template
            team_name, team = route(cfg, subject)
            target = sla_target(cfg.sla, subject.severity, subject.channel)
            start = subject.clock_start
            final_due = start + timedelta(days=target.resolve_days)
            pending[subject.type, subject.id] = (subject, template_name, team_name, team, final_due)
            plan_rows.append({
                "subject_type": subject.type, "subject_id": subject.id, "category": subject.category,
                "template": template_name, "team": team_name, "status": "open", "created_at": start,
                "due_at": final_due, "severity": subject.severity, "channel": subject.channel,
                "ack_due_at": cal.add_business_days(start, target.acknowledge_business_days),
                "respond_due_at": start + timedelta(days=target.respond_days) if target.respond_days else None,
                "extensions": 0,
            })
        # One statement for every plan; a plan another run created meanwhile is skipped with its steps.
        inserted = insert_ignore(session, Plan, plan_rows, returning=(Plan.id, Plan.subject_type, Plan.subject_id))
        plan_ids = {(r.subject_type, r.subject_id): r.id for r in inserted}
        steps: list[dict[str, object]] = []
        events: list[dict[str, Any]] = []
        for key, (subject, template_name, team_name, team, final_due) in pending.items():
            plan_id = plan_ids.get(key)
            if plan_id is None:
                continue
            start = subject.clock_start
            order = roster(team, week_day)
            templates = cfg.plans.templates[template_name]
            for seq, tmpl in enumerate(templates, start=1):
                # Balance open steps across the roster; ties go to the earlier in this week's order.
                owner = team.lead if tmpl.role == "lead" else min(order, key=lambda m: (load[m], order.index(m)))
                load[owner] += 1
                due = cal.due(start, tmpl.due, tmpl.unit)
                if tmpl.kind in BEFORE_ANSWER:
                    due = min(due, final_due)
                steps.append({
                    "plan_id": plan_id, "seq": seq, "title": tmpl.title, "owner": owner, "due_at": due,
                    "status": "pending", "escalation_level": 0, "kind": tmpl.kind, "unit": tmpl.unit,
                    "warn_at": cal.share_point(start, due, share, tmpl.unit),
                })
            events.append({"plan_id": plan_id, "at": now, "actor": SYSTEM, "action": "created",
                           "detail": {"template": template_name, "team": team_name, "on_call": order[0],
                                      "due_at": final_due.isoformat()}})
            summary.created.append(plan_id)
            summary.steps += len(templates)
        insert_ignore(session, PlanStep, steps)
        insert_events(session, events)
    summary.queued = assign_queues(session, cfg, now, load)
    return summary


def _earliest_clocks(session: Session, ids: list[int]) -> dict[int, datetime]:
    rows = session.execute(
        select(ComplaintClock.complaint_id, func.min(ComplaintClock.due_at))
        .where(ComplaintClock.complaint_id.in_(ids), ComplaintClock.status.in_(CLOCK_RUNNING))
        .group_by(ComplaintClock.complaint_id)
    ).all()
    return dict(rows)  # type: ignore[arg-type]


def assign_queues(session: Session, cfg: AppConfig, now: datetime, load: Counter[str] | None = None) -> int:
    """Give every classified complaint that has no plan of its own and is in no incident (the minor ones) its
    team's queue: the team by routing.yaml, the roster member with the fewest open items (plan steps and queued
    complaints not yet due) as owner, and the answer deadline: the SLA's resolve_days from receipt, or the earliest
    running statutory clock when that is sooner. Each complaint once (owner IS NULL); returns how many."""
    session.flush()
    load = load if load is not None else _open_load(session)
    load.update(dict(session.execute(  # type: ignore[arg-type]
        select(Complaint.owner, func.count())
        .where(Complaint.owner.is_not(None), Complaint.answer_due_at >= now)
        .group_by(Complaint.owner)
    ).all()))
    week_day = now.astimezone(BusinessCalendar(cfg.sla).tz).date()
    planned = select(Plan.subject_id).where(Plan.subject_type == "complaint")
    query = (
        select(Complaint.id, Complaint.category, Complaint.severity, Complaint.channel, Complaint.merchant,
               Complaint.region, Complaint.received_at)
        .where(Complaint.owner.is_(None), Complaint.severity.is_not(None), Complaint.duplicate_of_id.is_(None),
               Complaint.incident_id.is_(None), Complaint.id.not_in(planned))
        .order_by(Complaint.id)
    )
    assigned = 0
    for rows in chunks(list(session.execute(query)), PLAN_CHUNK):
        clocks = _earliest_clocks(session, [r.id for r in rows])
        updates = []
        for r in rows:
            subject = Subject("complaint", r.id, r.category or cfg.taxonomy.fallback, r.severity, r.channel,
                              r.merchant, r.region, r.received_at)
            team_name, team = route(cfg, subject)
            order = roster(team, week_day)
            owner = min(order, key=lambda m: (load[m], order.index(m)))
            load[owner] += 1
            due = r.received_at + timedelta(days=sla_target(cfg.sla, r.severity, r.channel).resolve_days)
            clock_due = clocks.get(r.id)
            updates.append({"_id": r.id, "team": team_name, "owner": owner,
                            "answer_due_at": min(due, clock_due) if clock_due else due})
        update_by_id(session, Complaint.__table__, updates)
        assigned += len(updates)
    for obj in list(session.identity_map.values()):  # loaded complaints show their queue (and only that reloads)
        if isinstance(obj, Complaint) and obj.owner is None:
            session.expire(obj, ["team", "owner", "answer_due_at"])
    return assigned


def insert_events(session: Session, events: list[dict[str, Any]]) -> None:
    """Plan events have no unique key, so nothing is ignored: insert_ignore for its COPY path on PostgreSQL."""
    insert_ignore(session, PlanEvent, events)


# --- escalation -------------------------------------------------------------------------------


def escalation_chain(cfg: AppConfig, team_name: str, first_owner: str) -> list[str]:
    """Owner, team lead, then the configured chain; level n of an escalation is entry n."""
    team = cfg.routing.teams.get(team_name) or cfg.routing.teams[cfg.routing.default_team]
    return [first_owner, team.lead, *cfg.routing.escalation_chain]


@dataclass(frozen=True)
class _Move:
    """An escalation about to be recorded: a step (a row of _STEP_COLUMNS) going to `level`."""

    step: Any
    level: int
    to_owner: str
    kind: str  # overdue | at_risk
    reason: str


_STEP_COLUMNS = (PlanStep.id, PlanStep.plan_id, PlanStep.owner, PlanStep.title, PlanStep.due_at,
                 PlanStep.escalation_level, Plan.team, Plan.subject_type, Plan.subject_id)


def _record(session: Session, moves: list[_Move], now: datetime) -> list[EscalationNotice]:
    """One escalation row per (step, level), all in one statement: what a second run, or an overlapping one,
    inserted already is skipped. Then the plan events and the steps' new owners for those inserted."""
    inserted = {(r.step_id, r.level) for r in insert_ignore(session, Escalation, [
        {"step_id": m.step.id, "level": m.level, "from_owner": m.step.owner, "to_owner": m.to_owner,
         "reason": m.reason, "created_at": now, "kind": m.kind} for m in moves
    ], returning=(Escalation.step_id, Escalation.level))}
    done = [m for m in moves if (m.step.id, m.level) in inserted]
    insert_events(session, [
        {"plan_id": m.step.plan_id, "step_id": m.step.id, "at": now, "actor": SYSTEM,
         "action": "escalated" if m.kind == "overdue" else "warned", "note": m.reason,
         "detail": {"level": m.level, "from": m.step.owner, "to": m.to_owner, "due_at": m.step.due_at.isoformat()}}
        for m in done])
    update_by_id(session, PlanStep.__table__, [
        {"_id": m.step.id, "owner": m.to_owner, "escalation_level": m.level} for m in done if m.kind == "overdue"])
    expire_loaded(session, PlanStep)
    return [EscalationNotice(m.step.id, m.step.plan_id, m.level, m.step.owner, m.to_owner, m.step.title,
                             m.step.due_at, m.reason, subject_ref(m.step.subject_type, m.step.subject_id), m.kind)
            for m in done]


def escalate_overdue(session: Session, cfg: AppConfig, now: datetime) -> list[EscalationNotice]:
    """Warn the owners of at-risk steps once, and move each overdue open step up its chain.
    Level n is due at due_at + (n-1) * escalate_every_hours: run hourly, that is one level at a time;
    a late or replayed run goes straight to the level due by `now`, so running it again at the same
    `now` changes nothing. The unique (step, level) row makes each happen once (level 0 is the warning)."""
    session.flush()
    every = timedelta(hours=cfg.routing.escalate_every_hours)
    open_steps = (
        select(*_STEP_COLUMNS)
        .join(Plan, Plan.id == PlanStep.plan_id)
        .where(Plan.status == "open", PlanStep.status.in_(STEP_OPEN))
        .order_by(PlanStep.id)
    )
    warned = exists().where(Escalation.step_id == PlanStep.id, Escalation.level == 0)
    notices: list[EscalationNotice] = []
    for steps in _pages(session, open_steps.where(
            PlanStep.warn_at <= now, PlanStep.due_at >= now, PlanStep.escalation_level == 0, ~warned)):
        notices += _record(session, [
            _Move(step, 0, step.owner, "at_risk",
                  f"at risk: {cfg.routing.at_risk_share:.0%} of the time used, due {step.due_at.isoformat()}")
            for step in steps], now)
    for steps in _pages(session, open_steps.where(PlanStep.due_at < now)):
        moves = []
        for step in steps:
            chain = escalation_chain(cfg, step.team, step.owner)
            level = min(len(chain) - 1, 1 + int((now - step.due_at) / every))
            if level > step.escalation_level:
                moves.append(_Move(step, level, chain[level], "overdue", f"overdue since {step.due_at.isoformat()}"))
        notices += _record(session, moves, now)
    _add_titles(session, notices)
    return notices


def _pages(session: Session, query: Any) -> Iterator[list[Any]]:
    """The rows of a query ordered by PlanStep.id, ESCALATE_CHUNK at a time (keyset pages: escalating the
    rows of one page changes nothing the next pages select)."""
    last = 0
    while rows := session.execute(query.where(PlanStep.id > last).limit(ESCALATE_CHUNK)).all():
        yield rows
        last = rows[-1].id


def _add_titles(session: Session, notices: list[EscalationNotice]) -> None:
    """Subject titles for the emails: two reads by id for the whole batch (id lists as one array on PostgreSQL)."""
    ids = {kind: {int(n.subject_ref[1:]) for n in notices if n.subject_ref[0] == kind} for kind in "IC"}
    titles = {f"I{r.id:08d}": r.title for r in rows_by_id(session, (Incident.id, Incident.title), ids["I"])}
    titles |= {f"C{r.id:08d}": r.title or "" for r in rows_by_id(session, (Complaint.id, Complaint.title), ids["C"])}
    for n in notices:
        n.subject_title = titles.get(n.subject_ref, "")
