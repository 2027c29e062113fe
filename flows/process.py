"""Process flow: dedupe -> classify in batches until none is left, then detect collective complaints.

Each batch is split into `partitions` parts by person key; dedupe then classify of every part are task runs
that the task runner (COMPLAINTS_TASK_RUNNER: threads, or dask for processes/machines) runs side by side.
One run at a time holds the database lease on the unprocessed complaints; an overlapping run waits for it.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from pydantic import Field

from complaints.core.leases import LeaseTaken, held
from complaints.core.runtime import runtime
from complaints.core.settings import get_settings
from flows.params import as_of, run_name
from flows.runners import partition_runner
from tasks.artifacts import counts_table, publish_markdown, publish_table
from tasks.plan import publish_incident_board_task
from tasks.process import LEASE, LEASE_TTL, classify_task, dedupe_task, detect_task, next_batch_task

# An overlapping run waits this long for the lease, then leaves the rows to the run that holds it.
LEASE_WAIT = timedelta(minutes=10)


@flow(name="process", task_runner=partition_runner(), flow_run_name=run_name(lambda p: f"process {as_of(None)}"))
def process(batch_size: Annotated[int, Field(ge=1, le=1_000_000, examples=[50_000])] = 50_000,
            partitions: Annotated[int, Field(ge=0, le=64, examples=[2])] = 0) -> dict[str, Any]:
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
    try:
        with held(runtime().db_url, LEASE, holder, LEASE_TTL, LEASE_WAIT):
            while batch := next_batch_task(batch_size, parts, holder):
                dedupes = [dedupe_task.submit(ids) for ids in batch]
                classifies = [classify_task.submit(ids, wait_for=[d]) for ids, d in zip(batch, dedupes, strict=True)]
                dup = Counter[str]()
                for d in dedupes:
                    dup.update(d.result())
                for c in classifies:
                    result = c.result()
                    by_category.update(result["by_category"])
                    by_severity.update(result["by_severity"])
                totals.update({"processed": dup["checked"], "exact_duplicates": dup["exact"],
                               "near_duplicates": dup["near"]})
            # Once over all batches: detection replays hours in order, and reads each hour once.
            det = detect_task(holder)
            totals.update({"linked_to_incidents": det["linked"], "hours_replayed": det["hours"]})
            opened = det["opened"]
    except LeaseTaken as exc:
        get_run_logger().warning("%s; its run processes the complaints", exc)
        totals["skipped_lease_held"] = 1
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
        "Dedupe, classification and collective-complaint detection",
    )
    totals["open_incidents"] = publish_incident_board_task(datetime.now(UTC))
    return {**totals, "by_category": dict(by_category), "by_severity": dict(by_severity), "incidents_opened": opened}
