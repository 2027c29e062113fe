"""Process flow: dedupe -> classify -> detect collective complaints, in batches until none is left."""

from __future__ import annotations

from collections import Counter
from typing import Any

from prefect import flow

from tasks.artifacts import counts_table, publish_markdown, publish_table
from tasks.process import classify_task, dedupe_task, detect_task, next_batch_task


@flow(name="process")
def process(batch_size: int = 50_000) -> dict[str, Any]:
    totals: Counter[str] = Counter()
    by_category: Counter[str] = Counter()
    by_severity: Counter[str] = Counter()
    opened: list[int] = []
    while ids := next_batch_task(batch_size):
        dup = dedupe_task(ids)
        cls = classify_task(ids)
        det = detect_task(ids)
        totals.update({"processed": len(ids), "exact_duplicates": dup["exact"], "near_duplicates": dup["near"],
                       "linked_to_incidents": det["linked"]})
        by_category.update(cls["by_category"])
        by_severity.update(cls["by_severity"])
        opened += det["opened"]
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
    return {**totals, "by_category": dict(by_category), "by_severity": dict(by_severity), "incidents_opened": opened}
