"""Notify flow: queue acknowledgements and incident/plan updates, then deliver everything due."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow

from flows.params import AsOf, as_of, run_name
from tasks.artifacts import publish_table
from tasks.notify import (
    queue_acknowledgements_task,
    queue_transaction_callbacks_task,
    queue_updates_task,
    send_pending_task,
)


@flow(name="notify", flow_run_name=run_name(lambda p: f"notify {as_of(p.get('now'))}"))
def notify(now: AsOf = None) -> dict[str, Any]:
    """Queue acknowledgements, progress and resolution updates, call-backs (after resolutions, periodic, after
    important transactions), then deliver the outbox.

    Args:
        now: The "as of" time when replaying history (ops timezone); acknowledgements are not sent for complaints
            already past due. Empty: the real time.
    """
    as_of_time = now or datetime.now(UTC)
    queued = queue_acknowledgements_task(as_of_time)
    updates = queue_updates_task(as_of_time)
    transaction_callbacks = queue_transaction_callbacks_task(as_of_time)
    sent = send_pending_task()
    failures = sent.pop("failures", [])
    suppressions = sent.pop("suppressions", [])
    summary = {"acknowledgements_queued": queued, **{f"{k}_queued": v for k, v in updates.items()},
               "transaction_callbacks_queued": transaction_callbacks, **sent}
    publish_table("notify-summary", [summary], "Outbox delivery")
    # publish_table masks every cell: reasons name recipients.
    publish_table("notify-failures", [{"failure": f} for f in failures], "Messages that failed (masked)")
    publish_table("notify-suppressed", [{"suppressed": s} for s in suppressions], "Messages not sent (masked)")
    return summary
