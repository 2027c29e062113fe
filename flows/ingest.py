"""Ingest flow: pull every enabled source (or the named ones); with since/until, a backfill window."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from prefect import flow
from prefect.events import emit_event
from prefect.states import State
from pydantic import Field

from complaints.core.runtime import runtime
from complaints.ingest.sources import Window
from flows.outcome import one_line, outcome
from flows.params import OpsTime, run_name, window
from tasks.artifacts import publish_table
from tasks.ingest import ingest_source_task

# Descriptions come from the docstring's Args (Prefect puts them on the form); examples from these Fields.
Sources = Annotated[Sequence[str], Field(examples=[["app", "hotline"]])]
Since = Annotated[OpsTime | None, Field(examples=["2026-11-16"])]
Until = Annotated[OpsTime | None, Field(examples=["2026-11-18"])]
DEGRADED_EVENT = "complaints.source.degraded"


def _name(p: Any) -> str:
    picked = ",".join(p.get("sources") or ())
    return f"ingest {window(p.get('since'), p.get('until')) or 'new'} {picked}"


@flow(name="ingest", flow_run_name=run_name(_name))
def ingest(sources: Sources = (), since: Since = None, until: Until = None) -> list[dict[str, Any]] | State[Any]:
    """Pull complaints from the channel sources; rows that fail validation go to the quarantine.

    Args:
        sources: Source names from config/sources.yaml (e.g. app, hotline); empty: every enabled source.
        since: Backfill window start, inclusive; a plain date such as 2026-11-16 is midnight in the ops timezone.
            Empty: only what is new since the last pull.
        until: Backfill window end, exclusive (ops timezone); empty: up to now.
    """
    # Each source is a task run of its own: one that fails (a missing folder, an API down after its retries)
    # does not stop the others, and the flow's state says which failed (Failed) or which delivered output
    # that cannot be trusted (Completed, named "Degraded"), with the summaries as its result either way.
    Window(since, until)  # WindowError before any work if it is reversed
    # runtime() here, not first in the task threads: two first calls at once run two migrations at once (a
    # KeyError out of Alembic in one of them).
    rt = runtime()
    names = list(sources) or [s.name for s in rt.config.sources.sources if s.enabled]
    futures = [ingest_source_task.submit(name, since, until) for name in names]
    results: list[dict[str, Any]] = []
    failed: dict[str, str] = {}
    for name, future in zip(names, futures, strict=True):
        future.wait()
        if future.state.is_completed():
            results.append(future.result())
        else:
            failed[name] = one_line(future.state)
    publish_table(
        "ingest-summary",
        [{k: v for k, v in r.items() if k not in ("quarantine_reasons", "attachment_reasons")} for r in results]
        + [{"source": name, "failed": why} for name, why in failed.items()],
        f"Ingest of {len(names)} source(s)" + (f", backfill {since} .. {until}" if since or until else ""),
    )
    publish_table(
        "ingest-quarantine",
        [{"source": r["source"], "reason": reason, "rows": n} for r in results
         for reason, n in r["quarantine_reasons"].items()],
        "Rows sent to the quarantine in this run (see `complaints quarantine list`)",
    )
    publish_table(
        "ingest-attachments",
        [{"source": r["source"], "reason": reason, "files": n} for r in results
         for reason, n in r.get("attachment_reasons", {}).items()],
        "Files that came with complaints and were not stored, by reason (the complaints were stored)",
    )
    degraded = {r["source"]: r["degraded"] for r in results if r.get("degraded")}
    return _outcome(results, failed, degraded)


def _outcome(results: list[dict[str, Any]], failed: dict[str, str],
             degraded: dict[str, str]) -> list[dict[str, Any]] | State[Any]:
    """The flow's result, or for a failed or degraded source a state that says so (artifact and event too)."""
    for name, why in degraded.items():
        emit_event(DEGRADED_EVENT, resource={"prefect.resource.id": f"complaints.source.{name}",
                                             "prefect.resource.name": name},
                   payload={"source": name, "reason": why})
    return outcome("ingest", [f"source {name} failed: {why}" for name, why in failed.items()],
                   [f"source {name} degraded: {why}" for name, why in degraded.items()], results,
                   "Sources that failed or whose output cannot be trusted")
