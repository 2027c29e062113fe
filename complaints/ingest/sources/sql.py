"""SQL connector: rows of a table or query in another database, read in order of a watermark column.

One streamed query per run (WHERE watermark >= the last committed value, ORDER BY watermark), cut into
batches; rows at the boundary value are read again and absorbed by the unique (source, external_id) key.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import create_engine, text

from complaints.core.config import SqlSourceSpec
from complaints.core.db import normalise_url
from complaints.core.records import RawRecord
from complaints.ingest.sources.base import Batch, Window


def _plain(value: Any) -> Any:
    """JSON-storable copy of a column value (the raw record is kept as JSON)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | bytes):
        return str(value)
    return value


def _state_value(value: Any) -> dict[str, Any]:
    return {"since": value.isoformat(), "since_type": "datetime"} if isinstance(value, datetime) else {"since": value}


def _param(state: dict[str, Any]) -> Any:
    value = state.get("since")
    return datetime.fromisoformat(value) if state.get("since_type") == "datetime" else value


class SqlConnector:
    skipped = 0

    def __init__(self, spec: SqlSourceSpec) -> None:
        self.spec = spec

    def _url(self) -> str:
        url = self.spec.url or os.environ.get(self.spec.url_env or "")
        if not url:
            raise RuntimeError(f"source {self.spec.name!r}: environment variable {self.spec.url_env} is not set")
        return normalise_url(url)

    def batches(self, state: dict[str, Any], window: Window) -> Iterator[Batch]:
        spec = self.spec
        wm = spec.watermark_column
        since = window.since if window.since else _param(state)
        source = spec.table or f"({spec.query}) AS src"
        where = f" WHERE {wm} >= :since" if since is not None else ""
        stmt = text(f"SELECT * FROM {source}{where} ORDER BY {wm}")  # identifiers validated by the config
        label = spec.table or "query"
        engine = create_engine(self._url())
        try:
            with engine.connect() as conn:
                result = conn.execution_options(stream_results=True).execute(
                    stmt, {"since": since} if since is not None else {}
                )
                for rows in result.partitions(spec.batch_size):
                    records = [
                        RawRecord(f"{label} {wm}={_plain(row[wm])}", {k: _plain(v) for k, v in row.items()})
                        for row in (r._mapping for r in rows)
                    ]
                    yield Batch(label, records, {**state, **_state_value(rows[-1]._mapping[wm])})
        finally:
            engine.dispose()
