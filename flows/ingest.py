"""Ingest flow: pull every enabled source (or the named ones); with since/until, a backfill window."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow

from complaints.core.runtime import runtime
from tasks.artifacts import publish_table
from tasks.ingest import ingest_source_task


@flow(name="ingest")
def ingest(sources: list[str] | None = None, since: datetime | None = None,
           until: datetime | None = None) -> list[dict[str, Any]]:
    names = sources or [s.name for s in runtime().config.sources.sources if s.enabled]
    futures = [ingest_source_task.submit(name, since, until) for name in names]
    results = [f.result() for f in futures]
    publish_table(
        "ingest-summary",
        [{k: v for k, v in r.items() if k != "quarantine_reasons"} for r in results],
        f"Ingest of {len(names)} source(s)" + (f", backfill {since} .. {until}" if since or until else ""),
    )
    publish_table(
        "ingest-quarantine",
        [{"source": r["source"], "reason": reason, "rows": n} for r in results
         for reason, n in r["quarantine_reasons"].items()],
        "Rows sent to the quarantine in this run (see `complaints quarantine list`)",
    )
    return results
