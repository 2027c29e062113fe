"""The Prefect UI as the ops console: a review-plan flow run pauses with the plan beside a form of choices; an
invalid value is refused and the run keeps waiting; a resume with a choice applies the decision, and steps owned by
a role stay with it; a single complaint's plan comes with its customer's history as an artifact (real Prefect API,
real database)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import select

from complaints.core.config import AppConfig
from complaints.core.db import session_scope
from complaints.core.models import Incident, Plan, PlanEvent, PlanStep
from complaints.plans.create import create_plans
from complaints.plans.ops import PlanActionError, Review, apply_review
from tests.factories import T0, complaint
from tests.plans.test_planning import _incident


def _paused_run(deadline: float) -> Any:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType

    paused = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED])))
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(flow_run_filter=paused)
            if runs:
                return runs[0]
            time.sleep(0.5)
    raise AssertionError("the review flow run never paused")


def _form(run_id: UUID) -> tuple[str, dict[str, Any]]:
    """What the UI shows beside the paused run: the description markdown and the form's JSON schema."""
    import json

    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    deadline = time.monotonic() + 60
    with get_client(sync_client=True) as client:
        keys = client.read_flow_run(run_id).state.state_details.run_input_keyset
        while True:  # Prefect proposes the Paused state before it saves the form: the UI may come before it too
            try:
                return (json.loads(client.read_flow_run_input(run_id, keys["description"])),
                        json.loads(client.read_flow_run_input(run_id, keys["schema"])))
            except ObjectNotFound:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)


def _plan_with_compliance_step(db_url: str, cfg: AppConfig) -> tuple[int, int]:
    with session_scope(db_url) as s:
        inc = _incident(s)
        create_plans(s, cfg, T0)
    with session_scope(db_url) as s:
        plan = s.execute(select(Plan).where(Plan.subject_type == "incident")).scalar_one()
        # As the regulatory flow adds it for a major event: the written report is compliance's.
        s.add(PlanStep(plan_id=plan.id, seq=len(plan.steps) + 1, title="Written report to the regulator",
                       owner="compliance", due_at=T0, kind="reg_written", unit="business_hours"))
        return plan.id, inc.id


def test_review_shows_the_plan_refuses_invalid_input_and_applies_a_choice(
        prefect_api: None, app_env: str, app_config: AppConfig) -> None:
    from prefect.flow_runs import resume_flow_run

    from flows.plan_review import review_plan

    plan_id, incident_id = _plan_with_compliance_step(app_env, app_config)
    result: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: result.update(review_plan(plan_id, timeout_hours=0.1, poll_interval=1)))
    runner.start()
    run = _paused_run(time.monotonic() + 120)
    assert run.name == f"review plan {plan_id}"
    description, schema = _form(run.id)
    # The plan beside the form: subject, steps with owners and due dates, overdue flags, history.
    assert f"Plan {plan_id}" in description and f"I{incident_id:08d}" in description
    assert "Written report to the regulator — **compliance** · pending · due" in description
    assert "**OVERDUE**" in description
    assert "### History" in description and "team **payments_ops**" in description
    owners = schema["properties"]["owner"]["enum"]
    assert owners[1:4] == ["payops.wang", "payops.chen", "payops.zhao"]  # the plan's team first
    assert "System fault · 系统故障" in schema["properties"]["root_cause"]["enum"]
    assert all(p.get("description") for p in schema["properties"].values())

    with pytest.raises(RuntimeError, match="Cannot resume"):  # not a choice: refused, the run keeps waiting
        resume_flow_run(run.id, run_input={"owner": "nobody.at.all", "reviewer": "alice"})
    assert _paused_run(time.monotonic() + 10).id == run.id
    resume_flow_run(run.id, run_input={"approve": True, "owner": "payops.zhao", "reviewer": "alice",
                                       "root_cause": "System fault · 系统故障", "note": "plan ok"})
    runner.join(timeout=120)
    assert not runner.is_alive() and result == {"plan_id": plan_id, "approved": True, "owner": "payops.zhao"}

    with session_scope(app_env) as s:
        plan = s.get(Plan, plan_id)
        assert plan.approved_by == "prefect-ui:alice"
        owners_now = {st.kind: st.owner for st in plan.steps}
        assert owners_now["reg_written"] == "compliance"  # a role's step stays with the role
        assert owners_now["lessons_learned"] == "payops.lead"
        assert {st.owner for st in plan.steps if st.kind == "task"} == {"payops.zhao"}
        assert s.get(Incident, incident_id).root_cause == "System fault · 系统故障"
        actions = {a for (a,) in s.execute(select(PlanEvent.action).where(PlanEvent.plan_id == plan_id))}
        assert {"approve", "reassign", "root_cause"} <= actions


def test_review_of_an_unknown_owner_is_refused(sqlite_url: str, app_config: AppConfig) -> None:
    plan_id, _ = _plan_with_compliance_step(sqlite_url, app_config)
    with session_scope(sqlite_url) as s, pytest.raises(PlanActionError, match="unknown owner"):
        apply_review(s, app_config, plan_id, Review(owner="nobody"), "ops", T0)


def _artifact(run_id: UUID, key: str) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        (found,) = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=[key]), flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])))
    return str(found.data)


def test_review_of_a_complaint_plan_shows_the_customers_history(
        prefect_api: None, app_env: str, app_config: AppConfig) -> None:
    from prefect.flow_runs import resume_flow_run

    from flows.plan_review import review_plan

    with session_scope(app_env) as s:
        # The same person on two channels (the reference links the email and the phone), and someone else.
        earlier = complaint(s, "上月提现失败", contact="zhao.lei@example.com", customer_ref="U-77", channel="app",
                            at=T0 - timedelta(days=20))
        fraud = complaint(s, "账户被盗刷，请回电 13912345678", contact="13912345678", customer_ref="U-77",
                          channel="hotline", severity="critical", category="account_security")
        other = complaint(s, "别人的投诉", contact="someone@example.com", severity="major", category="usability")
        create_plans(s, app_config, T0)
        plan_id = s.execute(select(Plan.id).where(Plan.subject_type == "complaint",
                                                  Plan.subject_id == fraud.id)).scalar_one()
        tickets = {name: f"C{c.id:08d}" for name, c in (("earlier", earlier), ("fraud", fraud), ("other", other))}
    result: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: result.update(review_plan(plan_id, timeout_hours=0.1, poll_interval=1)))
    runner.start()
    run = _paused_run(time.monotonic() + 120)
    history = _artifact(run.id, "customer-history")
    assert "# Customer U-77: 2 complaint(s)" in history
    assert tickets["earlier"] in history and tickets["fraud"] in history and tickets["other"] not in history
    # Masked, and escaped as literal markdown (the UI renders z***@example.com, not emphasis).
    assert r"z\*\*\*@example.com" in history and r"139\*\*\*\*5678" in history
    assert "zhao.lei@example.com" not in history and "13912345678" not in history
    description, _ = _form(run.id)
    assert "`customer-history` artifact" in description
    resume_flow_run(run.id, run_input={"approve": True, "reviewer": "alice"})
    runner.join(timeout=120)
    assert not runner.is_alive() and result["approved"] is True
