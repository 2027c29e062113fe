"""The whole job in order: ingest -> process -> regulatory clocks -> plan -> notify -> weekly report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow

from flows.ingest import ingest
from flows.notify import notify
from flows.plan import plan
from flows.process import process
from flows.regulatory import regulatory
from flows.weekly_report import weekly_report


@flow(name="pipeline")
def pipeline(since: datetime | None = None, until: datetime | None = None, week: str | None = None,
             now: datetime | None = None) -> dict[str, Any]:
    """since/until: ingest window (backfill); week: report week; now: "as of" time for plans and
    notifications when replaying history (default: the real time)."""
    return {
        "ingest": ingest(since=since, until=until),
        "process": process(),
        # Before plan: major events add regulator-deadline steps that plan's escalation must see.
        "regulatory": regulatory(now=now),
        "plan": plan(now=now),
        "notify": notify(now=now),
        "weekly_report": weekly_report(week=week),
    }
