"""`complaints quarantine list|replay`: rows the sources could not read, and re-ingesting them."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from complaints.core.runtime import runtime

app = typer.Typer(help="Rows that could not be read.", no_args_is_help=True)


@app.command("list")
def quarantine_list(
    source: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option()] = 50,
) -> None:
    """Quarantined rows with where they came from and why (raw content masked)."""
    from sqlalchemy import select

    from complaints.core.db import session_scope
    from complaints.core.models import QuarantinedRecord
    from complaints.core.pii import mask_text

    table = Table(title="quarantine")
    for col in ("id", "source", "location", "reason", "raw"):
        table.add_column(col, overflow="fold")
    with session_scope(runtime().db_url) as session:
        stmt = select(QuarantinedRecord).where(QuarantinedRecord.replayed_at.is_(None))
        if source:
            stmt = stmt.where(QuarantinedRecord.source == source)
        for q in session.execute(stmt.order_by(QuarantinedRecord.id).limit(limit)).scalars():
            table.add_row(str(q.id), q.source, q.location, q.reason, mask_text(q.raw)[:200])
    Console().print(table)


@app.command("replay")
def quarantine_replay(source: Annotated[str | None, typer.Option(help="only this source")] = None) -> None:
    """Map quarantined rows again with the current sources.yaml: stored ones are marked replayed,
    the rest stay with the reason the current mapping gives."""
    from complaints.core.db import session_scope
    from complaints.ingest.store import replay_quarantine

    rt = runtime()
    if source:
        rt.config.source(source)
    with session_scope(rt.db_url) as session:
        result = replay_quarantine(session, rt.config, rt.settings.pii_key.get_secret_value(), source)
    typer.echo(json.dumps(asdict(result)))
