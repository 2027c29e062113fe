"""Plan flow: plans for new incidents and serious complaints; at-risk warnings and escalation of overdue steps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow

from tasks.artifacts import publish_table
from tasks.plan import create_plans_task, escalate_task

ESCALATIONS_SHOWN = 500  # rows of the escalations table artifact: a backlog can escalate hundreds of thousands


@flow(name="plan")
def plan(now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    created = create_plans_task(now)
    notices = escalate_task(now)
    escalations = [n for n in notices if n["kind"] == "overdue"]
    summary = created | {"escalations": len(escalations), "at_risk_warnings": len(notices) - len(escalations)}
    publish_table("plan-summary", [summary], "Plans created, at-risk warnings and escalations")
    shown = notices[:ESCALATIONS_SHOWN]
    publish_table("plan-escalations", shown, "At-risk warnings (level 0) and overdue steps escalated up the chain"
                  + (f" (the first {len(shown)} of {len(notices)})" if len(shown) < len(notices) else ""))
    return summary
