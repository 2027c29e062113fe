"""The process stage over one partition of a batch, and the complaints it holds out.

Dedupe then classify, as before; what is new is what happens when they raise. A complaint whose content makes
dedupe or classification raise (a bug that text or those values trigger) must not stop its partition, the other
partitions or the run's later batches, and must not be retried blindly: it would be the oldest unprocessed
complaint, so every later run would take it into its first batch and fail the same way, forever. It is isolated
by halves and *held out* (held_at, held_reason): every other complaint is processed, ops see it with its reason
(`complaints quarantine held`, the run's state and artifact) and release it once the cause is fixed
(`complaints quarantine release`); the next run processes it then. An error that can heal (a dropped connection,
a locked database) is not a complaint's fault: it is raised for the task to retry, and the partition's
complaints wait for the next run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from complaints.core.bulk import in_conditions, rows_by_id
from complaints.core.config import TaxonomyConfig
from complaints.core.errors import can_heal
from complaints.core.isolate import isolate
from complaints.core.models import Complaint, ComplaintEvent, utcnow
from complaints.core.pii import mask_text
from complaints.process.classify import Categoriser, ClassifySummary, classify_ids
from complaints.process.dedupe import Background, DedupeSummary, dedupe_ids

# More complaints than this failing one by one in a partition is no complaint's fault (a broken model, a bad
# config): the partition fails and waits for the next run instead of holding out a whole batch.
MAX_HELD = 10


class ProcessingError(RuntimeError):
    """Dedupe or classification raised for these complaints; the message is the reason held complaints show."""


@dataclass
class PartitionSummary:
    dedupe: DedupeSummary = field(default_factory=DedupeSummary)
    classify: ClassifySummary = field(default_factory=ClassifySummary)
    held: dict[int, str] = field(default_factory=dict)  # complaint id -> reason

    def add_dedupe(self, d: DedupeSummary) -> None:
        for f in fields(DedupeSummary):
            setattr(self.dedupe, f.name, getattr(self.dedupe, f.name) + getattr(d, f.name))

    def add_classify(self, c: ClassifySummary) -> None:
        self.classify.classified += c.classified
        self.classify.by_category.update(c.by_category)
        self.classify.by_severity.update(c.by_severity)


def _reason(step: str, error: BaseException) -> ProcessingError:
    first = (str(error).strip().splitlines() or [""])[0]
    reason = ProcessingError(mask_text(f"{step} failed: {type(error).__name__}: {first}")[:300])
    reason.__cause__ = error
    return reason


def process_partition(session: Session, taxonomy: TaxonomyConfig, ids: Sequence[int],
                      background: Background | None = None) -> PartitionSummary:
    """Dedupe then classify these complaints (oldest first), each in its own transaction as before; background:
    the batch's bounds for dedupe's word weights (read once, shared by the isolation attempts).

    When either raises an error that cannot heal, the complaints are processed again by halves (the older half
    first; complaints.core.isolate) down to the ones that raise, which are held out with the reason; the rest
    are processed. More than MAX_HELD such complaints, or all of several: the error is raised and none is held.
    An error that can heal is raised at once. Complaints already processed or held (a retried task) are skipped.
    """
    summary = PartitionSummary()
    weights = background or Background()
    state = {r.id: r for r in rows_by_id(session, (Complaint.id, Complaint.processed_at, Complaint.held_at), ids)}
    todo = [i for i in ids if i in state and state[i].processed_at is None and state[i].held_at is None]

    def attempt(part: list[int]) -> BaseException | None:
        # Two transactions, as the stage always had: a long classification does not hold SQLite's write lock
        # taken by dedupe's links. Links dedupe committed before classification failed stay (a re-run of
        # dedupe keeps them: "already linked stays linked").
        # Links are counted once, when committed (a re-run skips them); `checked` counts every attempt.
        step = "dedupe"
        try:
            d = dedupe_ids(session, part, taxonomy.dedupe, weights, Categoriser(session, taxonomy))
            session.commit()
            summary.add_dedupe(d)
            step = "classify"
            c = classify_ids(session, taxonomy, part)
            session.commit()
        except Exception as exc:
            session.rollback()
            if can_heal(exc):
                raise
            return _reason(step, exc)
        summary.add_classify(c)
        return None

    if todo:
        try:
            failed = isolate(todo, attempt, MAX_HELD)
        except ProcessingError as exc:
            raise ProcessingError(f"{exc} (no single complaint's fault: {summary.classify.classified} of {len(todo)} "
                                  "processed, none held, the rest wait for the next run)") from exc
        summary.held = {i: str(error) for i, error in failed}
        hold(session, summary.held)
        session.commit()
    return summary


def hold(session: Session, reasons: dict[int, str], now: datetime | None = None) -> None:
    """Hold these complaints out of processing with their reasons (and a `held` event each)."""
    now = now or utcnow()
    for complaint_id, reason in reasons.items():
        session.execute(update(Complaint).where(Complaint.id == complaint_id)
                        .values(held_at=now, held_reason=reason, updated_at=now))
        session.add(ComplaintEvent(complaint_id=complaint_id, at=now, kind="held", detail={"reason": reason}))


def held(session: Session, limit: int | None = None) -> list[dict[str, Any]]:
    """The complaints held out of processing, oldest hold first (text masked)."""
    rows = session.execute(
        select(Complaint.id, Complaint.source, Complaint.external_id, Complaint.received_at, Complaint.held_at,
               Complaint.held_reason, Complaint.title)
        .where(Complaint.held_at.is_not(None)).order_by(Complaint.held_at, Complaint.id).limit(limit)).all()
    return [{"id": r.id, "source": r.source, "external_id": r.external_id, "received_at": r.received_at,
             "held_at": r.held_at, "reason": r.held_reason, "title": mask_text(r.title or "")} for r in rows]


def release(session: Session, ids: Sequence[int] | None = None, now: datetime | None = None) -> int:
    """Put held complaints (these, or all) back in the queue: the next process run tries them again. Returns how
    many were released (a `released` event each)."""
    now = now or utcnow()
    query = select(Complaint.id).where(Complaint.held_at.is_not(None))
    found: list[int] = []
    for condition in (in_conditions(session, Complaint.id, ids) if ids is not None else [Complaint.id.is_not(None)]):
        found += session.scalars(query.where(condition)).all()
    for condition in in_conditions(session, Complaint.id, found):
        session.execute(update(Complaint).where(condition).values(held_at=None, held_reason=None, updated_at=now))
    session.add_all(ComplaintEvent(complaint_id=i, at=now, kind="released", detail={}) for i in found)
    return len(found)


def held_count(session: Session) -> int:
    """Complaints held out of processing now."""
    return session.execute(select(func.count()).where(Complaint.held_at.is_not(None))).scalar_one()
