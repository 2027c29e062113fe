"""Process tasks: dedupe, classify and detect over one batch of unprocessed complaints."""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from sqlalchemy import select

from complaints.classify import classify_complaints, unprocessed
from complaints.db import session_scope
from complaints.dedupe import dedupe
from complaints.detect import detect
from complaints.models import Complaint, Incident
from complaints.runtime import runtime
from tasks.incident_events import Kind, emit_incident_event


@task(retries=2, retry_delay_seconds=10)
def next_batch_task(limit: int) -> list[int]:
    with session_scope(runtime().db_url) as session:
        return [c.id for c in unprocessed(session, limit)]


def _load(session: Any, ids: list[int]) -> list[Complaint]:
    return list(session.execute(select(Complaint).where(Complaint.id.in_(ids)).order_by(Complaint.id)).scalars())


@task(retries=2, retry_delay_seconds=10)
def dedupe_task(ids: list[int]) -> dict[str, int]:
    rt = runtime()
    with session_scope(rt.db_url) as session:
        summary = dedupe(session, _load(session, ids), rt.config.taxonomy.dedupe)
    return {"checked": summary.checked, "exact": summary.exact, "near": summary.near + summary.minhash}


@task(retries=2, retry_delay_seconds=10)
def classify_task(ids: list[int]) -> dict[str, Any]:
    rt = runtime()
    with session_scope(rt.db_url) as session:
        summary = classify_complaints(session, rt.config.taxonomy, _load(session, ids))
    return {"classified": summary.classified, "by_category": dict(summary.by_category),
            "by_severity": dict(summary.by_severity)}


@task(retries=2, retry_delay_seconds=10)
def detect_task(ids: list[int]) -> dict[str, Any]:
    """Detect over the hours these complaints arrived in; announce incidents opened or escalated."""
    rt = runtime()
    with session_scope(rt.db_url) as session:
        summary = detect(session, rt.config.detection, rt.config.taxonomy, _load(session, ids))
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
