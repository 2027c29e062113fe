"""Process tasks: dedupe and classify one partition of a batch of unprocessed complaints, detect over the run.

A batch is split into a few partitions by person key (complaints.process.dedupe.partition); each partition is a task
run the flow's task runner can place on another thread, process or machine.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple

from prefect import get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from sqlalchemy import func, select

from complaints.core.db import refresh_statistics, session_scope
from complaints.core.leases import try_acquire
from complaints.core.models import Complaint, Incident
from complaints.core.runtime import runtime
from complaints.detect.replay import detect_pending
from complaints.process.classify import refresh_model, unprocessed_query
from complaints.process.dedupe import Background, partition
from complaints.process.stage import held_count, process_partition
from tasks._stage import stage, stage_task
from tasks.incident_events import Kind, emit_incident_event

LEASE = "process"
LEASE_TTL = timedelta(minutes=15)


class Batch(NamedTuple):
    parts: list[list[int]]  # complaint ids by partition
    after: tuple[datetime, int] | None  # (received_at, id) of its last complaint: the next batch starts after it
    stored: int | None = None  # the newest complaint id when it was taken: bounds dedupe's word weights


@stage_task()
def next_batch_task(limit: int, partitions: int, holder: str, after: tuple[datetime, int] | None = None) -> Batch:
    """The oldest unprocessed complaints after `after`, split by person key; renews this run's lease on them first.

    Batches follow each other by (received_at, id), not by what is still unprocessed: the complaints of a
    partition that failed stay unprocessed, and the run goes on past them instead of taking them again (they wait
    for the next run, as do complaints that arrive during the run with an earlier received_at)."""
    rt = runtime()
    if not try_acquire(rt.db_url, LEASE, holder, LEASE_TTL):
        raise RuntimeError(f"lost the {LEASE!r} lease (expired while this run was working)")
    refresh_statistics(rt.db_url)  # the last batch's writes can leave the planner guessing
    with session_scope(rt.db_url) as session:
        stored = session.execute(select(func.max(Complaint.id))).scalar_one()
        keys = session.execute(unprocessed_query(Complaint.id, Complaint.contact_key, Complaint.customer_ref,
                                                 Complaint.source, Complaint.received_at, after=after)
                               .limit(limit)).all()
    return Batch(partition(keys, partitions), (keys[-1].received_at, keys[-1].id) if keys else None, stored)


@stage_task()
def model_task() -> str | None:
    """The category model this run classifies with, trained before any batch if due (the seed model on a fresh
    install; retrained on its confident classifications as they accumulate), so every partition uses it."""
    with stage() as (rt, session):
        tag = refresh_model(session, rt.config.taxonomy)
    get_run_logger().info("classifying with %s", tag or "keyword rules")
    return tag


@stage_task()
def process_partition_task(ids: list[int], until: datetime | None = None, stored: int | None = None
                           ) -> dict[str, Any]:
    """Dedupe then classify one partition of a batch; a complaint that makes either raise is held out of
    processing with the reason, the others are processed (complaints.process.stage). until, stored: the batch's
    newest received_at and the newest complaint id when it was taken (dedupe's word weights, alike for every
    partition)."""
    with stage() as (rt, session):
        summary = process_partition(session, rt.config.taxonomy, ids, Background(until, stored))
    if summary.held:
        get_run_logger().warning("%d complaint(s) held out of processing: %s", len(summary.held),
                                 "; ".join(f"{i}: {why}" for i, why in summary.held.items()))
    d, c = summary.dedupe, summary.classify
    return {"processed": c.classified, "exact": d.exact, "near": d.near + d.keyless + d.follow_up,
            "follow_up": d.follow_up, "similar": d.similar,
            "by_category": dict(c.by_category), "by_severity": dict(c.by_severity),
            "held": sorted(summary.held.items())}


@stage_task()
def held_task() -> int:
    """Complaints held out of processing now, by this run or earlier ones."""
    with stage() as (_rt, session):
        return held_count(session)


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
