"""Exports for sharing: personal data masked, spreadsheet formulas neutralised."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import IO, Any, Literal

from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session

from complaints.core.models import Complaint, ComplaintSimilarity, Incident, Plan, PlanStep
from complaints.core.pii import mask_text

Kind = Literal["complaints", "incidents", "plans"]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

COLUMNS: dict[str, tuple[str, ...]] = {
    "complaints": ("id", "source", "external_id", "received_at", "channel", "channels", "customer_ref",
                   "contact_masked", "title", "body", "amount", "currency", "merchant", "product", "region",
                   "language", "category", "severity", "severity_reasons", "status", "duplicate_of_id",
                   "similar_to_id", "incident_id"),
    "incidents": ("id", "signature", "title", "category", "severity", "status", "detected_at",
                  "first_complaint_at", "last_complaint_at", "user_count", "complaint_count", "amount_at_risk",
                  "reason", "root_cause", "resolved_at"),
    "plans": ("plan_id", "subject_type", "subject_id", "category", "team", "plan_status", "plan_due_at", "seq",
              "step", "owner", "step_due_at", "step_status", "escalation_level"),
}
# Free text from users or sources: any of it may quote a phone, card or ID number (a merchant named after its
# owner's mobile, a phrase in an incident's reason).
MASKED = {"customer_ref", "title", "body", "root_cause", "merchant", "product", "region", "signature", "reason"}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, list):
        return [_masked(v) for v in value]
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    return value


def rows(session: Session, kind: Kind, batch: int = 2000) -> Iterator[dict[str, Any]]:
    """Stream rows (masked) in id order without loading the table into memory."""
    if kind == "plans":
        stmt = select(Plan, PlanStep).join(PlanStep, PlanStep.plan_id == Plan.id).order_by(Plan.id, PlanStep.seq)
        for plan, step in session.execute(stmt.execution_options(yield_per=batch)):
            yield {"plan_id": plan.id, "subject_type": plan.subject_type, "subject_id": plan.subject_id,
                   "category": plan.category, "team": plan.team, "plan_status": plan.status,
                   "plan_due_at": _plain(plan.due_at), "seq": step.seq, "step": step.title, "owner": step.owner,
                   "step_due_at": _plain(step.due_at), "step_status": step.status,
                   "escalation_level": step.escalation_level}
        return
    if kind == "complaints":
        # A keyless complaint close to an earlier one's text (complaints.process.dedupe): not a duplicate, shown.
        stmt = select(Complaint, ComplaintSimilarity.similar_id.label("similar_to_id")).outerjoin(
            ComplaintSimilarity, ComplaintSimilarity.complaint_id == Complaint.id).order_by(Complaint.id)
    else:
        stmt = select(Incident, literal(None).label("similar_to_id")).order_by(Incident.id)
    for obj, similar_to in session.execute(stmt.execution_options(yield_per=batch)):
        row = {c: _plain(similar_to if c == "similar_to_id" else getattr(obj, c)) for c in COLUMNS[kind]}
        for c in MASKED & row.keys():
            row[c] = _masked(row[c])
        yield row


def neutralise(value: Any) -> Any:
    """A cell starting with = + - @ would run as a formula in Excel: prefix it with a quote."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def count(session: Session, kind: Kind) -> int:
    """How many rows an export of this kind will write (for the progress bar)."""
    model = {"complaints": Complaint, "incidents": Incident, "plans": PlanStep}[kind]
    return session.execute(select(func.count()).select_from(model)).scalar_one()


def write(session: Session, kind: Kind, fmt: Literal["jsonl", "csv"], out: IO[str],
          advance: Callable[[], object] | None = None) -> int:
    """Write every row; `advance` is called once per row (a progress bar)."""
    n = 0
    writer = csv.DictWriter(out, fieldnames=COLUMNS[kind]) if fmt == "csv" else None
    if writer:
        writer.writeheader()
    for row in rows(session, kind):
        if writer:
            writer.writerow({k: neutralise(json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v)
                             for k, v in row.items()})
        else:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        n += 1
        if advance:
            advance()
    return n
