"""Plan tasks: create missing plans; warn at-risk owners, escalate overdue steps and queue the emails."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import datetime
from typing import Any

from prefect import get_run_logger

from complaints.notify.outbox import queue_message
from complaints.plans.create import EscalationNotice, create_plans, escalate_overdue
from complaints.plans.ops import Review, apply_review
from tasks._stage import stage, stage_task

DIGEST_ITEMS = 100  # steps listed in one escalation digest; a backlog can escalate thousands to one owner


@stage_task()
def create_plans_task(now: datetime) -> dict[str, Any]:
    with stage(refresh=True) as (rt, session):
        summary = create_plans(session, rt.config, now)
    get_run_logger().info("created %d plans with %d steps", len(summary.created), summary.steps)
    return {"plans_created": len(summary.created), "steps_created": summary.steps}


@stage_task()
def escalate_task(now: datetime) -> list[dict[str, Any]]:
    with stage(refresh=True) as (rt, session):  # after the plans and steps just created
        notices = escalate_overdue(session, rt.config, now)
        # Queued in the same transaction as the escalations: both happen or neither.
        for recipient, mine in _by_owner(notices).items():
            _queue_escalation_mail(session, rt, recipient, mine)
    return [{"step": n.step_id, "plan": n.plan_id, "kind": n.kind, "level": n.level, "to": n.to_owner}
            for n in notices]


def _by_owner(notices: list[EscalationNotice]) -> dict[str, list[EscalationNotice]]:
    grouped: dict[str, list[EscalationNotice]] = defaultdict(list)
    for n in notices:
        grouped[n.to_owner].append(n)
    return grouped


def _queue_escalation_mail(session: Any, rt: Any, owner: str, notices: list[EscalationNotice]) -> None:
    """One email per owner and run: a single step gets its own message, several get one digest
    (a late or replayed run can escalate hundreds of steps; nobody reads hundreds of emails)."""
    recipient = f"{owner}@{rt.config.routing.email_domain}"
    items = [{"level": n.level, "subject_ref": n.subject_ref, "subject_title": n.subject_title, "kind": n.kind,
              "step_title": n.step_title, "from_owner": n.from_owner, "to_owner": n.to_owner,
              "due_at": n.due_at, "reason": n.reason} for n in notices]
    if len(notices) == 1:
        n = notices[0]
        overdue = n.kind == "overdue"
        key = f"escalation:step:{n.step_id}:level:{n.level}" if overdue else f"at-risk:step:{n.step_id}"
        template, context = ("escalation" if overdue else "step_at_risk"), items[0]
    else:
        # The escalation rows are unique, so this set of (step, level) is never escalated again.
        digest = hashlib.sha256(",".join(f"{n.step_id}:{n.level}" for n in notices).encode()).hexdigest()[:24]
        overdue = sum(n.kind == "overdue" for n in notices)
        # The counts are whole; the list stops at DIGEST_ITEMS (the plan console lists the rest).
        key, template, context = f"escalation-digest:{owner}:{digest}", "escalation_digest", {
            "to_owner": owner, "items": items[:DIGEST_ITEMS], "total": len(notices), "overdue": overdue,
            "at_risk": len(notices) - overdue}
    queue_message(session, key=key, kind="escalation", recipient=recipient, language="en", template=template,
                  context=context, settings=rt.settings)


@stage_task()  # a decision the rules refuse (PlanActionError: unknown owner, closed plan) is not retried
def apply_review_task(plan_id: int, review: Review, actor: str, now: datetime) -> None:
    with stage() as (rt, session):
        apply_review(session, rt.config, plan_id, review, actor, now)
