"""Process flow: dedupe -> classify in batches until none is left, then detect collective complaints.

Each batch is split into `partitions` parts by person key; dedupe then classify of every part is a task run that
the task runner (COMPLAINTS_TASK_RUNNER: threads, or dask for processes/machines) runs side by side.
One run at a time holds the database lease on the unprocessed complaints; an overlapping run waits for it.

No single complaint and no single partition stops the run (issue 16): a complaint that makes dedupe or
classification raise is held out with the reason and the rest of its partition is processed; a partition that
fails anyway (an error that kept failing after its retries, or one that fails every complaint) leaves its
complaints for the next run, and the run goes on with the other partitions, the later batches and detection.
The run then ends Completed named "Degraded" (complaints held) or Failed (a partition failed), saying which and
why, with its counts as its result; the pipeline runs its later stages either way.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.events import emit_event
from prefect.runtime import flow_run
from prefect.states import State
from pydantic import Field

from complaints.core.leases import LeaseTaken, held
from complaints.core.runtime import runtime
from complaints.core.settings import get_settings
from flows.outcome import one_line, outcome
from flows.params import as_of, run_name
from flows.runners import partition_runner
from tasks.artifacts import counts_table, publish_markdown, publish_table
from tasks.plan import publish_incident_board_task
from tasks.process import (
    LEASE,
    LEASE_TTL,
    detect_task,
    held_task,
    model_task,
    next_batch_task,
    process_partition_task,
)

# An overlapping run waits this long for the lease, then leaves the rows to the run that holds it.
LEASE_WAIT = timedelta(minutes=10)
DEGRADED_EVENT = "complaints.process.degraded"
SHOWN = 20  # held complaints named in the state's message and the event (the artifact and the CLI list all)


@flow(name="process", task_runner=partition_runner(), flow_run_name=run_name(lambda p: f"process {as_of(None)}"))
def process(batch_size: Annotated[int, Field(ge=1, le=1_000_000, examples=[50_000])] = 50_000,
            partitions: Annotated[int, Field(ge=0, le=64, examples=[2])] = 0) -> dict[str, Any] | State[Any]:
    """Dedupe and classify every unprocessed complaint in batches, then detect collective complaints (incidents).

    Args:
        batch_size: Complaints read per batch; smaller batches hold less memory, larger ones run fewer queries.
        partitions: Parts each batch is split into (by person key) to run side by side; 0: the
            COMPLAINTS_PROCESS_PARTITIONS setting.
    """
    parts = partitions or get_settings().process_partitions
    holder = f"flow-run:{flow_run.get_id() or uuid.uuid4()}"
    totals: Counter[str] = Counter()
    by_category: Counter[str] = Counter()
    by_severity: Counter[str] = Counter()
    opened: list[int] = []
    held_out: dict[int, str] = {}
    failed: list[str] = []
    try:
        with held(runtime().db_url, LEASE, holder, LEASE_TTL, LEASE_WAIT):
            model_task()  # one category model for every batch and partition of the run
            after = None
            while (batch := next_batch_task(batch_size, parts, holder, after)).parts:
                after = batch.after
                until = batch.after[0] if batch.after else None
                futures = [process_partition_task.submit(ids, until, batch.stored) for ids in batch.parts]
                for ids, future in zip(batch.parts, futures, strict=True):
                    future.wait()
                    if not future.state.is_completed():
                        failed.append(f"a partition of {len(ids)} complaints (ids {min(ids)}..{max(ids)}) failed "
                                      f"and waits for the next run: {one_line(future.state)}")
                        totals["in_failed_partitions"] += len(ids)
                        continue
                    result = future.result()
                    # follow_up_duplicates: of the near ones, linked because they said they repeat (dedupe.follow_up)
                    totals.update({"processed": result["processed"], "exact_duplicates": result["exact"],
                                   "near_duplicates": result["near"], "follow_up_duplicates": result["follow_up"]})
                    by_category.update(result["by_category"])
                    by_severity.update(result["by_severity"])
                    held_out.update(dict(result["held"]))
            # Once over all batches: detection replays hours in order, and reads each hour once.
            det = detect_task(holder)
            totals.update({"linked_to_incidents": det["linked"], "hours_replayed": det["hours"]})
            opened = det["opened"]
    except LeaseTaken as exc:
        get_run_logger().warning("%s; its run processes the complaints", exc)
        totals["skipped_lease_held"] = 1
    totals["held_out"] = len(held_out)
    # Held by earlier runs and not released: no acknowledgement, plan or statutory clock starts for them until then.
    totals["held_in_all"] = held_task()
    publish_table("process-by-category", counts_table(by_category, "category"),
                  "New canonical complaints by category")
    publish_table("process-by-severity", counts_table(by_severity, "severity"),
                  "New canonical complaints by severity")
    publish_markdown(
        "process-summary",
        "\n".join([
            "# Process run",
            *(f"- {k.replace('_', ' ')}: **{v}**" for k, v in sorted(totals.items())),
            f"- incidents opened: **{len(opened)}** {opened if opened else ''}",
        ]),
        "Dedupe, classification and collective-complaint detection; complaints held out of processing (see "
        "`complaints quarantine held`) and in failed partitions (processed by the next run)",
    )
    if held_out:
        publish_table("process-held", [{"complaint": i, "reason": why} for i, why in sorted(held_out.items())],
                      "Complaints held out of processing by this run: release with `complaints quarantine release`")
        emit_event(DEGRADED_EVENT, resource={"prefect.resource.id": "complaints.stage.process",
                                             "prefect.resource.name": "process"},
                   payload={"held": len(held_out), "complaints": dict(sorted(held_out.items())[:SHOWN])})
    totals["open_incidents"] = publish_incident_board_task(datetime.now(UTC))
    result = {**totals, "by_category": dict(by_category), "by_severity": dict(by_severity),
              "incidents_opened": opened, "held": dict(sorted(held_out.items()))}
    degraded = [f"complaint {i} held out of processing: {why}" for i, why in sorted(held_out.items())[:SHOWN]]
    if len(held_out) > SHOWN:
        degraded.append(f"and {len(held_out) - SHOWN} more complaints held out")
    if totals["held_in_all"] > len(held_out):
        degraded.append(f"{totals['held_in_all'] - len(held_out)} complaints still held out of processing by earlier "
                        "runs (`complaints quarantine held`, then `release`)")
    return outcome("process", failed, degraded, result,
                   "Partitions that failed (their complaints wait for the next run) and complaints held out")
