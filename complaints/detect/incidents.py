"""Incident lifecycle and figures: members, severity P1-P3 with reasons, status transitions.

open -> investigating -> remediating -> resolved -> closed. New complaints join while the incident
is active (open, investigating, remediating). Closing happens only through the incident's plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from complaints.core.config import IncidentSeverityRules
from complaints.core.models import Complaint, Incident, Plan, utcnow
from complaints.core.statuses import INCIDENT_ACTIVE, IncidentStatus
from complaints.detect.signatures import Item

S = IncidentStatus
ACTIVE = INCIDENT_ACTIVE
STATUSES = tuple(IncidentStatus)
TRANSITIONS: dict[str, frozenset[str]] = {
    S.open: frozenset({S.investigating, S.remediating, S.resolved}),
    S.investigating: frozenset({S.remediating, S.resolved}),
    S.remediating: frozenset({S.investigating, S.resolved}),
    S.resolved: frozenset({S.closed, S.investigating}),  # reopened when the problem comes back
    S.closed: frozenset(),
}
LEVELS = ("P3", "P2", "P1")


class TransitionError(ValueError):
    """A status change the lifecycle does not allow."""


def assess(rules: IncidentSeverityRules, category: str, members: list[Item]) -> tuple[str, list[str]]:
    """Severity from distinct users, raised one level by each of: growth in the last hour, amount at
    risk, share of threat/regulator complaints, account-security involvement. Returns (level, reasons)."""
    users = {m.user for m in members}
    level = 2 if len(users) >= rules.p1_users else 1 if len(users) >= rules.p2_users else 0
    reasons = [f"{len(users)} distinct users"]
    last = max(m.at for m in members)
    recent = {m.user for m in members if m.at > last - timedelta(hours=1)}
    amount = sum((m.amount or Decimal(0) for m in members), Decimal(0))
    threat_share = sum(m.threat for m in members) / len(members)
    raises = [
        (len(recent) >= rules.growth_users_per_hour, f"growth: {len(recent)} users in the last hour"),
        (amount >= Decimal(str(rules.amount_at_risk)), f"amount at risk {amount:.2f}"),
        (threat_share >= rules.threat_share and threat_share > 0,
         f"{threat_share:.0%} threaten media/court/regulator or came via a regulator"),
        (category in rules.security_categories, f"account security ({category})"),
    ]
    for holds, why in raises:
        if holds:
            level = min(level + 1, 2)
            reasons.append(why)
    return LEVELS[level], reasons


def members_of(session: Session, incident: Incident) -> list[Complaint]:
    """The incident's complaints, oldest first."""
    return list(session.execute(
        select(Complaint).where(Complaint.incident_id == incident.id).order_by(Complaint.received_at, Complaint.id)
    ).scalars())


@dataclass(frozen=True)
class Figures:
    """An incident's counts, dates, amount and severity, as computed from its members."""

    user_count: int
    complaint_count: int
    first_complaint_at: datetime
    last_complaint_at: datetime
    amount_at_risk: Decimal
    severity: str
    severity_reasons: list[str] | None  # None: severity kept from before, with its reasons


def figures(rules: IncidentSeverityRules, category: str, severity: str, members: list[Item]) -> Figures:
    """Figures from the members; severity is never lowered automatically (ops decide that)."""
    level, reasons = assess(rules, category, members)
    kept = LEVELS.index(level) < LEVELS.index(severity)
    return Figures(
        user_count=len({m.user for m in members}), complaint_count=len(members),
        first_complaint_at=min(m.at for m in members), last_complaint_at=max(m.at for m in members),
        amount_at_risk=sum((m.amount or Decimal(0) for m in members), Decimal(0)),
        severity=severity if kept else level, severity_reasons=None if kept else reasons,
    )


@dataclass(frozen=True)
class Transition:
    incident_id: int
    from_status: str
    to_status: str
    at: datetime


def transition(
    session: Session, incident: Incident, to_status: str, note: str, *, plan: Plan | None = None,
    at: datetime | None = None,
) -> Transition:
    """Move an incident along its lifecycle, recording who-knows-why in its history.

    Closing needs the incident's own plan, closed: incidents close only through their plan.
    """
    if to_status not in STATUSES:
        raise TransitionError(f"unknown status {to_status!r}; expected one of {list(STATUSES)}")
    if to_status not in TRANSITIONS[incident.status]:
        raise TransitionError(f"incident {incident.id}: {incident.status} -> {to_status} is not allowed")
    if to_status == "closed" and (
        plan is None or (plan.subject_type, plan.subject_id) != ("incident", incident.id) or plan.closed_at is None
    ):
        raise TransitionError(f"incident {incident.id}: closes only through its own closed plan")
    at = at or utcnow()
    change = Transition(incident.id, incident.status, to_status, at)
    if to_status == "resolved":
        incident.resolved_at = at
    elif to_status in ACTIVE:
        incident.resolved_at = None
    incident.status = to_status
    incident.history = [*incident.history, {"at": at.isoformat(), "from": change.from_status, "to": to_status,
                                            "note": note}]
    session.flush()
    return change
