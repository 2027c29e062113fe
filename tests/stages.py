"""The process stages as tests drive them: the production functions of the process flow's tasks, in its order.

`run_process` is the flow's path (the run's model, the unprocessed batch through process_partition, detect_pending); the
per-stage helpers take loaded complaints for tests that stop between stages.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from complaints.core.bulk import expire_loaded
from complaints.core.config import AppConfig, DedupeSettings, DetectionConfig, TaxonomyConfig
from complaints.core.models import Complaint
from complaints.detect.replay import Detector, DetectSummary, floor_hour
from complaints.process.classify import ClassifySummary, classify_ids, refresh_model, unprocessed_query
from complaints.process.dedupe import DEFAULT, DedupeSummary, dedupe_ids


def unprocessed(session: Session, limit: int) -> list[Complaint]:
    return list(session.execute(unprocessed_query(Complaint).limit(limit)).scalars())


def dedupe(session: Session, new: Sequence[Complaint], config: DedupeSettings = DEFAULT) -> DedupeSummary:
    session.flush()
    summary = dedupe_ids(session, [c.id for c in new], config)
    expire_loaded(session, Complaint)
    return summary


def classify_complaints(session: Session, taxonomy: TaxonomyConfig, complaints: Sequence[Complaint]) -> ClassifySummary:
    session.flush()
    summary = classify_ids(session, taxonomy, [c.id for c in complaints])
    expire_loaded(session, Complaint)
    return summary


def detect(session: Session, cfg: DetectionConfig, taxonomy: TaxonomyConfig, touched: list[Complaint]) -> DetectSummary:
    """Detection over the hours of these complaints only (tests that replay hour by hour)."""
    hours = {floor_hour(c.received_at) for c in touched if c.duplicate_of_id is None and c.category}
    return Detector(session, cfg, taxonomy).run(hours)


def run_process(session: Session, cfg: AppConfig) -> tuple[DedupeSummary, ClassifySummary, DetectSummary]:
    """The process flow's stages on everything unprocessed, as its tasks call them (the run's model first, then
    one partition through complaints.process.stage: complaints that raise are held out), then commit."""
    from complaints.detect.replay import detect_pending
    from complaints.process.stage import process_partition

    session.flush()
    refresh_model(session, cfg.taxonomy)
    ids = list(session.execute(unprocessed_query(Complaint.id)).scalars())
    p = process_partition(session, cfg.taxonomy, ids)
    t = detect_pending(session, cfg.detection, cfg.taxonomy)
    session.commit()
    for loaded in list(session.identity_map.values()):  # set-based writes: loaded objects show them now
        session.refresh(loaded)
    return p.dedupe, p.classify, t
