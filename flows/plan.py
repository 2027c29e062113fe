"""Plan flow: plans for new incidents and serious complaints; at-risk warnings and escalation of overdue steps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow

from flows.params import AsOf, as_of, run_name
from tasks.artifacts import publish_table
from tasks.plan import announce_resolved_task, create_plans_task, escalate_task, publish_incident_board_task

ESCALATIONS_SHOWN = 500  # rows of the escalations table artifact: a backlog can escalate hundreds of thousands


@flow(name="plan", flow_run_name=run_name(lambda p: f"plan {as_of(p.get('now'))}"))
def plan(now: AsOf = None) -> dict[str, Any]:
    """Create plans for new incidents and serious complaints, warn owners of steps at risk, escalate overdue
    steps up the chain, announce resolved incidents and refresh the incident board.

    Args:
        now: The "as of" time when replaying history (ops timezone): deadlines are compared with it.
            Empty: the real time.
    """
    now = now or datetime.now(UTC)
    created = create_plans_task(now)
    notices = escalate_task(now)
    escalations = sum(n["level"] > 0 for n in notices)
    resolved = announce_resolved_task()
    summary = created | {"escalations": escalations, "at_risk_warnings": len(notices) - escalations,
                         "incidents_resolved_announced": len(resolved),
                         "open_incidents": publish_incident_board_task(now)}
    publish_table("plan-summary", [summary], "Plans created by this run, plans open and in all (another flow, "
                  "e.g. regulatory, may have created them first), at-risk warnings and escalations")
    shown = notices[:ESCALATIONS_SHOWN]
    publish_table("plan-escalations", shown, "Steps escalated up the chain (overdue) and owners warned (at risk): "
                  "subject, step, owner, due time and how late"
                  + (f" (the first {len(shown)} of {len(notices)})" if len(shown) < len(notices) else ""))
    return summary
