"""The Prefect UI as the ops console: a review-plan flow run pauses with a form and a resume with
input through Prefect's API applies the decision to the plan (real Prefect API, real database)."""

from __future__ import annotations

import threading
import time
from typing import Any
from uuid import UUID

from sqlalchemy import select

from complaints.core.config import AppConfig
from complaints.core.db import session_scope
from complaints.core.models import Incident, Plan, PlanEvent
from complaints.plans.create import create_plans
from tests.factories import T0
from tests.plans.test_planning import _incident


def _paused_run(deadline: float) -> UUID:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType

    paused = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED])))
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(flow_run_filter=paused)
            if runs:
                return runs[0].id
            time.sleep(0.5)
    raise AssertionError("the review flow run never paused")


def test_review_paused_run_resumed_with_input(prefect_api: None, app_env: str, app_config: AppConfig) -> None:
    from prefect.flow_runs import resume_flow_run

    from flows.plan_review import review_plan

    with session_scope(app_env) as s:
        inc = _incident(s)
        create_plans(s, app_config, T0)
    with session_scope(app_env) as s:
        plan_id = s.execute(select(Plan.id).where(Plan.subject_type == "incident")).scalar_one()

    result: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: result.update(review_plan(plan_id, timeout_hours=0.1, poll_interval=1)))
    runner.start()
    run_id = _paused_run(time.monotonic() + 120)
    resume_flow_run(run_id, run_input={"approve": True, "owner": "payops.zhao", "reviewer": "alice",
                                       "root_cause": "expired clearing certificate", "note": "plan ok"})
    runner.join(timeout=120)
    assert not runner.is_alive() and result == {"plan_id": plan_id, "approved": True, "owner": "payops.zhao"}

    with session_scope(app_env) as s:
        plan = s.get(Plan, plan_id)
        assert plan.approved_by == "prefect-ui:alice"
        assert {st.owner for st in plan.steps if st.kind != "lessons_learned"} == {"payops.zhao"}
        assert s.get(Incident, inc.id).root_cause == "expired clearing certificate"
        actions = {a for (a,) in s.execute(select(PlanEvent.action).where(PlanEvent.plan_id == plan_id))}
        assert {"approve", "reassign", "root_cause"} <= actions
