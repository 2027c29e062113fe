"""Summaries for the Prefect UI. Everything published here is masked first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from complaints.core.pii import mask_text


def _clean(value: Any) -> Any:
    return mask_text(value) if isinstance(value, str) else value


def publish_table(key: str, rows: Sequence[Mapping[str, Any]], description: str) -> None:
    """A table artifact; the key (lowercase, dashes) groups runs of one flow in the UI."""
    table = [{k: _clean(v) for k, v in row.items()} for row in rows] or [{"note": "nothing to report"}]
    create_table_artifact(key=key, table=table, description=mask_text(description))


def publish_markdown(key: str, markdown: str, description: str) -> None:
    create_markdown_artifact(key=key, markdown=mask_text(markdown), description=mask_text(description))


def counts_table(counts: Mapping[str, int], label: str) -> list[dict[str, Any]]:
    return [{label: k, "count": v} for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
