"""Flow parameters at the edge: plain dates and naive times are the ops timezone, weeks are validated, every
parameter of every flow is described (what the deployment's custom-run form shows)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from complaints.core.runtime import prefect_defaults

prefect_defaults()

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_every_flow_parameter_has_a_description_and_no_none_toggle_where_a_default_exists() -> None:
    from flows.registry import FLOWS

    for name, (flow, _) in FLOWS.items():
        schema = flow.parameters.model_dump()
        assert flow.description, name  # the docstring's summary
        for param, spec in schema["properties"].items():
            assert spec.get("description"), f"{name}.{param} has no description"
    weekly = FLOWS["weekly-report"][0].parameters.model_dump()["properties"]["week"]
    assert weekly["default"] == "last" and weekly["pattern"] and "2026-W47" in weekly["examples"]
    ingest = FLOWS["ingest"][0].parameters.model_dump()["properties"]
    assert ingest["sources"]["default"] == [] and ingest["since"]["examples"] == ["2026-11-16"]


@pytest.mark.parametrize("flow_name", ["ingest", "pipeline"])
def test_plain_dates_and_naive_times_mean_the_ops_timezone(flow_name: str) -> None:
    from flows.registry import FLOWS

    flow = FLOWS[flow_name][0]
    got = flow.validate_parameters({"since": "2026-11-16", "until": "2026-11-18T10:30"})
    assert got["since"] == datetime(2026, 11, 16, tzinfo=SHANGHAI)
    assert got["until"] == datetime(2026, 11, 18, 10, 30, tzinfo=SHANGHAI)
    aware = flow.validate_parameters({"since": "2026-11-16T00:00:00Z"})["since"]
    assert aware == datetime(2026, 11, 16, tzinfo=UTC)  # an explicit offset is kept
    # Comparable with the aware times every stage uses (the backfill's TypeError of issue 18).
    assert got["since"] < datetime(2026, 11, 17, tzinfo=UTC)


@pytest.mark.parametrize("flow_name", ["notify", "plan", "regulatory", "retention", "pipeline"])
def test_as_of_times_are_aware(flow_name: str) -> None:
    from flows.registry import FLOWS

    got = FLOWS[flow_name][0].validate_parameters({"now": "2026-11-23 09:00"})
    assert got["now"] == datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def test_week_is_validated() -> None:
    from prefect.exceptions import ParameterTypeError

    from flows.params import resolve_week
    from flows.weekly_report import weekly_report

    assert weekly_report.validate_parameters({"week": "2026-W53"})["week"] == "2026-W53"  # 2026 has 53 weeks
    for bad in ("2026-47", "2026-W54", "2027-W53", "W47", ""):
        with pytest.raises(ParameterTypeError):
            weekly_report.validate_parameters({"week": bad})
    # Monday 2026-11-23 09:00 Shanghai: the last complete week is W47.
    assert resolve_week("last", datetime(2026, 11, 23, 1, 0, tzinfo=UTC)) == "2026-W47"
    assert resolve_week("2026-W40") == "2026-W40"
