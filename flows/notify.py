"""Notify flow: queue acknowledgements and incident/plan updates, then deliver everything due."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow

from tasks.artifacts import publish_table
from tasks.notify import queue_acknowledgements_task, queue_updates_task, send_pending_task


@flow(name="notify")
def notify(now: datetime | None = None) -> dict[str, Any]:
    """now: the "as of" time for replays; acknowledgements are not sent for complaints already past due."""
    as_of = now or datetime.now(UTC)
    queued = queue_acknowledgements_task(as_of)
    updates = queue_updates_task(as_of)
    sent = send_pending_task()
    failures = sent.pop("failures", [])
    suppressions = sent.pop("suppressions", [])
    summary = {"acknowledgements_queued": queued, **{f"{k}_queued": v for k, v in updates.items()}, **sent}
    publish_table("notify-summary", [summary], "Outbox delivery")
    # publish_table masks every cell: reasons name recipients.
    publish_table("notify-failures", [{"failure": f} for f in failures], "Messages that failed (masked)")
    publish_table("notify-suppressed", [{"suppressed": s} for s in suppressions], "Messages not sent (masked)")
    return summary
