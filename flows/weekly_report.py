"""Weekly report flow: crisis and lessons-learned PDFs for an ISO week, emailed to stakeholders."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.params import LAST_WEEK, AsOf, Week, resolve_week, run_name
from tasks.artifacts import publish_markdown
from tasks.notify import send_pending_task
from tasks.report import render_reports_task


@flow(name="weekly-report", flow_run_name=run_name(lambda p: f"report {resolve_week(p.get('week', LAST_WEEK))}"))
def weekly_report(week: Week = LAST_WEEK, now: AsOf = None) -> list[dict[str, Any]]:
    """Render the crisis and lessons-learned PDFs of one ISO week and email them to the stakeholders.

    Args:
        week: ISO week as YYYY-Www, e.g. 2026-W47 (Monday to Sunday, ops timezone); `last`: the last complete week.
        now: The "as of" time of the figures when replaying history (ops timezone); empty: now.
    """
    week = resolve_week(week)
    reports = render_reports_task(week, now)
    send_pending_task()
    lines = [f"# Weekly reports {week}", "", "| report | language | file |", "|---|---|---|"]
    lines += [f"| {r['kind']} | {r['language']} | `{r['path']}` |" for r in reports]
    if reports:
        headline = {k: v for k, v in reports[0].items() if isinstance(v, int | float)}
        lines += ["", *(f"- {k.replace('_', ' ')}: **{v}**" for k, v in headline.items())]
    publish_markdown("weekly-report", "\n".join(lines), f"Weekly reports for {week}")
    return reports
