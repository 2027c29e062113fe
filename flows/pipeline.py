"""The whole job in order: ingest -> process -> regulatory clocks -> plan -> notify -> weekly report.

The run's `pipeline-summary` artifact links each stage's flow run with its headline counts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import flow
from prefect.states import State
from prefect.utilities.urls import url_for

from flows.ingest import Since, Until, ingest
from flows.notify import notify
from flows.outcome import run_outcome
from flows.params import LAST_WEEK, AsOf, Week, as_of, resolve_week, run_name, window
from flows.plan import plan
from flows.process import process
from flows.regulatory import regulatory
from flows.weekly_report import weekly_report
from tasks.artifacts import publish_markdown

PARTIAL = ("ingest", "process")  # stages whose Failed state holds the results of the part that worked


def _headline(stage: str, result: Any) -> str:
    """The counts an ops person looks at first, per stage."""
    if stage == "ingest":
        return (f"{sum(r['inserted'] for r in result)} new, {sum(r['updated'] for r in result)} updated, "
                f"{sum(r['quarantined'] for r in result)} quarantined from {len(result)} source(s)")
    if stage == "process":
        return (f"{result.get('processed', 0)} processed, {result.get('exact_duplicates', 0)} exact and "
                f"{result.get('near_duplicates', 0)} near duplicates, {len(result.get('incidents_opened', []))} "
                f"incidents opened, {result.get('open_incidents', 0)} open; {result.get('held_out', 0)} held out, "
                f"{result.get('in_failed_partitions', 0)} in failed partitions")
    if stage == "regulatory":
        return f"{result.get('clocks_started', 0)} clocks started, {result.get('major_events', 0)} major events"
    if stage == "plan":
        return (f"{result['plans_created_by_this_run']} plans created by this run, {result['plans_open']} open "
                f"of {result['plans_total']}; {result['escalations']} escalations, "
                f"{result['at_risk_warnings']} at-risk warnings")
    if stage == "notify":
        return ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in result.items() if isinstance(v, int))
    return f"{len(result)} report(s): " + ", ".join(f"{r['kind']}-{r['language']}" for r in result)


def _summary(rows: list[tuple[str, Any, str]], failed: str | None) -> str:
    lines = ["# Pipeline run", "", "| stage | run | headline |", "|---|---|---|"]
    for stage, run_id, headline in rows:
        url = url_for("flow-run", str(run_id)) if run_id else None
        lines.append(f"| {stage} | {f'[{run_id}]({url})' if url else str(run_id or '-')} | {headline} |")
    if failed:
        lines += ["", f"**Stopped: the {failed} stage failed** (open its run for the error)."]
    return "\n".join(lines)


@flow(name="pipeline", flow_run_name=run_name(
    lambda p: f"pipeline {window(p.get('since'), p.get('until'))} report {resolve_week(p.get('week', LAST_WEEK))} "
              f"{as_of(p.get('now')) if p.get('now') else ''}"))
def pipeline(since: Since = None, until: Until = None, week: Week = LAST_WEEK,
             now: AsOf = None) -> dict[str, Any] | State[Any]:
    """Run every stage in order: ingest, process, regulatory clocks, plan, notify, weekly report.

    Args:
        since: Ingest backfill window start, inclusive; a plain date such as 2026-11-16 is midnight in the ops
            timezone. Empty: only what is new since the last pull.
        until: Ingest backfill window end, exclusive (ops timezone); empty: up to now.
        week: Week of the reports, YYYY-Www such as 2026-W47; `last`: the last complete week.
        now: The "as of" time for clocks, plans and notifications when replaying history (ops timezone).
            Empty: the real time.
    """
    stages: list[tuple[str, Callable[[], Any]]] = [
        ("ingest", lambda: ingest(since=since, until=until, return_state=True)),
        ("process", lambda: process(return_state=True)),
        # Before plan: major events add regulator-deadline steps that plan's escalation must see.
        ("regulatory", lambda: regulatory(now=now, return_state=True)),
        ("plan", lambda: plan(now=now, return_state=True)),
        ("notify", lambda: notify(now=now, return_state=True)),
        ("weekly_report", lambda: weekly_report(week=week, now=now, return_state=True)),
    ]
    results: dict[str, Any] = {}
    states: dict[str, State[Any]] = {}
    rows: list[tuple[str, Any, str]] = []
    for name, start in stages:
        state = states[name] = start()
        try:
            # A source (ingest) or a partition (process) that failed does not stop the later stages for the rest:
            # the stage's Failed state carries the results of the work that was done, and this run ends saying so.
            # A stage that failed as a whole (its result is the exception) stops the run.
            results[name] = state.result(raise_on_failure=name not in PARTIAL)
            if isinstance(results[name], BaseException):
                raise results[name]
        except BaseException:
            rows.append((name, state.state_details.flow_run_id, f"**{state.type.value.lower()}**"))
            publish_markdown("pipeline-summary", _summary(rows, name), "Stage runs of this pipeline run")
            raise
        rows.append((name, state.state_details.flow_run_id, _headline(name, results[name])))
    publish_markdown("pipeline-summary", _summary(rows, None), "Stage runs of this pipeline run, with their counts")
    return run_outcome(states, results)
