"""Commands for collective-complaint detection: on-demand/backfill runs and the evaluation."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.model import evaluate_app
from complaints.core.runtime import runtime

app = typer.Typer(no_args_is_help=True)
incident_app = typer.Typer(help="Incidents: merge two into one, or split complaints off into a new one (by hand).",
                           no_args_is_help=True)
app.add_typer(incident_app, name="incident")
DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


class Dataset(StrEnum):
    synthetic = "synthetic"
    app_reviews = "app-reviews"
    cfpb = "cfpb"
    cold_start = "cold-start"


@app.command()
def detect(
    since: Annotated[datetime, typer.Option(formats=DATE_FORMATS, help="window start (ops timezone)")],
    until: Annotated[datetime, typer.Option(formats=DATE_FORMATS, help="window end, exclusive")],
) -> None:
    """Detect collective complaints over a past window, hour by hour as the hourly runs do: re-runs and
    overlapping windows open nothing twice. Prefect events are left to the process flow."""
    from zoneinfo import ZoneInfo

    from complaints.core.db import session_scope
    from complaints.detect.replay import detect_window

    rt = runtime()
    tz = ZoneInfo(rt.settings.timezone)
    since, until = (t if t.tzinfo else t.replace(tzinfo=tz) for t in (since, until))
    with session_scope(rt.db_url) as session:
        s = detect_window(session, rt.config.detection, rt.config.taxonomy, since, until)
    typer.echo(json.dumps({"hours": s.hours, "opened": s.opened, "grown": s.grown, "escalated": s.escalated,
                           "linked": s.linked}))


@evaluate_app.command("detection")
def evaluate_detection(
    data: Annotated[Dataset, typer.Option(help="synthetic bursts, a cold start, or real data from --path")]
    = Dataset.synthetic,
    path: Annotated[Path | None, typer.Option(help="reviews.csv or complaints_sample.csv (default: shared data)")]
    = None,
    seed: Annotated[int, typer.Option(help="synthetic stream seed")] = 7,
    weeks: Annotated[int, typer.Option(help="synthetic weeks, the first 4 are warm-up")] = 8,
    per_day: Annotated[int, typer.Option(help="synthetic background complaints per day")] = 600,
    bursts: Annotated[int, typer.Option(help="synthetic bursts injected")] = 12,
    min_users: Annotated[int | None, typer.Option(help="override min_distinct_users of the daily window")] = None,
    volume: Annotated[int, typer.Option(help="cold-start: background complaints per day (10x: 3000)")] = 300,
) -> None:
    """Recall, time to detection and false incidents per week on injected bursts; a new deployment with one week
    of history at --volume and 10x (false incidents per week, the outage as incidents and the share held); or
    the bursts found in real data (app-store 1-star reviews by bank: known bursts found, false per 4 weeks; the
    CFPB sample)."""
    from complaints.evaluation import detection as ev
    cfg = runtime().config.detection
    if min_users is not None:
        cfg = cfg.model_copy(update={"min_distinct_users": min_users})
    result: Any
    if data == Dataset.synthetic:
        result = ev.evaluate_synthetic(cfg, seed=seed, weeks=weeks, per_day=per_day, bursts=bursts)
    elif data == Dataset.cold_start:
        result = {f"{scale}x": ev.evaluate_cold_start(cfg, seed=seed, per_day=volume * scale) for scale in (1, 10)}
    elif data == Dataset.app_reviews:
        result = ev.app_reviews(cfg, path or DATA / "app_reviews_eth_banking" / "reviews.csv")
    else:
        result = ev.cfpb(cfg, path or DATA / "cfpb" / "complaints_sample.csv")
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2))


Note = Annotated[str, typer.Option(help="why; kept in the incidents' history")]


@incident_app.command("merge")
def incident_merge(
    into: Annotated[int, typer.Argument(help="the incident that stays")],
    other: Annotated[int, typer.Argument(help="the incident merged into it (resolved as merged)")],
    note: Note,
) -> None:
    """Merge incident OTHER into INTO: its complaints, signature and evidence move; both histories record it, and
    detection never splits or re-merges them by itself."""
    from complaints.core.db import session_scope
    from complaints.detect.incidents import MergeError, merge_incidents

    rt = runtime()
    try:
        with session_scope(rt.db_url) as session:
            inc = merge_incidents(session, rt.config.detection, into, other, note)
            out = {"incident": inc.id, "users": inc.user_count, "complaints": inc.complaint_count}
    except MergeError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(json.dumps(out))


@incident_app.command("split")
def incident_split(
    incident: Annotated[int, typer.Argument(help="the incident to split")],
    complaints: Annotated[str, typer.Option(help="comma-separated complaint ids to move into a new incident")],
    note: Note,
) -> None:
    """Move some of an incident's complaints into a new incident (open, same category); both histories record
    it, and detection never merges them back."""
    from complaints.core.db import session_scope
    from complaints.detect.incidents import MergeError, split_incident

    try:
        ids = [int(x) for x in complaints.split(",") if x.strip()]
    except ValueError as exc:
        raise typer.BadParameter(f"--complaints: {exc}") from exc
    rt = runtime()
    try:
        with session_scope(rt.db_url) as session:
            new = split_incident(session, rt.config.detection, incident, ids, note)
            out = {"incident": incident, "new_incident": new.id, "moved": len(ids)}
    except MergeError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(json.dumps(out))
