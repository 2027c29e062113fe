"""Ingest tasks: one task run per source (a batch of files), retried on I/O errors only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import get_run_logger

from complaints.core.db import refresh_statistics
from complaints.ingest.store import ingest_source
from tasks._stage import stage, stage_task


@stage_task(retries=3, retry_delay_seconds=[5, 30, 120], retry_jitter_factor=0.5, task_run_name="ingest-{source}")
def ingest_source_task(source: str, since: datetime | None = None, until: datetime | None = None) -> dict[str, Any]:
    with stage() as (rt, session):
        spec = rt.config.source(source)
        summary = ingest_source(session, rt.config, spec, rt.settings.pii_key.get_secret_value(), since, until,
                                evidence_dir=rt.settings.evidence_path)
    refresh_statistics(rt.db_url)  # a large pull: the stages after it query what it wrote
    get_run_logger().info(
        "source %s: %d records, %d new, %d updated, %d unchanged, %d quarantined, %d of anonymised complaints or "
        "people left so", source, summary.records, summary.inserted, summary.updated, summary.unchanged,
        summary.quarantined, summary.anonymised,
    )
    return summary.as_dict()
