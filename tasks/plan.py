"""Plan tasks: create missing plans; warn at-risk owners, escalate overdue steps and queue the emails."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from prefect import get_run_logger

from complaints.core.pii import mask_text
from complaints.core.runtime import runtime
from complaints.notify.escalations import queue_escalation_mails
from complaints.notify.history import complainant_history, history_markdown
from complaints.plans.console import PlanSheet, incident_board, late_by, plan_counts, plan_sheet
from complaints.plans.create import EscalationNotice, create_plans, escalate_overdue
from complaints.plans.ops import Review, apply_review, get_plan
from tasks._stage import stage, stage_task
from tasks.artifacts import publish_markdown, publish_table
from tasks.incident_events import announce_resolved

BOARD_KEY = "incident-board"  # one artifact, a new version per process and plan run: the latest is the board
HISTORY_KEY = "customer-history"

@stage_task()
def create_plans_task(now: datetime) -> dict[str, Any]:
    with stage(refresh=True) as (rt, session):
        summary = create_plans(session, rt.config, now)
        counts = plan_counts(session)
    get_run_logger().info("created %d plans with %d steps; %d open of %d", len(summary.created), summary.steps,
                          counts.open, counts.total)
    return {"plans_created_by_this_run": len(summary.created), "steps_created": summary.steps,
            "plans_open": counts.open, "plans_total": counts.total}


@stage_task()
def escalate_task(now: datetime) -> list[dict[str, Any]]:
    with stage(refresh=True) as (rt, session):  # after the plans and steps just created
        notices = escalate_overdue(session, rt.config, now)
        # Queued in the same transaction as the escalations: both happen or neither.
        queue_escalation_mails(session, rt.config, rt.settings, notices)
        tz = ZoneInfo(rt.settings.timezone)
    return escalation_rows(notices, tz, now)


def escalation_rows(notices: list[EscalationNotice], tz: ZoneInfo, now: datetime) -> list[dict[str, Any]]:
    """What escalate_task returns and the plan flow publishes (plan-escalations). The title is masked here, not
    only when published: Prefect persists task results (PREFECT_RESULTS_PERSIST_BY_DEFAULT) where no artifact
    masking applies."""
    return [{"subject": mask_text(f"{n.subject_ref} {n.subject_title}"), "plan": n.plan_id, "step": n.step_title,
             "kind": "overdue: escalated" if n.kind == "overdue" else "at risk: owner warned", "level": n.level,
             "owner": n.from_owner, "to": n.to_owner, "due": n.due_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
             "late": late_by(n.due_at, now)} for n in notices]


@stage_task()  # a decision the rules refuse (PlanActionError: unknown owner, closed plan) is not retried
def apply_review_task(plan_id: int, review: Review, actor: str, now: datetime) -> None:
    with stage() as (rt, session):
        apply_review(session, rt.config, plan_id, review, actor, now)


@stage_task()
def publish_incident_board_task(now: datetime) -> int:
    """The incident board artifact (key incident-board): every open incident, most severe first."""
    with stage() as (rt, session):
        rows = incident_board(session, now, ZoneInfo(rt.settings.timezone))
    publish_table(BOARD_KEY, rows, f"Open incidents ({len(rows)}): severity, users, age, plan, next deadline and owner")
    return len(rows)


@stage_task()
def plan_sheet_task(plan_id: int, now: datetime) -> PlanSheet:
    """The plan for the review form, its markdown masked (the form is not an artifact: nothing masks it later)."""
    with stage() as (rt, session):
        sheet = plan_sheet(session, plan_id, now, ZoneInfo(rt.settings.timezone))
    return replace(sheet, markdown=mask_text(sheet.markdown))


@stage_task()
def publish_customer_history_task(plan_id: int) -> int:
    """For the plan of a single complaint: its customer's history across channels (complaints, messages both ways,
    attachments, outcomes, scores; the one `complaints customer show` prints) as the markdown artifact
    customer-history, masked. How many complaints it shows; 0 for an incident's plan (no artifact)."""
    with stage() as (_, session):
        plan = get_plan(session, plan_id, for_update=False)
        if plan.subject_type != "complaint":
            return 0
        label, history = complainant_history(session, plan.subject_id)
    publish_markdown(HISTORY_KEY, history_markdown(label, history), f"The customer of plan {plan_id}: every complaint "
                     "on any channel, with messages both ways, attachments, outcomes and scores (masked)")
    return len(history)


@stage_task()
def announce_resolved_task() -> list[int]:
    """`complaints.incident.resolved` for every incident resolved since the last announcement, whoever resolved
    it (the CLI's `plan done` has no Prefect run to emit from)."""
    announced = announce_resolved(runtime().db_url)
    if announced:
        get_run_logger().info("announced resolved incidents %s", announced)
    return announced
