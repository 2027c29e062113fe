"""Serve every deployment declared in prefect.yaml, so schedules live in one file."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import yaml
from prefect import Flow, serve
from prefect.schedules import Cron, Interval, RRule, Schedule
from prefect.settings import PREFECT_API_URL

PREFECT_YAML = Path(__file__).resolve().parent.parent / "prefect.yaml"


def load_flow(entrypoint: str) -> Flow[..., Any]:
    """'flows/ingest.py:ingest' -> the flow object."""
    path, name = entrypoint.split(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    return getattr(module, name)


def schedule_of(spec: dict[str, Any]) -> Schedule:
    tz = spec.get("timezone")
    params = spec.get("parameters")
    if "cron" in spec:
        return Cron(spec["cron"], timezone=tz, parameters=params)
    if "interval" in spec:
        return Interval(spec["interval"], timezone=tz, parameters=params)
    return RRule(spec["rrule"], timezone=tz, parameters=params)


def deployments(path: Path = PREFECT_YAML) -> list[Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        load_flow(d["entrypoint"]).to_deployment(
            name=d["name"],
            description=d.get("description"),
            tags=d.get("tags"),
            parameters=d.get("parameters") or {},
            schedules=[schedule_of(s) for s in d.get("schedules") or []],
            concurrency_limit=d.get("concurrency_limit"),
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
