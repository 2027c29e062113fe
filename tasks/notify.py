"""Notify tasks: queue acknowledgements, incident/plan updates and call-backs after important transactions (exactly
once by key), send the outbox."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from complaints.core.runtime import runtime
from complaints.notify.outbox import queue_acknowledgements, send_pending
from complaints.notify.transactions import queue_transaction_callbacks
from complaints.notify.updates import queue_updates
from tasks._stage import stage, stage_task


@stage_task()
def queue_acknowledgements_task(now: datetime) -> int:
    with stage(refresh=True) as (rt, session):
        return queue_acknowledgements(session, rt.config, rt.settings, now)


@stage_task()
def queue_updates_task(now: datetime) -> dict[str, int]:
    """Progress and resolution for every affected user, call-backs scheduled after resolution."""
    with stage() as (rt, session):
        return queue_updates(session, rt.config, rt.settings, now)


@stage_task()
def queue_transaction_callbacks_task(now: datetime) -> int:
    """A call-back for each important transaction of the feeds (notifications.yaml callbacks.transactions)."""
    with stage() as (rt, session):
        return queue_transaction_callbacks(session, rt.config, rt.settings, now)


@stage_task(retries=3, retry_delay_seconds=[10, 60, 300], retry_jitter_factor=0.5)
def send_pending_task() -> dict[str, Any]:
    rt = runtime()
    ncfg = rt.config.notifications
    return asdict(send_pending(rt.db_url, rt.settings, ncfg.max_attempts, policy=ncfg.policy))
