"""Ingest flow: pull every enabled source (or the named ones); with since/until, a backfill window."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from prefect import flow
from pydantic import Field

from complaints.core.runtime import runtime
from flows.params import OpsTime, run_name, window
from tasks.artifacts import publish_table
from tasks.ingest import ingest_source_task

# Descriptions come from the docstring's Args (Prefect puts them on the form); examples from these Fields.
Sources = Annotated[Sequence[str], Field(examples=[["app", "hotline"]])]
Since = Annotated[OpsTime | None, Field(examples=["2026-11-16"])]
Until = Annotated[OpsTime | None, Field(examples=["2026-11-18"])]


def _name(p: Any) -> str:
    picked = ",".join(p.get("sources") or ())
    return f"ingest {window(p.get('since'), p.get('until')) or 'new'} {picked}"


@flow(name="ingest", flow_run_name=run_name(_name))
def ingest(sources: Sources = (), since: Since = None, until: Until = None) -> list[dict[str, Any]]:
    """Pull complaints from the channel sources; rows that fail validation go to the quarantine.

    Args:
        sources: Source names from config/sources.yaml (e.g. app, hotline); empty: every enabled source.
        since: Backfill window start, inclusive; a plain date such as 2026-11-16 is midnight in the ops timezone.
            Empty: only what is new since the last pull.
        until: Backfill window end, exclusive (ops timezone); empty: up to now.
    """
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
