"""What every flow's parameters share: ops-timezone times, the ISO week, and run names made from parameters.

A deployment's custom-run form and `prefect deployment run -p since=2026-11-16` send plain dates and naive
times; they mean the ops timezone (settings.timezone), as on the CLI. `OpsTime` makes them aware at the flow's
edge (Prefect validates flow parameters with pydantic), so no task ever compares naive with aware.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field, TypeAdapter

from complaints.core.settings import get_settings

LAST_WEEK = "last"
WEEK_PATTERN = r"^(last|\d{4}-W(0[1-9]|[1-4][0-9]|5[0-3]))$"


def ops_zone() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def in_ops_timezone(value: datetime) -> datetime:
    """A naive time (or a plain date, parsed as its midnight) is in the ops timezone; aware ones are kept."""
    return value if value.tzinfo else value.replace(tzinfo=ops_zone())


def _real_week(value: str) -> str:
    if value != LAST_WEEK:
        year, week = value.split("-W")
        date.fromisocalendar(int(year), int(week), 1)  # 2027-W53 does not exist: ValueError, a form error
    return value


OpsTime = Annotated[datetime, AfterValidator(in_ops_timezone)]
IsoWeek = Annotated[str, Field(pattern=WEEK_PATTERN), AfterValidator(_real_week)]
# `now` of the flows that replay history: empty is the real time (there is no fixed default to offer).
AsOf = Annotated[OpsTime | None, Field(examples=["2026-11-20T10:00:00"])]
Week = Annotated[IsoWeek, Field(examples=["2026-W47", LAST_WEEK])]
_TIME = TypeAdapter(OpsTime)


def resolve_week(week: str, today: datetime | None = None) -> str:
    """`last` is the last complete ISO week in the ops timezone; any other value is the week itself."""
    if week != LAST_WEEK:
        return week
    from complaints.reports import last_complete_week

    return last_complete_week(today or datetime.now(UTC), get_settings().timezone)


def show_time(value: Any) -> str:
    """A parameter's time as ops read it: ops timezone, to the minute (dates alone when at midnight)."""
    t = _TIME.validate_python(value).astimezone(ops_zone())
    return t.strftime("%Y-%m-%d") if (t.hour, t.minute) == (0, 0) else t.strftime("%Y-%m-%d %H:%M")


def window(since: Any, until: Any) -> str:
    """`2026-11-16..2026-11-18`, open ends shown as `…`; empty when there is no window."""
    if since is None and until is None:
        return ""
    return f"{show_time(since) if since is not None else '…'}..{show_time(until) if until is not None else '…'}"


def as_of(now: Any) -> str:
    return f"as of {show_time(now)}" if now is not None else datetime.now(UTC).astimezone(ops_zone()).strftime(
        "%Y-%m-%d %H:%M")


def run_name(make: Callable[[Mapping[str, Any]], str]) -> Callable[[], str]:
    """A `flow_run_name` callable: Prefect calls it without arguments inside the run, so read the parameters
    from the run context (the UI lists runs by this name, instead of a random `big-sloth`)."""

    def name() -> str:
        from prefect.context import FlowRunContext

        ctx = FlowRunContext.get()
        return " ".join(make(dict(ctx.parameters) if ctx and ctx.parameters else {}).split())

    return name
