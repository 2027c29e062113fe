"""Notify tasks: queue acknowledgements and incident/plan updates (exactly once by key), send the outbox."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from prefect import task

from complaints.db import refresh_statistics, session_scope
from complaints.fanout import queue_updates
from complaints.notify import queue_acknowledgements, send_pending
from complaints.runtime import runtime


@task(retries=2, retry_delay_seconds=10)
def queue_acknowledgements_task(now: datetime) -> int:
    rt = runtime()
    refresh_statistics(rt.db_url)
    with session_scope(rt.db_url) as session:
        return queue_acknowledgements(session, rt.config, rt.settings, now)


@task(retries=2, retry_delay_seconds=10)
def queue_updates_task(now: datetime) -> dict[str, int]:
    """Progress and resolution for every affected user, call-backs scheduled after resolution."""
    rt = runtime()
    with session_scope(rt.db_url) as session:
        return queue_updates(session, rt.config, rt.settings, now)


@task(retries=3, retry_delay_seconds=[10, 60, 300], retry_jitter_factor=0.5)
def send_pending_task() -> dict[str, Any]:
    rt = runtime()
    ncfg = rt.config.notifications
    return asdict(send_pending(rt.db_url, rt.settings, ncfg.max_attempts, policy=ncfg.policy))
