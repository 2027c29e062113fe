"""The `complaints` command: run flows, backfill, report, inspect and export."""

from __future__ import annotations

import json
import shutil
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from cli.customer import app as customer_app
from cli.detect import app as detect_app
from cli.forget import app as forget_app
from cli.model import app as model_app
from cli.notify import app as notify_app
from cli.plans import app as plan_app
from cli.regulatory import app as regulatory_app
from cli.sources import app as quarantine_app
from cli.stream import evaluate_stream  # noqa: F401 (registers `evaluate stream`)
from complaints.core.runtime import mask_logs, prefect_defaults, runtime

app = typer.Typer(help="Wallet complaint operations.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_show_locals=False)
report_app = typer.Typer(help="PDF reports.", no_args_is_help=True)
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(report_app, name="report")
app.add_typer(notify_app, name="notify")
app.add_typer(model_app)  # train, evaluate, review
app.add_typer(plan_app, name="plan")
app.add_typer(regulatory_app)  # clocks, outcome, returns, major-event, retention
app.add_typer(detect_app)  # detect; adds `evaluate detection` to cli_model's evaluate group
app.add_typer(forget_app)  # forget CUSTOMER
app.add_typer(customer_app, name="customer")
console = Console(stderr=True)

DEMO_WEEK = "2026-W47"  # the ISO week the bundled demo data covers (see demo/README.md)
# The demo replays that week as of the Monday morning after it, so its plans, escalations and
# acknowledgements come out the same whatever today's date is.
DEMO_AS_OF = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


class FlowName(StrEnum):
    ingest = "ingest"
    process = "process"
    plan = "plan"
    notify = "notify"
    weekly_report = "weekly-report"
    regulatory = "regulatory"
    retention = "retention"
    pipeline = "pipeline"


class ExportKind(StrEnum):
    complaints = "complaints"
    incidents = "incidents"
    plans = "plans"


class ExportFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


def _aware(value: datetime | None) -> datetime | None:
    """Dates typed on the command line are in the ops timezone unless they say otherwise."""
    if value is None or value.tzinfo:
        return value
    return value.replace(tzinfo=ZoneInfo(runtime().settings.timezone))


def _flows() -> dict[str, Any]:
    prefect_defaults()  # before Prefect is imported
    from flows.registry import FLOWS

    mask_logs()  # Prefect's handlers exist now
    return {name: flow for name, (flow, _) in FLOWS.items()}


def _run(name: str, **params: Any) -> Any:
    """The flow's result; a run that failed or is degraded prints one line and exits 1 (its state's message:
    which source, why; the Prefect UI and logs have the rest)."""
    runtime()  # fail fast on a bad config file, before starting Prefect
    flow = _flows()[name]
    with console.status(f"running flow {name} ..."):
        state = flow(**{k: v for k, v in params.items() if v is not None}, return_state=True)
    if not state.is_completed() or state.name == "Degraded":
        message = " ".join((state.message or "").split())[:1000]
        console.print(f"[red]flow {name} {state.name.lower()}[/red]: {message}", soft_wrap=True, highlight=False)
        raise typer.Exit(1)
    return state.result()


def _window(since: datetime | None, until: datetime | None) -> tuple[datetime | None, datetime | None]:
    """Both ends in the ops timezone; a reversed or empty window is refused before anything runs."""
    since, until = _aware(since), _aware(until)
    if since and until and since >= until:
        console.print(f"[red]--since {since:%Y-%m-%d %H:%M} is not before --until {until:%Y-%m-%d %H:%M}[/red] "
                      "(the window is [since, until))", highlight=False)
        raise typer.Exit(2)
    return since, until


Since = Annotated[datetime | None, typer.Option(formats=DATE_FORMATS, help="window start (ops timezone)")]
Until = Annotated[datetime | None, typer.Option(formats=DATE_FORMATS, help="window end, exclusive")]


@app.command()
def demo() -> None:
    """Run the whole pipeline on the bundled demo data (embedded SQLite, local Prefect API)."""
    rt = runtime()
    _run("pipeline", week=DEMO_WEEK, now=DEMO_AS_OF)
    _print_stats()
    reports = sorted((rt.settings.reports_path / DEMO_WEEK).glob("*.pdf"))
    outbox = rt.settings.outbox_path
    console.print(f"\n[bold]Reports[/bold] ({len(reports)}):")
    for path in reports:
        console.print(f"  {path}")
    if rt.settings.smtp_host:
        console.print(f"[bold]Emails[/bold] sent through {rt.settings.smtp_host}:{rt.settings.smtp_port}")
    else:
        console.print(f"[bold]Emails[/bold]: {len(list(outbox.glob('*.eml')))} .eml files in {outbox}")


@app.command("run")
def run_flow(
    flow: Annotated[FlowName, typer.Argument(help="flow to run")],
    since: Since = None,
    until: Until = None,
    week: Annotated[str | None, typer.Option(help="ISO week for reports, e.g. 2026-W47")] = None,
    source: Annotated[list[str] | None, typer.Option(help="ingest only these sources")] = None,
    as_of: Annotated[datetime | None, typer.Option(formats=DATE_FORMATS, help="replay plans/notify as of")] = None,
) -> None:
    """Run one flow now."""
    params: dict[str, Any] = {}
    if flow in (FlowName.ingest, FlowName.pipeline):
        params["since"], params["until"] = _window(since, until)
    if flow == FlowName.ingest:
        params["sources"] = source
    if flow in (FlowName.weekly_report, FlowName.pipeline):
        params["week"] = week
    if flow in (FlowName.plan, FlowName.notify, FlowName.regulatory, FlowName.retention, FlowName.pipeline):
        params["now"] = _aware(as_of)
    result = _run(flow.value, **params)
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2, default=str))


