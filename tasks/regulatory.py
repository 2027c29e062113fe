"""Regulatory tasks: keep every statutory clock, class major events and draft their reports, purge old records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import get_run_logger
from sqlalchemy import or_, select

from complaints.core.db import session_scope
from complaints.core.models import MajorEvent
from complaints.regulatory.clocks import refresh_clocks, start_clocks
from complaints.regulatory.major_events import assess_major_events, draft_report
from complaints.regulatory.retention import purge
from tasks._stage import stage, stage_task


@stage_task()
def keep_clocks_task(now: datetime) -> dict[str, int]:
    with stage() as (rt, session):
        started = start_clocks(session, rt.config)
        stopped = refresh_clocks(session, rt.config, now)
    get_run_logger().info("started %d clocks; %s", started, stopped)
    return {"clocks_started": started, **{f"clocks_{k}": v for k, v in stopped.items()}}


@stage_task()
def major_events_task(now: datetime) -> list[dict[str, Any]]:
    """Class incidents, then (re)draft the report of every new or upgraded event and of any whose draft
    failed before; each draft commits on its own, so one failing PDF does not undo the deadlines."""
    with stage() as (rt, session):
        changed = [e.incident_id for e in assess_major_events(session, rt.config, now)]
    with session_scope(rt.db_url) as session:
        todo = list(session.execute(select(MajorEvent).where(
            or_(MajorEvent.report_path.is_(None), MajorEvent.incident_id.in_(changed)))
            .order_by(MajorEvent.incident_id)).scalars())
    out = []
    for event in todo:
        with session_scope(rt.db_url) as session:
            path = draft_report(session, rt.config, rt.settings, event.incident_id)
        out.append({"incident": event.incident_id, "class": event.event_class,
                    "phone_due_at": event.phone_due_at.isoformat(), "written_due_at": event.written_due_at.isoformat(),
                    "draft": str(path)})
    get_run_logger().info("%d major events classed or upgraded, %d drafts written", len(changed), len(out))
    return out


@stage_task(retry_delay_seconds=30)
def retention_task(now: datetime, dry_run: bool = False) -> dict[str, Any]:
    with stage() as (rt, session):
        summary = purge(session, rt.config, now, dry_run=dry_run, evidence_dir=rt.settings.evidence_path,
                        outbox_dir=rt.settings.outbox_path)
    get_run_logger().info("retention: %d past the period, %d held, %d anonymised; %d transactions lost their "
                          "person; %d quarantined records removed; %d .eml files deleted", summary.eligible,
                          summary.held, len(summary.anonymised), summary.transactions, summary.quarantined,
                          summary.eml_files)
    return {"cutoff": summary.cutoff.isoformat(), "eligible": summary.eligible, "held": summary.held,
            "anonymised": len(summary.anonymised), "evidence_files": summary.evidence_files,
            "transactions": summary.transactions, "quarantined": summary.quarantined, "eml_files": summary.eml_files,
            "dry_run": dry_run}
