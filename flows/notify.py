"""Notify flow: queue acknowledgements for new complaints and deliver everything pending."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow

from tasks.artifacts import publish_table
from tasks.notify import queue_acknowledgements_task, send_pending_task


@flow(name="notify")
def notify(now: datetime | None = None) -> dict[str, Any]:
    """now: the "as of" time for replays; acknowledgements are not sent for complaints already past due."""
    queued = queue_acknowledgements_task(now or datetime.now(UTC))
    sent = send_pending_task()
    failures = sent.pop("failures", [])
    publish_table("notify-summary", [{"acknowledgements_queued": queued, **sent}], "Outbox delivery")
    publish_table("notify-failures", [{"failure": f} for f in failures], "Messages that failed (masked)")
    return {"acknowledgements_queued": queued, **sent}
