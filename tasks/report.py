"""Report tasks: render the week's PDFs (replacing earlier renders) and queue them to stakeholders."""

from __future__ import annotations

from typing import Any

from prefect import task

from complaints.db import session_scope
from complaints.notify import queue_report_emails
from complaints.reports import render_weekly_reports
from complaints.runtime import runtime


@task(retries=2, retry_delay_seconds=30)
def render_reports_task(week: str) -> list[dict[str, Any]]:
    rt = runtime()
    languages = sorted({s.language for s in rt.config.notifications.stakeholders} or {"zh", "en"})
    with session_scope(rt.db_url) as session:
        reports = render_weekly_reports(session, rt.config, rt.settings, week, languages)
        queued = queue_report_emails(session, rt.config, rt.settings, reports)
        return [
            {"kind": r.kind, "language": r.language, "path": r.path, "emails_queued": queued, **r.summary}
            for r in reports
        ]
