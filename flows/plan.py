"""Plan flow: plans for new incidents and serious complaints; escalate overdue steps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow

from tasks.artifacts import publish_table
from tasks.plan import create_plans_task, escalate_task


@flow(name="plan")
def plan(now: datetime | None = None) -> dict[str, Any]:
    created = create_plans_task()
    escalations = escalate_task(now or datetime.now(UTC))
    publish_table("plan-summary", [created | {"escalations": len(escalations)}], "Plans created and escalations")
    publish_table("plan-escalations", escalations, "Overdue steps escalated one level up the chain")
    return created | {"escalations": len(escalations)}
