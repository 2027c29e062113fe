"""Plan tasks: create missing plans; escalate overdue steps and queue the escalation emails."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import get_run_logger, task

from complaints.db import session_scope
from complaints.notify import queue_message
from complaints.planning import create_plans, escalate_overdue
from complaints.runtime import runtime


@task(retries=2, retry_delay_seconds=10)
def create_plans_task() -> dict[str, Any]:
    rt = runtime()
    with session_scope(rt.db_url) as session:
        summary = create_plans(session, rt.config)
    get_run_logger().info("created %d plans with %d steps", len(summary.created), summary.steps)
    return {"plans_created": len(summary.created), "steps_created": summary.steps}


@task(retries=2, retry_delay_seconds=10)
def escalate_task(now: datetime) -> list[dict[str, Any]]:
    rt = runtime()
    with session_scope(rt.db_url) as session:
        notices = escalate_overdue(session, rt.config, now)
        # Queued in the same transaction as the escalation: both happen or neither.
        for n in notices:
            queue_message(
                session,
                key=f"escalation:step:{n.step_id}:level:{n.level}",
                kind="escalation",
                recipient=f"{n.to_owner}@{rt.config.routing.email_domain}",
                language="en",
                template="escalation",
                context={"level": n.level, "subject_ref": n.subject_ref, "subject_title": n.subject_title,
                         "step_title": n.step_title, "from_owner": n.from_owner, "to_owner": n.to_owner,
                         "due_at": n.due_at, "reason": n.reason},
                settings=rt.settings,
            )
    return [{"step": n.step_id, "plan": n.plan_id, "level": n.level, "to": n.to_owner} for n in notices]
