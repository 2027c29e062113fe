"""Serve every deployment declared in prefect.yaml, so schedules and triggers live in one file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from prefect import serve
from prefect.events import DeploymentTriggerTypes
from prefect.schedules import Cron, Interval, RRule, Schedule
from prefect.settings import PREFECT_API_URL
from pydantic import TypeAdapter

from flows.registry import flow_at

PREFECT_YAML = Path(__file__).resolve().parent.parent / "prefect.yaml"
TRIGGERS: TypeAdapter[DeploymentTriggerTypes] = TypeAdapter(DeploymentTriggerTypes)


def schedule_of(spec: dict[str, Any]) -> Schedule:
    tz = spec.get("timezone")
    params = spec.get("parameters")
    if "cron" in spec:
        return Cron(spec["cron"], timezone=tz, parameters=params)
    if "interval" in spec:
        return Interval(spec["interval"], timezone=tz, parameters=params)
    return RRule(spec["rrule"], timezone=tz, parameters=params)


def triggers_of(deployment: dict[str, Any]) -> list[DeploymentTriggerTypes]:
    """As `prefect deploy` reads them: each trigger validated, named after its deployment when unnamed."""
    specs = deployment.get("triggers") or []
    return [TRIGGERS.validate_python({"name": f"{deployment['name']}__automation_{i}", **spec})
            for i, spec in enumerate(specs, start=1)]


def deployments(path: Path = PREFECT_YAML) -> list[Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        flow_at(d["entrypoint"]).to_deployment(
            name=d["name"],
            description=d.get("description"),
            tags=d.get("tags"),
            parameters=d.get("parameters") or {},
            schedules=[schedule_of(s) for s in d.get("schedules") or []],
            concurrency_limit=d.get("concurrency_limit"),
            triggers=triggers_of(d),
        )
        for d in data["deployments"]
    ]


def serve_all() -> None:
    if not PREFECT_API_URL.value():
        print(
            "warning: PREFECT_API_URL is not set. The local ephemeral API never fires schedules; "
            "start `prefect server start` and set PREFECT_API_URL=http://127.0.0.1:4200/api."
        )
    serve(*deployments())
