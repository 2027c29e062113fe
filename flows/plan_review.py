"""Review flow: the Prefect UI as the ops console. The run pauses on one plan with a form beside the plan itself
(subject, incident, steps, owners, due dates, history); resuming it with input applies the decision. For the plan of
a single complaint, the run also publishes the customer's history (masked) as the `customer-history` artifact.

Owners and root causes are choices (routing.yaml's staff, plans.yaml's root causes), so the server refuses a value
outside them and the run stays paused; a decision the plan rules refuse (e.g. the plan closed meanwhile) pauses
again with the reason, instead of failing the run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from prefect import flow, get_run_logger
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from pydantic import Field, ValidationError, create_model

from complaints.core.config import AppConfig
from complaints.core.runtime import runtime
from complaints.plans.ops import PlanActionError, Review, known_staff
from flows.params import run_name
from tasks.plan import (
    HISTORY_KEY,
    announce_resolved_task,
    apply_review_task,
    plan_sheet_task,
    publish_customer_history_task,
    publish_incident_board_task,
)

KEEP_OWNERS = "(keep the current owners)"
NO_ROOT_CAUSE = "(not known yet)"
ASKS = 5  # a refused decision is asked again this many times before the run gives up


class PlanDecision(RunInput):
    """The review form (owner and root_cause become choices in decision_form)."""

    approve: bool = Field(True, description="Approve the plan as it stands (recorded with the reviewer's name).")
    owner: str = Field(KEEP_OWNERS, description="Give the open steps held by the plan's team members to this "
                       "person; steps owned by a role (team lead, compliance, escalated) stay with it.")
    root_cause: str = Field(NO_ROOT_CAUSE, description="The incident's root cause (incident plans only); details "
                            "in the note.")
    note: str = Field("", description="Why: recorded in the plan's history with every change.")
    reviewer: str = Field("ops", min_length=1, description="Who decides (your staff handle).")

    def review(self) -> Review:
        return Review(approve=self.approve, owner=None if self.owner == KEEP_OWNERS else self.owner,
                      root_cause=None if self.root_cause == NO_ROOT_CAUSE else self.root_cause,
                      note=self.note or None)


def decision_form(cfg: AppConfig, team: str, incident: bool) -> type[PlanDecision]:
    """PlanDecision with the owners (the plan's team first) and the root causes (an incident's plan only) as
    the form's choices."""
    roster = cfg.routing.teams.get(team)
    first = [*roster.members, roster.lead] if roster else []
    staff = [*first, *sorted(known_staff(cfg) - set(first))]
    owners = Literal[(KEEP_OWNERS, *staff)]  # type: ignore[valid-type]
    # outcomes.yaml's list, the one the lessons report counts, in both languages.
    labels = [f"{c.en} · {c.zh}" for c in cfg.outcomes.root_causes.values()] if incident else []
    causes = Literal[(NO_ROOT_CAUSE, *labels)]  # type: ignore[valid-type]
    fields = PlanDecision.model_fields
    return create_model(  # type: ignore[call-overload,no-any-return]
        "PlanDecision", __base__=PlanDecision,
        owner=(Annotated[owners, fields["owner"]], KEEP_OWNERS),
        root_cause=(Annotated[causes, fields["root_cause"]], NO_ROOT_CAUSE),
    )


@flow(name="review-plan", flow_run_name=run_name(lambda p: f"review plan {p.get('plan_id')}"))
def review_plan(plan_id: Annotated[int, Field(ge=1, examples=[12])],
                timeout_hours: Annotated[float, Field(gt=0, le=24 * 30)] = 72,
                poll_interval: Annotated[int, Field(ge=1, le=3600)] = 10) -> dict[str, Any]:
    """Pause on one plan with a review form beside it (approve, owner, root cause, note); apply the decision.

    Args:
        plan_id: The plan to review (`complaints plan list` or the incident board artifact show the ids).
        timeout_hours: How long the run waits for a decision before it fails as timed out.
        poll_interval: Seconds between checks for the decision while paused.
    """
    cfg = runtime().config
    refused = ""
    # A single complaint's plan: who the customer is matters to the decision (their other complaints, replies,
    # scores), so their history is an artifact of this run beside the form.
    history = (f"\n\n### Customer\n\nThis customer's history across channels: the `{HISTORY_KEY}` artifact "
               "of this run." if publish_customer_history_task(plan_id) else "")
    for _ in range(ASKS):
        sheet = plan_sheet_task(plan_id, datetime.now(UTC))
        if sheet.status != "open":
            get_run_logger().warning("plan %d is %s: nothing to review", plan_id, sheet.status)
            return {"plan_id": plan_id, "approved": False, "owner": None, "status": sheet.status}
        form = decision_form(cfg, sheet.team, sheet.subject_type == "incident")
        try:
            decision = pause_flow_run(
                wait_for_input=form.with_initial_data(
                    description=(f"> **Refused:** {refused}\n\n" if refused else "") + sheet.markdown + history),
                timeout=int(timeout_hours * 3600), poll_interval=poll_interval)
            review = decision.review()
            apply_review_task(plan_id, review, f"prefect-ui:{decision.reviewer}", datetime.now(UTC))
        except (PlanActionError, ValidationError) as exc:
            refused = str(exc)
            get_run_logger().warning("decision on plan %d refused, asking again: %s", plan_id, refused)
            continue
        get_run_logger().info("plan %d reviewed by %s", plan_id, decision.reviewer)
        announce_resolved_task()
        publish_incident_board_task(datetime.now(UTC))
        return {"plan_id": plan_id, "approved": review.approve, "owner": review.owner}
    raise PlanActionError(f"plan {plan_id}: {ASKS} decisions refused, the last: {refused}")
