"""Process tasks: dedupe, classify and detect over one batch of unprocessed complaints.

A batch is split into a few partitions by person key (complaints.process.dedupe.partition); dedupe and classify of each
partition are separate task runs the flow's task runner can place on other threads, processes or machines.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect import get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from sqlalchemy import select

from complaints.core.db import refresh_statistics, session_scope
from complaints.core.leases import try_acquire
from complaints.core.models import Complaint, Incident
from complaints.core.runtime import runtime
from complaints.detect.replay import detect_pending
from complaints.process.classify import classify_ids, unprocessed_query
from complaints.process.dedupe import dedupe_ids, partition
from tasks._stage import stage, stage_task
from tasks.incident_events import Kind, emit_incident_event

LEASE = "process"
LEASE_TTL = timedelta(minutes=15)


@stage_task()
def next_batch_task(limit: int, partitions: int, holder: str) -> list[list[int]]:
    """The oldest unprocessed complaints, split by person key; renews this run's lease on them first."""
    rt = runtime()
    if not try_acquire(rt.db_url, LEASE, holder, LEASE_TTL):
        raise RuntimeError(f"lost the {LEASE!r} lease (expired while this run was working)")
    refresh_statistics(rt.db_url)  # the last batch's writes can leave the planner guessing
    with session_scope(rt.db_url) as session:
        keys = session.execute(unprocessed_query(Complaint.id, Complaint.contact_key, Complaint.customer_ref,
                                                 Complaint.source).limit(limit)).all()
    return partition(keys, partitions)


@stage_task()
def dedupe_task(ids: list[int]) -> dict[str, int]:
    with stage() as (rt, session):
        summary = dedupe_ids(session, ids, rt.config.taxonomy.dedupe)
    return {"checked": summary.checked, "exact": summary.exact, "near": summary.near + summary.keyless,
            "similar": summary.similar}


@stage_task()
def classify_task(ids: list[int]) -> dict[str, Any]:
    with stage() as (rt, session):
        summary = classify_ids(session, rt.config.taxonomy, ids)
    return {"classified": summary.classified, "by_category": dict(summary.by_category),
            "by_severity": dict(summary.by_severity)}


@stage_task()
def detect_task(holder: str) -> dict[str, Any]:
    """Detect over the hours of every complaint processed and not yet detected (this run's batches, and those of
    a run that died before detecting); announce incidents opened or escalated. Renews the lease as it goes."""
    progress_id = create_progress_artifact(0.0, description="Collective-complaint detection: hours replayed")
    with stage(refresh=True) as (rt, session):

        def progress(done: int, total: int) -> None:
            # Commit the incidents opened so far first: SQLite has one writer, and the renewal needs it. A re-run
            # after a crash finds them (detection is idempotent) and redoes the complaints still undetected.
            session.commit()
            if not try_acquire(rt.db_url, LEASE, holder, LEASE_TTL):
                raise RuntimeError(f"lost the {LEASE!r} lease (expired while this run was detecting)")
            update_progress_artifact(progress_id, 100.0 * done / max(total, 1))

        summary = detect_pending(session, rt.config.detection, rt.config.taxonomy, progress)
    announce_incidents(rt.db_url, summary.opened, summary.escalated)
    get_run_logger().info("%d hours replayed; incidents opened %s, escalated %s, grown %s", summary.hours,
                          summary.opened, summary.escalated, summary.grown)
    return {"opened": summary.opened, "grown": summary.grown, "escalated": summary.escalated,
            "linked": summary.linked, "hours": summary.hours}


def announce_incidents(db_url: str, opened: list[int], escalated: list[int]) -> None:
    """After the commit, so an automation reacting to the event finds the incident."""
    with session_scope(db_url) as session:
        kinds: list[tuple[Kind, list[int]]] = [("opened", opened), ("escalated", escalated)]
        for kind, ids in kinds:
            query = select(Incident).where(Incident.id.in_(ids)).order_by(Incident.id)
            for incident in session.execute(query).scalars():
                emit_incident_event(kind, incident)
