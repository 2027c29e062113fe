"""How a run that did only part of its work ends: Failed or Completed named "Degraded", saying what and why.

A source that fails (ingest) or a partition that fails (process) does not stop the others; the run's state then
says so, with the work that was done as its result, so `complaints run`, the pipeline and the Prefect UI see it.
"""

from __future__ import annotations

from typing import Any, TypeVar

from prefect import get_run_logger
from prefect.states import Completed, Failed, State

from tasks.artifacts import publish_markdown

T = TypeVar("T")
DEGRADED = "Degraded"  # the name of a Completed state whose output needs attention (see outcome)


def one_line(state: State[Any]) -> str:
    """A failed task run's state as one short line (its message, else its name)."""
    message = (state.message or state.name or "failed").strip().splitlines()
    return message[0][:300] if message else "failed"


def outcome(stage: str, failed: list[str], degraded: list[str], data: T, description: str) -> T | State[Any]:
    """The flow's result; with problems, a state that says so: Failed when some work failed (not done: the next
    run does it), else Completed named Degraded (done, but not all of it can be trusted or went through); each
    problem is logged and listed in a `<stage>-problems` artifact."""
    problems = failed + degraded
    if not problems:
        return data
    logger = get_run_logger()
    for line in problems:
        logger.warning("%s", line)
    lines = [f"# {stage.capitalize()} problems", *(f"- {p}" for p in problems)]
    publish_markdown(f"{stage}-problems", "\n".join(lines), description)
    message = "; ".join(problems)
    if failed:
        return Failed(message=message, data=data)
    return Completed(name=DEGRADED, message=message, data=data)


def run_outcome(states: dict[str, State[Any]], results: dict[str, Any]) -> dict[str, Any] | State[Any]:
    """A run of several stages (the pipeline) ends Failed or Degraded as its stages did, with its results."""
    failed = [f"{name}: {s.message}" for name, s in states.items() if s.is_failed()]
    degraded = [f"{name}: {s.message}" for name, s in states.items() if s.is_completed() and s.name == DEGRADED]
    if failed:
        return Failed(message="; ".join(failed + degraded) + " (the later stages ran)", data=results)
    if degraded:
        return Completed(name=DEGRADED, message="; ".join(degraded), data=results)
    return results
