"""Detect collective complaints (集体投诉): many distinct users on one problem signature in a window.

Simple, explainable rule (thresholds in detection.yaml): a signature (category plus the entities
in group_by) becomes an incident when at least min_distinct_users different users complain
within window_hours. Complaints of an open incident's signature join it. Deterministic: the same
complaints give the same incident keys, so re-runs and backfills create nothing twice.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from complaints.config import DetectionConfig, TaxonomyConfig
from complaints.db import insert_ignore
from complaints.dedupe import person_key
from complaints.models import Complaint, Incident, utcnow

ACTIVE = ("open", "investigating", "remediating")


@dataclass
class DetectSummary:
    opened: list[int] = field(default_factory=list)
    grown: list[int] = field(default_factory=list)
    linked: int = 0


def signature(c: Complaint, group_by: list[str]) -> str:
    return "|".join(f"{f}={getattr(c, f) or '*'}" for f in group_by)


def user_of(c: Complaint) -> str:
    return person_key(c) or f"anonymous:{c.id}"


def incident_severity(cfg: DetectionConfig, users: int) -> str:
    return "P1" if users >= cfg.p1_users else "P2" if users >= cfg.p2_users else "P3"


def first_burst(cfg: DetectionConfig, complaints: list[Complaint]) -> tuple[datetime, datetime, int] | None:
    """First window of window_hours holding min_distinct_users users: (start, end, users)."""
    window = timedelta(hours=cfg.window_hours)
    counts: dict[str, int] = defaultdict(int)
    lo = 0
    for c in complaints:
        counts[user_of(c)] += 1
        while c.received_at - complaints[lo].received_at > window:
            u = user_of(complaints[lo])
            counts[u] -= 1
            if not counts[u]:
                del counts[u]
            lo += 1
        if len(counts) >= cfg.min_distinct_users:
            return complaints[lo].received_at, c.received_at, len(counts)
    return None


def detect(
    session: Session, cfg: DetectionConfig, taxonomy: TaxonomyConfig, touched: list[Complaint]
) -> DetectSummary:
    """Check the signatures of newly processed canonical complaints for bursts."""
    summary = DetectSummary()
    window = timedelta(hours=cfg.window_hours)
    sigs: dict[str, list[Complaint]] = defaultdict(list)
    for c in touched:
        if c.duplicate_of_id is None and c.category:
            sigs[signature(c, cfg.group_by)].append(c)
    for sig, members in sorted(sigs.items()):
        lo = min(c.received_at for c in members) - window
        hi = max(c.received_at for c in members) + window
        sample = members[0]
        candidates = _signature_complaints(session, cfg, sample, lo, hi)
        incident = session.execute(
            select(Incident)
            .where(Incident.signature == sig, Incident.status.in_(ACTIVE))
            .order_by(Incident.opened_window.desc())
            .limit(1)
        ).scalar_one_or_none()
        if incident is None:
            burst = first_burst(cfg, candidates)
            if burst is None:
                continue
            incident = _open(session, cfg, taxonomy, sig, sample, burst)
            summary.opened.append(incident.id)
        elif any(c.incident_id is None and c.received_at >= incident.first_complaint_at - window for c in candidates):
            summary.grown.append(incident.id)
        summary.linked += _link(session, cfg, incident, candidates, window)
    return summary


def _signature_complaints(
    session: Session, cfg: DetectionConfig, sample: Complaint, lo: datetime, hi: datetime
) -> list[Complaint]:
    conditions = [getattr(Complaint, f) == getattr(sample, f) if getattr(sample, f) else getattr(Complaint, f).is_(None)
                  for f in cfg.group_by]
    return list(
        session.execute(
            select(Complaint)
            .where(
                *conditions,
                Complaint.duplicate_of_id.is_(None),
                Complaint.received_at >= lo,
                Complaint.received_at <= hi,
            )
            .order_by(Complaint.received_at, Complaint.id)
        ).scalars()
    )


def _open(
    session: Session,
    cfg: DetectionConfig,
    taxonomy: TaxonomyConfig,
    sig: str,
    sample: Complaint,
    burst: tuple[datetime, datetime, int],
) -> Incident:
    start, end, users = burst
    opened_window = start.replace(minute=0, second=0, microsecond=0)
    label = taxonomy.categories[sample.category or taxonomy.fallback]
    entity = " / ".join(str(getattr(sample, f)) for f in cfg.group_by if f != "category" and getattr(sample, f))
    title = f"{label.label_zh} · {label.label_en}" + (f" — {entity}" if entity else "")
    insert_ignore(
        session,
        Incident,
        [
            {
                "signature": sig,
                "opened_window": opened_window,
                "category": sample.category,
                "title": title[:500],
                "severity": incident_severity(cfg, users),
                "status": "open",
                "detected_at": end,
                "first_complaint_at": start,
                "last_complaint_at": end,
                "user_count": users,
                "complaint_count": 0,
                "reason": {
                    "rule": "distinct users in window",
                    "window_hours": cfg.window_hours,
                    "threshold": cfg.min_distinct_users,
                    "observed_users": users,
                    "window_start": start.isoformat(),
                    "window_end": end.isoformat(),
                },
                "updated_at": utcnow(),
            }
        ],
    )
    return session.execute(
        select(Incident).where(Incident.signature == sig, Incident.opened_window == opened_window)
    ).scalar_one()


def _link(session: Session, cfg: DetectionConfig, incident: Incident, candidates: list[Complaint],
          window: timedelta) -> int:
    joined = [c for c in candidates if c.incident_id is None and c.received_at >= incident.first_complaint_at - window]
    for c in joined:
        c.incident_id = incident.id
    session.flush()
    members = session.execute(
        select(Complaint).where(Complaint.incident_id == incident.id)
    ).scalars().all()
    users = {user_of(c) for c in members}
    incident.user_count = len(users)
    incident.complaint_count = len(members)
    incident.first_complaint_at = min(c.received_at for c in members)
    incident.last_complaint_at = max(c.received_at for c in members)
    incident.amount_at_risk = sum((c.amount or Decimal(0) for c in members), Decimal(0))
    new_severity = incident_severity(cfg, len(users))
    if new_severity < incident.severity:  # "P1" < "P2": only ever escalate
        incident.severity = new_severity
        incident.reason = {**incident.reason, "escalated_to": new_severity, "users_at_escalation": len(users)}
    return len(joined)

