"""Notify tasks: queue acknowledgements (exactly once by key) and send the outbox."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from prefect import task

from complaints.db import session_scope
from complaints.notify import queue_acknowledgements, send_pending
from complaints.runtime import runtime


@task(retries=2, retry_delay_seconds=10)
def queue_acknowledgements_task(now: datetime) -> int:
    rt = runtime()
    with session_scope(rt.db_url) as session:
        return queue_acknowledgements(session, rt.config, rt.settings, now)


@task(retries=3, retry_delay_seconds=[10, 60, 300], retry_jitter_factor=0.5)
def send_pending_task() -> dict[str, Any]:
    rt = runtime()
    return asdict(send_pending(rt.db_url, rt.settings, rt.config.notifications.max_attempts))
