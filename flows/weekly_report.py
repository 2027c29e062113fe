"""Weekly report flow: crisis and lessons-learned PDFs for an ISO week, emailed to stakeholders."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow

from complaints.core.runtime import runtime
from complaints.reports import last_complete_week
from tasks.artifacts import publish_markdown
from tasks.notify import send_pending_task
from tasks.report import render_reports_task


@flow(name="weekly-report")
def weekly_report(week: str | None = None) -> list[dict[str, Any]]:
    """week: ISO week such as 2026-W47; default the last complete week in the ops timezone."""
    week = week or last_complete_week(datetime.now(UTC), runtime().settings.timezone)
    reports = render_reports_task(week)
    send_pending_task()
    lines = [f"# Weekly reports {week}", "", "| report | language | file |", "|---|---|---|"]
    lines += [f"| {r['kind']} | {r['language']} | `{r['path']}` |" for r in reports]
    if reports:
        headline = {k: v for k, v in reports[0].items() if isinstance(v, int | float)}
        lines += ["", *(f"- {k.replace('_', ' ')}: **{v}**" for k, v in headline.items())]
    publish_markdown("weekly-report", "\n".join(lines), f"Weekly reports for {week}")
    return reports
