"""Incident lifecycle and figures: members, severity P1-P3 with reasons, status transitions.

open -> investigating -> remediating -> resolved -> closed. New complaints join while the incident
is active (open, investigating, remediating). Closing happens only through the incident's plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from complaints.core.config import DetectionConfig, IncidentSeverityRules
from complaints.core.models import Complaint, Incident, Plan, utcnow
from complaints.core.statuses import INCIDENT_ACTIVE, IncidentStatus
from complaints.detect.signatures import Item, item_of

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
SPLIT_MARK = "|split="  # a split-off incident's signature: its origin's, then this and where it came from


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


class MergeError(ValueError):
    """A merge or split ops asked for that cannot be done."""


def history_entry(incident: Incident, action: str, note: str, at: datetime) -> None:
    """Record a merge or split in the incident's history (status unchanged)."""
    incident.history = [*incident.history, {"at": at.isoformat(), "from": incident.status, "to": incident.status,
                                            "action": action, "note": note}]


def record_merge(session: Session, into: Incident, other: Incident, record: dict[str, Any], *, at: datetime,
                 drop: bool) -> None:
    """Other's complaints become into's; into's reason keeps other's signature and evidence (record), and both
    histories say so. drop: other was opened by the same detection run and never announced, so it goes."""
    session.execute(update(Complaint).where(Complaint.incident_id == other.id).values(incident_id=into.id)
                    .execution_options(synchronize_session=False))
    into.reason = {**into.reason, "merged": [*into.reason.get("merged", []), record]}
    why = record.get("note") or "; ".join(record.get("evidence", []))
    history_entry(into, "merge", f"merged incident {other.id} ({other.signature}): {why}", at)
    if drop:
        session.delete(other)
        session.flush()
        return
    other.reason = {**other.reason, "merged_into": into.id}
    other.user_count = other.complaint_count = 0
    note = f"merged into incident {into.id}: {why}"
    if S.resolved in TRANSITIONS[other.status]:
        transition(session, other, S.resolved, note, at=at)
    else:
        history_entry(other, "merge", note, at)
    session.flush()


def refresh(session: Session, rules: IncidentSeverityRules, incident: Incident, date_only: frozenset[str]) -> None:
    """An incident's figures recomputed from its members (after ops moved some); severity never lowered."""
    members = [item_of(c, date_only) for c in members_of(session, incident)]
    if not members:
        incident.user_count = incident.complaint_count = 0
        return
    f = figures(rules, incident.category, incident.severity, members)
    incident.user_count, incident.complaint_count = f.user_count, f.complaint_count
    incident.first_complaint_at, incident.last_complaint_at = f.first_complaint_at, f.last_complaint_at
    incident.amount_at_risk, incident.severity = f.amount_at_risk, f.severity
    if f.severity_reasons is not None:
        incident.reason = {**incident.reason, "severity_reasons": f.severity_reasons}
    session.flush()


def merge_incidents(session: Session, cfg: DetectionConfig, into_id: int, other_id: int, note: str,
                    at: datetime | None = None) -> Incident:
    """Ops merge incident other_id into into_id: its complaints, signature and evidence move; other is resolved
    as merged. Both stay pinned (never merged or split automatically again)."""
    into, other = session.get(Incident, into_id), session.get(Incident, other_id)
    if into is None or other is None:
        raise MergeError(f"no incident {into_id if into is None else other_id}")
    if into.id == other.id or other.reason.get("merged_into") or into.reason.get("merged_into"):
        raise MergeError(f"incidents {into_id} and {other_id}: one is already merged, or they are the same")
    if into.status == S.closed:
        raise MergeError(f"incident {into_id} is closed")
    record = {"incident_id": other.id, "signature": other.signature, "anchor_text": other.anchor_text,
              "at": (at or utcnow()).isoformat(), "evidence": ["merged by hand"], "note": note,
              "extra": [{"signature": m["signature"], "anchor_text": m.get("anchor_text")}
                        for m in other.reason.get("merged", [])]}
    record_merge(session, into, other, record, at=at or utcnow(), drop=False)
    into.reason = {**into.reason, "pinned": True}
    refresh(session, cfg.severity, into, frozenset(cfg.date_only_sources))
    return into


def split_incident(session: Session, cfg: DetectionConfig, incident_id: int, complaint_ids: list[int], note: str,
                   at: datetime | None = None) -> Incident:
    """Ops take these complaints out of an incident into a new one (same category and signature, opened now,
    status open); both are pinned, so detection never merges them back. Returns the new incident."""
    at = at or utcnow()
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise MergeError(f"no incident {incident_id}")
    ids = set(complaint_ids)
    members = {c.id for c in members_of(session, incident)}
    if not ids or not ids <= members or ids == members:
        raise MergeError(f"incident {incident_id}: the complaints to split off must be some, not all, of its "
                         f"{len(members)} complaints (not members: {sorted(ids - members)[:10]})")
    moved = [c for c in members_of(session, incident) if c.id in ids]
    opened = moved[0].received_at.replace(minute=0, second=0, microsecond=0)
    new = Incident(
        signature=f"{incident.signature}{SPLIT_MARK}{incident.id}.{len(incident.history)}"[:300],
        opened_window=opened, category=incident.category, title=f"{incident.title} (split)"[:500],
        severity="P3", status=S.open, detected_at=at, first_complaint_at=moved[0].received_at,
        last_complaint_at=moved[-1].received_at, anchor_text=incident.anchor_text,
        reason={"rule": "split by hand", "split_from": incident.id, "note": note, "pinned": True,
                "signature": incident.signature},
        history=[{"at": at.isoformat(), "from": None, "to": S.open, "action": "split",
                  "note": f"split from incident {incident.id}: {note}"}],
    )
    session.add(new)
    session.flush()
    session.execute(update(Complaint).where(Complaint.id.in_(sorted(ids))).values(incident_id=new.id)
                    .execution_options(synchronize_session=False))
    for c in moved:
        session.expire(c, ["incident_id"])
    history_entry(incident, "split", f"{len(ids)} complaints split off into incident {new.id}: {note}", at)
    incident.reason = {**incident.reason, "pinned": True}
    for inc in (incident, new):
        refresh(session, cfg.severity, inc, frozenset(cfg.date_only_sources))
    return new
