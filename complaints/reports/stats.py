"""Headline counts for `complaints stats` (canonical complaints; duplicates counted apart)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from complaints.core.models import (
    Complaint,
    ComplaintSimilarity,
    DuplicateLink,
    Incident,
    Notification,
    Plan,
    PlanStep,
    QuarantinedRecord,
    Report,
)
from complaints.core.statuses import STEP_OPEN
from complaints.process.stage import held_count


def _grouped(session: Session, column: Any, *where: Any) -> dict[str, int]:
    rows = session.execute(select(column, func.count()).where(*where).group_by(column)).all()
    return {str(k) if k is not None else "unclassified": n for k, n in sorted(rows, key=lambda r: str(r[0]))}


def _count(session: Session, model: Any, *where: Any) -> int:
    return session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def stats(session: Session, now: datetime) -> dict[str, Any]:
    """Counts across the database: complaints, incidents, plans, notifications and reports, with breakdowns."""
    canonical = Complaint.duplicate_of_id.is_(None)
    return {
        "complaints": _count(session, Complaint, canonical),
        "records": _count(session, Complaint),
        "duplicates": _count(session, DuplicateLink),
        # keyless complaints whose text is close to an earlier one's: canonical, distinct users, shown in exports
        "similar": _count(session, ComplaintSimilarity),
        "quarantined": _count(session, QuarantinedRecord, QuarantinedRecord.replayed_at.is_(None)),
        "unprocessed": _count(session, Complaint, Complaint.processed_at.is_(None)),
        # ... of which held out of processing (complaints.process.stage) until ops release them
        "held": held_count(session),
        "by_category": _grouped(session, Complaint.category, canonical),
        "by_severity": _grouped(session, Complaint.severity, canonical),
        "by_channel": _grouped(session, Complaint.channel, canonical),
        "incidents": _count(session, Incident),
        "incidents_by_status": _grouped(session, Incident.status),
        "plans": _count(session, Plan),
        "plan_steps": _count(session, PlanStep),
        "overdue_steps": _count(session, PlanStep, PlanStep.status.in_(STEP_OPEN), PlanStep.due_at < now),
        "notifications": _grouped(session, Notification.status),
        "notifications_by_kind": _grouped(session, Notification.kind),
        "reports": _count(session, Report),
    }
