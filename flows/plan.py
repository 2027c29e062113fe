"""Plan flow: plans for new incidents and serious complaints; at-risk warnings and escalation of overdue steps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow

from tasks.artifacts import publish_table
from tasks.plan import create_plans_task, escalate_task


@flow(name="plan")
def plan(now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    created = create_plans_task(now)
    notices = escalate_task(now)
    escalations = [n for n in notices if n["kind"] == "overdue"]
    summary = created | {"escalations": len(escalations), "at_risk_warnings": len(notices) - len(escalations)}
    publish_table("plan-summary", [summary], "Plans created, at-risk warnings and escalations")
    publish_table("plan-escalations", notices, "At-risk warnings (level 0) and overdue steps escalated up the chain")
    return summary
