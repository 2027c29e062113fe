"""Review flow: the Prefect UI as the ops console. The run pauses on one plan with a form
(approve, set owner, record root cause); resuming it with input applies the decision."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput

from complaints.plans.ops import Review
from tasks.plan import apply_review_task


class PlanDecision(RunInput):
    """The form shown in the Prefect UI when the run is paused."""

    approve: bool = True
    owner: str | None = None  # every open step except lessons learned goes to this person
    root_cause: str | None = None  # incidents only
    note: str | None = None
    reviewer: str = "ops"


@flow(name="review-plan")
def review_plan(plan_id: int, timeout_hours: float = 72, poll_interval: int = 10) -> dict[str, Any]:
    decision = pause_flow_run(wait_for_input=PlanDecision, timeout=int(timeout_hours * 3600),
                              poll_interval=poll_interval)
    review = Review(approve=decision.approve, owner=decision.owner, root_cause=decision.root_cause,
                    note=decision.note)
    apply_review_task(plan_id, review, f"prefect-ui:{decision.reviewer}", datetime.now(UTC))
    get_run_logger().info("plan %d reviewed by %s", plan_id, decision.reviewer)
    return {"plan_id": plan_id, "approved": review.approve, "owner": review.owner}
