"""`complaints quarantine list|replay`: rows the sources could not read, and re-ingesting them;
`complaints quarantine held|release`: complaints held out of processing (their dedupe or classification raised),
and putting them back in the queue once the cause is fixed."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from complaints.core.runtime import runtime

app = typer.Typer(help="Rows that could not be read; complaints that could not be processed.", no_args_is_help=True)


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


@app.command("held")
def quarantine_held(limit: Annotated[int, typer.Option()] = 50) -> None:
    """Complaints held out of processing: when (ops timezone), why (the error, masked), which source row."""
    from zoneinfo import ZoneInfo

    from complaints.core.db import session_scope
    from complaints.process.stage import held

    rt = runtime()
    tz = ZoneInfo(rt.settings.timezone)
    table = Table(title="held out of processing")
    for col in ("id", "source", "external id", "received", "held", "reason", "title"):
        table.add_column(col, overflow="fold")
    with session_scope(rt.db_url) as session:
        for h in held(session, limit):
            received, at = (f"{h[k].astimezone(tz):%Y-%m-%d %H:%M}" for k in ("received_at", "held_at"))
            table.add_row(str(h["id"]), h["source"], h["external_id"], received, at, h["reason"], h["title"][:80])
    Console().print(table)


@app.command("release")
def quarantine_release(
    ids: Annotated[list[int] | None, typer.Argument(help="complaint ids; none: every held complaint")] = None,
) -> None:
    """Put held complaints back in the queue (after fixing the cause): the next process run processes them."""
    from complaints.core.db import session_scope
    from complaints.process.stage import release

    with session_scope(runtime().db_url) as session:
        typer.echo(f"released {release(session, ids or None)} complaint(s)")