@app.command()
def backfill(
    source: Annotated[str, typer.Option(help="source name from sources.yaml")],
    since: Annotated[datetime, typer.Option(formats=DATE_FORMATS)],
    until: Annotated[datetime, typer.Option(formats=DATE_FORMATS)],
) -> None:
    """Re-pull a window from one source (nothing duplicated; the live watermark does not move), then process."""
    since, until = _window(since, until)
    runtime().config.source(source)
    result = _run("ingest", sources=[source], since=since, until=until)
    processed = _run("process")
    typer.echo(json.dumps({"ingest": result, "process": processed}, ensure_ascii=False, indent=2, default=str))


@report_app.command("weekly")
def report_weekly(
    week: Annotated[str | None, typer.Option(help="ISO week, default the last complete week")] = None,
    out: Annotated[Path | None, typer.Option(help="also copy the PDFs into this folder")] = None,
) -> None:
    """Render (or re-render) the crisis and lessons-learned PDFs for a week and email them."""
    reports = _run("weekly-report", week=week)
    for r in reports:
        path = Path(r["path"])
        if out:
            out.mkdir(parents=True, exist_ok=True)
            path = Path(shutil.copy2(path, out / path.name))
        typer.echo(str(path))


def _stats() -> dict[str, Any]:
    from complaints.core.db import session_scope
    from complaints.reports.stats import stats as compute

    with session_scope(runtime().db_url) as session:
        return compute(session, datetime.now(UTC))


def _print_stats() -> None:
    data = _stats()
    table = Table(title="complaints stats")
    table.add_column("measure")
    table.add_column("value")
    for key, value in data.items():
        table.add_row(key, json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else str(value))
    console.print(table)


@app.command()
def stats(as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False) -> None:
    """Counts: complaints, duplicates, quarantine, categories, severities, incidents, plans, outbox, reports."""
    if as_json:
        typer.echo(json.dumps(_stats(), ensure_ascii=False, indent=2))
    else:
        _print_stats()


@app.command()
def export(
    kind: Annotated[ExportKind, typer.Argument()],
    fmt: Annotated[ExportFormat, typer.Option("--format")] = ExportFormat.jsonl,
    out: Annotated[Path | None, typer.Option(help="file to write (default: standard output)")] = None,
) -> None:
    """Export complaints, incidents or plans with personal data masked."""
    from rich.progress import Progress

    from complaints.core.db import session_scope
    from complaints.reports.export import count, write

    with session_scope(runtime().db_url) as session, Progress(console=console, transient=True) as progress:
        bar = progress.add_task(f"exporting {kind.value}", total=count(session, kind.value))  # type: ignore[arg-type]
        advance = lambda: progress.advance(bar)  # noqa: E731
        if out is None:
            n = write(session, kind.value, fmt.value, sys.stdout, advance)  # type: ignore[arg-type]
        else:
            with out.open("w", encoding="utf-8", newline="") as fh:
                n = write(session, kind.value, fmt.value, fh, advance)  # type: ignore[arg-type]
    console.print(f"exported {n} {kind.value}")


@app.command()
def serve() -> None:
    """Serve every deployment of prefect.yaml on its schedule (needs a running Prefect server:
    the local ephemeral API never fires schedules)."""
    prefect_defaults()
    from flows.serve import serve_all

    serve_all()


@app.command()
def migrate() -> None:
    """Apply database migrations (the other commands do this by themselves)."""
    runtime()
    console.print(f"database at {runtime().settings.db_url.split('@')[-1]} is up to date")


def main() -> None:
    """Entry point: a configuration error or an unreachable database is a message for ops, not a traceback."""
    from sqlalchemy.exc import DBAPIError

    from complaints.core.config import ConfigError
    from complaints.core.db import DatabaseUrlError

    try:
        app(standalone_mode=True)
    except DatabaseUrlError as exc:
        console.print(f"[red]database error[/red]: {exc}", highlight=False, soft_wrap=True)
        raise SystemExit(2) from exc
    except ConfigError as exc:
        console.print(f"[red]configuration error[/red]\n{exc}")
        raise SystemExit(2) from exc
    except DBAPIError as exc:  # wrong host, port, database name or password: the driver's first line says which
        first = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
        console.print(f"[red]database error[/red]: {first}", highlight=False, soft_wrap=True)
        raise SystemExit(2) from exc
