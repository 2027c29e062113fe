"""Process tasks: dedupe, classify and detect over one batch of unprocessed complaints.

A batch is split into a few partitions by person key (complaints.dedupe.partition); dedupe and classify of each
partition are separate task runs the flow's task runner can place on other threads, processes or machines.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect import get_run_logger, task
from sqlalchemy import select

from complaints.bulk import in_conditions
from complaints.classify import classify_ids, unprocessed_query
from complaints.db import session_scope
from complaints.dedupe import dedupe_ids, partition
from complaints.detect import Detector, floor_hour
from complaints.leases import try_acquire
from complaints.models import Complaint, Incident
from complaints.runtime import runtime
from tasks.incident_events import Kind, emit_incident_event

LEASE = "process"
LEASE_TTL = timedelta(minutes=15)


@task(retries=2, retry_delay_seconds=10)
def next_batch_task(limit: int, partitions: int, holder: str) -> list[list[int]]:
    """The oldest unprocessed complaints, split by person key; renews this run's lease on them first."""
    rt = runtime()
    if not try_acquire(rt.db_url, LEASE, holder, LEASE_TTL):
        raise RuntimeError(f"lost the {LEASE!r} lease (expired while this run was working)")
    with session_scope(rt.db_url) as session:
        keys = session.execute(unprocessed_query(Complaint.id, Complaint.contact_key, Complaint.customer_ref,
                                                 Complaint.source).limit(limit)).all()
    return partition(keys, partitions)


@task(retries=2, retry_delay_seconds=10)
def dedupe_task(ids: list[int]) -> dict[str, int]:
    rt = runtime()
    with session_scope(rt.db_url) as session:
        summary = dedupe_ids(session, ids, rt.config.taxonomy.dedupe)
    return {"checked": summary.checked, "exact": summary.exact, "near": summary.near + summary.minhash}


@task(retries=2, retry_delay_seconds=10)
def classify_task(ids: list[int]) -> dict[str, Any]:
    rt = runtime()
    with session_scope(rt.db_url) as session:
        summary = classify_ids(session, rt.config.taxonomy, ids)
    return {"classified": summary.classified, "by_category": dict(summary.by_category),
            "by_severity": dict(summary.by_severity)}


@task(retries=2, retry_delay_seconds=10)
def detect_task(ids: list[int]) -> dict[str, Any]:
    """Detect over the hours these complaints arrived in; announce incidents opened or escalated."""
    rt = runtime()
    with session_scope(rt.db_url) as session:
        hours: set[Any] = set()
        for condition in in_conditions(session, Complaint.id, ids):
            hours.update(floor_hour(t) for t in session.execute(
                select(Complaint.received_at).where(condition, Complaint.duplicate_of_id.is_(None),
                                                    Complaint.category.is_not(None))).scalars())
        summary = Detector(session, rt.config.detection, rt.config.taxonomy).run(hours)
    announce_incidents(rt.db_url, summary.opened, summary.escalated)
    get_run_logger().info("incidents opened %s, escalated %s, grown %s", summary.opened, summary.escalated,
                          summary.grown)
    return {"opened": summary.opened, "grown": summary.grown, "escalated": summary.escalated,
            "linked": summary.linked}


def announce_incidents(db_url: str, opened: list[int], escalated: list[int]) -> None:
    """After the commit, so an automation reacting to the event finds the incident."""
    with session_scope(db_url) as session:
        kinds: list[tuple[Kind, list[int]]] = [("opened", opened), ("escalated", escalated)]
        for kind, ids in kinds:
            query = select(Incident).where(Incident.id.in_(ids)).order_by(Incident.id)
            for incident in session.execute(query).scalars():
                emit_incident_event(kind, incident)
