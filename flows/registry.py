"""The one list of flows: the CLI runs them by name; `complaints serve` and prefect.yaml deploy them."""

from __future__ import annotations

from typing import Any

from prefect import Flow

from flows.ingest import ingest
from flows.notify import notify
from flows.pipeline import pipeline
from flows.plan import plan
from flows.plan_review import review_plan
from flows.process import process
from flows.regulatory import regulatory, retention
from flows.weekly_report import weekly_report

# Flow name -> (flow, its entrypoint as prefect.yaml writes it).
FLOWS: dict[str, tuple[Flow[..., Any], str]] = {
    "ingest": (ingest, "flows/ingest.py:ingest"),
    "process": (process, "flows/process.py:process"),
    "regulatory": (regulatory, "flows/regulatory.py:regulatory"),
    "plan": (plan, "flows/plan.py:plan"),
    "notify": (notify, "flows/notify.py:notify"),
    "weekly-report": (weekly_report, "flows/weekly_report.py:weekly_report"),
    "retention": (retention, "flows/regulatory.py:retention"),
    "review-plan": (review_plan, "flows/plan_review.py:review_plan"),
    "pipeline": (pipeline, "flows/pipeline.py:pipeline"),
}


def flow_at(entrypoint: str) -> Flow[..., Any]:
    """The registered flow behind a prefect.yaml entrypoint ('flows/ingest.py:ingest')."""
    for flow, path in FLOWS.values():
        if path == entrypoint:
            return flow
    raise KeyError(f"prefect.yaml entrypoint {entrypoint!r} is not in flows/registry.py")
