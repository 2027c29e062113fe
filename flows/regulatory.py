"""Regulatory flows: statutory clocks and major-event reporting (hourly), retention purge (daily)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow

from flows.params import AsOf, as_of, run_name
from tasks.artifacts import publish_table
from tasks.regulatory import keep_clocks_task, major_events_task, retention_task


@flow(name="regulatory", flow_run_name=run_name(lambda p: f"regulatory {as_of(p.get('now'))}"))
def regulatory(now: AsOf = None) -> dict[str, Any]:
    """Start and stop statutory clocks; class major events, add their report deadlines to plans, draft reports.

    Args:
        now: The "as of" time when replaying history (ops timezone). Empty: the real time.
    """
    now = now or datetime.now(UTC)
    clocks = keep_clocks_task(now)
    events = major_events_task(now)
    publish_table("regulatory-clocks", [clocks], "Statutory clocks started, met, breached and lapsed in this run")
    publish_table("major-events", events, "Major events classed or upgraded: regulator deadlines and draft reports")
    return clocks | {"major_events": len(events)}


@flow(name="retention", flow_run_name=run_name(
    lambda p: f"retention {as_of(p.get('now'))}{' (dry run)' if p.get('dry_run') else ''}"))
def retention(now: AsOf = None, dry_run: bool = False) -> dict[str, Any]:
    """Anonymise complaints past the retention period (config/retention.yaml) unless a legal hold applies.

    Args:
        now: The "as of" time the retention period is counted back from (ops timezone). Empty: the real time.
        dry_run: Count what would be anonymised, change nothing.
    """
    summary = retention_task(now or datetime.now(UTC), dry_run)
    publish_table("retention", [summary], "Complaints past the retention period, held, and anonymised; transactions "
                  "past it whose person was removed; quarantined records past it removed")
    return summary
