"""Report tasks: render the week's PDFs (replacing earlier renders) and queue them to stakeholders."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect.runtime import flow_run

from complaints.notify.outbox import queue_report_emails
from complaints.reports import render_weekly_reports
from tasks._stage import stage, stage_task


@stage_task(retry_delay_seconds=30)
def render_reports_task(week: str, now: datetime | None = None) -> list[dict[str, Any]]:
    """Render the week's reports unless unchanged, and queue them; now: the run's as-of time (replays)."""
    with stage() as (rt, session):
        languages = sorted({s.language for s in rt.config.notifications.stakeholders} or {"zh", "en"})
        reports = render_weekly_reports(session, rt.config, rt.settings, week, languages, as_of=now)
        # Without a UI URL (a temporary local API) the run is named by the command that shows it.
        ui = flow_run.ui_url
        run = ui if ui and ui.startswith("http") else f"prefect flow-run inspect {flow_run.id}" if flow_run.id else None
        queued = queue_report_emails(session, rt.config, rt.settings, reports, run_url=run)
        return [
            {"kind": r.kind, "language": r.language, "path": r.path, "emails_queued": queued, **r.summary}
            for r in reports
        ]
