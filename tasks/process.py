"""Process tasks: dedupe, classify and detect over one batch of unprocessed complaints."""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.events import emit_event
from sqlalchemy import select

from complaints.classify import classify_complaints, unprocessed
from complaints.db import session_scope
from complaints.dedupe import dedupe
from complaints.detect import detect
from complaints.models import Complaint, Incident
from complaints.runtime import runtime


@task(retries=2, retry_delay_seconds=10)
def next_batch_task(limit: int) -> list[int]:
    with session_scope(runtime().db_url) as session:
        return [c.id for c in unprocessed(session, limit)]


def _load(session: Any, ids: list[int]) -> list[Complaint]:
    return list(session.execute(select(Complaint).where(Complaint.id.in_(ids)).order_by(Complaint.id)).scalars())


@task(retries=2, retry_delay_seconds=10)
def dedupe_task(ids: list[int]) -> dict[str, int]:
    with session_scope(runtime().db_url) as session:
        summary = dedupe(session, _load(session, ids))
    return {"checked": summary.checked, "exact": summary.exact, "near": summary.near}


@task(retries=2, retry_delay_seconds=10)
def classify_task(ids: list[int]) -> dict[str, Any]:
    rt = runtime()
    with session_scope(rt.db_url) as session:
        summary = classify_complaints(session, rt.config.taxonomy, _load(session, ids))
    return {"classified": summary.classified, "by_category": dict(summary.by_category),
            "by_severity": dict(summary.by_severity)}


@task(retries=2, retry_delay_seconds=10)
def detect_task(ids: list[int]) -> dict[str, Any]:
    rt = runtime()
    with session_scope(rt.db_url) as session:
        summary = detect(session, rt.config.detection, rt.config.taxonomy, _load(session, ids))
    with session_scope(rt.db_url) as session:
        for incident in session.execute(select(Incident).where(Incident.id.in_(summary.opened))).scalars():
            # Ops attach Prefect automations to this event (e.g. run the plan flow at once).
            emit_event(
                event="complaints.incident.opened",
                resource={
                    "prefect.resource.id": f"complaints.incident.{incident.id}",
                    "complaints.incident.category": incident.category,
                    "complaints.incident.severity": incident.severity,
                },
                payload={"title": incident.title, "users": incident.user_count, "signature": incident.signature},
            )
    get_run_logger().info("incidents opened %s, grown %s", summary.opened, summary.grown)
    return {"opened": summary.opened, "grown": summary.grown, "linked": summary.linked}
