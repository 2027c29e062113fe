"""`complaints clocks|outcome|returns|major-event|retention ...`: statutory clocks, decisions, regulator returns,
major-event reports and retention, for ops and compliance."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from complaints.core.runtime import runtime

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

app = typer.Typer(no_args_is_help=True)
clocks_app = typer.Typer(help="Statutory clocks of a complaint (config/clocks.yaml).", no_args_is_help=True)
outcome_app = typer.Typer(help="The decision on a complaint, as regulator returns need it.", no_args_is_help=True)
major_app = typer.Typer(help="Major-event reporting: classes, deadlines, draft written reports.",
                        no_args_is_help=True)
retention_app = typer.Typer(help="Retention purge (anonymisation) and legal holds.", no_args_is_help=True)
app.add_typer(clocks_app, name="clocks")
app.add_typer(outcome_app, name="outcome")
app.add_typer(major_app, name="major-event")
app.add_typer(retention_app, name="retention")

By = Annotated[str | None, typer.Option("--by", help="who is acting (default: the login name)")]


class ReturnKind(StrEnum):
    fca = "fca"
    pboc = "pboc"
    cfpb = "cfpb"


class ReturnFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"
    pdf = "pdf"


class Outcome(StrEnum):
    upheld = "upheld"
    partly_upheld = "partly_upheld"
    not_upheld = "not_upheld"


class Relief(StrEnum):
    monetary = "monetary"
    non_monetary = "non_monetary"
    explanation = "explanation"


@contextmanager
def _session() -> Iterator[Session]:
    from complaints.core.db import session_scope

    with session_scope(runtime().db_url) as session:
        yield session


def _refused(exc: Exception) -> typer.Exit:
    typer.echo(f"refused: {exc}", err=True)
    return typer.Exit(1)


# --- clocks -----------------------------------------------------------------------------------


@clocks_app.command("show")
def clocks_show(complaint_id: Annotated[int, typer.Argument(help="complaint id")]) -> None:
    """Every clock of a complaint: rule, source, due date, status, extension."""
    from complaints.regulatory.clocks import clocks_of, due_day

    cfg = runtime().config.clocks
    table = Table(title=f"clocks of complaint {complaint_id}")
    for col in ("rule", "jurisdiction", "started", "last day", "status", "ext", "approver", "reason", "source"):
        table.add_column(col)
    with _session() as session:
        for c in clocks_of(session, complaint_id):
            rule = next((r for r in cfg.rules if r.id == c.rule_id), None)
            place = cfg.jurisdictions[c.jurisdiction].name if c.jurisdiction in cfg.jurisdictions else c.jurisdiction
            table.add_row(c.rule_id, place, c.started_at.date().isoformat(), due_day(c, cfg).isoformat(),
                          c.status, str(c.extensions), c.approver or "-", c.reason or "-",
                          rule.citation if rule else f"(not in library {cfg.version})")
    Console().print(table)


@clocks_app.command("extend")
def clocks_extend(
    complaint_id: Annotated[int, typer.Argument(help="complaint id")],
    rule: Annotated[str, typer.Argument(help="rule id, see `complaints clocks show`")],
    approver: Annotated[str, typer.Option(help="who approved the extension")],
    reason: Annotated[str, typer.Option(help="the reason; it is told to the complainant")],
) -> None:
    """Apply the rule's next extension (approved, recorded) and queue the complainant's notice."""
    from complaints.regulatory.clocks import ClockError, due_day, extend_clock

    rt = runtime()
    try:
        with _session() as session:
            clock = extend_clock(session, rt.config, rt.settings, complaint_id, rule, approver=approver,
                                 reason=reason, now=datetime.now(UTC))
            typer.echo(f"{rule}: now due by the end of {due_day(clock, rt.config.clocks)}; notice queued")
    except ClockError as exc:
        raise _refused(exc) from exc


# --- outcome ----------------------------------------------------------------------------------


@outcome_app.command("record")
def outcome_record(
    complaint_id: Annotated[int, typer.Argument(help="complaint id")],
    outcome: Annotated[Outcome, typer.Option()],
    relief: Annotated[Relief, typer.Option()],
    redress: Annotated[str | None, typer.Option(help="amount paid, e.g. 120.50")] = None,
    currency: Annotated[str | None, typer.Option()] = None,
    investigation: Annotated[str | None, typer.Option(help="investigation result and evidence")] = None,
    basis: Annotated[str | None, typer.Option(help="basis of the decision")] = None,
    steps: Annotated[str | None, typer.Option(help="steps taken")] = None,
    root_cause: Annotated[str | None, typer.Option(help="a code of config/outcomes.yaml's root_causes")] = None,
    remedy_on: Annotated[datetime | None, typer.Option(
        formats=["%Y-%m-%d"], help="day the remedy is (was) carried out, ops timezone")] = None,
    by: By = None,
) -> None:
    """Record the decision once; it closes the complaint's clocks on their next run, and the next notify run
    sends the user the resolution (decision, remedy, thanks) and schedules the call-back."""
    from zoneinfo import ZoneInfo

    from complaints.regulatory.outcomes import check_root_cause, record_outcome

    rt = runtime()
    try:
        cause = check_root_cause(rt.config, root_cause) if root_cause else None
    except ValueError as exc:
        raise _refused(exc) from exc
    remedy_at = remedy_on.replace(tzinfo=ZoneInfo(rt.settings.timezone)) if remedy_on else None
    with _session() as session:
        new = record_outcome(session, complaint_id, decided_at=datetime.now(UTC), decided_by=by or getpass.getuser(),
                             outcome=outcome.value, relief=relief.value,
                             redress_amount=Decimal(redress) if redress else None, redress_currency=currency,
                             investigation=investigation, basis=basis, steps_taken=steps, root_cause=cause,
                             remedy_at=remedy_at)
    typer.echo("recorded" if new else f"complaint {complaint_id} already has a decision: unchanged")


# --- returns ----------------------------------------------------------------------------------


@app.command("returns")
def returns_cmd(
    kind: Annotated[ReturnKind, typer.Argument(help="fca (DISP 1.10), pboc (Art. 44) or cfpb")],
    since: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="first day (ops timezone)")],
    until: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="last day, included")],
    fmt: Annotated[ReturnFormat, typer.Option("--format")] = ReturnFormat.csv,
    out: Annotated[Path | None, typer.Option(help="file to write; default ./<kind>-<since>-<until>.<format>")] = None,
) -> None:
    """A regulator return for any period: summary figures and the per-complaint fields, masked."""
    from complaints.regulatory.returns import build_return, export, totals
    from complaints.reports.render import write_atomic

    rt = runtime()
    with _session() as session:
        ret = build_return(session, rt.config, kind.value, since.date(), until.date(), rt.settings.timezone)
    path = out or Path(f"{kind.value}-{since.date()}-{until.date()}.{fmt.value}")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, export(ret, fmt.value, rt.settings))
    figures = ", ".join(f"{k} {v}" for k, v in totals(ret).items() if k != "category")
    typer.echo(f"{path}: {figures}")


# --- major events -----------------------------------------------------------------------------


@major_app.command("draft")
def major_draft(
    incident_id: Annotated[int, typer.Argument(help="incident id")],
    lang: Annotated[str | None, typer.Option(help="zh or en; default from major_events.yaml")] = None,
) -> None:
    """Class the incident if needed (deadlines become plan steps) and write the draft written report PDF."""
    from complaints.regulatory.major_events import assess_major_events, draft_report

    rt = runtime()
    with _session() as session:
        assess_major_events(session, rt.config, datetime.now(UTC))
    try:
        with _session() as session:
            typer.echo(str(draft_report(session, rt.config, rt.settings, incident_id, lang)))
    except LookupError as exc:
        raise _refused(exc) from exc


# --- retention --------------------------------------------------------------------------------


@retention_app.command("purge")
def retention_purge(dry_run: Annotated[bool, typer.Option("--dry-run", help="count only")] = False) -> None:
    """Anonymise complaints past the retention period, except those under a legal hold."""
    from complaints.regulatory.retention import purge

    with _session() as session:
        rt = runtime()
        s = purge(session, rt.config, datetime.now(UTC), dry_run=dry_run, evidence_dir=rt.settings.evidence_path,
                  outbox_dir=rt.settings.outbox_path)
    typer.echo(f"retained until {s.cutoff.date()}: {s.eligible} past the period, {s.held} held, "
               f"{'would anonymise ' + str(s.eligible - s.held) if dry_run else f'anonymised {len(s.anonymised)}'}; "
               f"transactions: {s.transactions} {'would lose' if dry_run else 'lost'} their person; "
               f"quarantined records: {s.quarantined} {'would be ' if dry_run else ''}removed; "
               f"{s.eml_files} .eml files {'would be ' if dry_run else ''}deleted")


@retention_app.command("hold")
def retention_hold(
    reason: Annotated[str, typer.Option(help="case, authority, reference")],
    complaint: Annotated[int | None, typer.Option(help="complaint id")] = None,
    incident: Annotated[int | None, typer.Option(help="incident id: holds every member")] = None,
    by: By = None,
) -> None:
    """Keep a complaint (or an incident's members) out of the purge until released."""
    from complaints.regulatory.retention import HoldError, place_hold

    try:
        with _session() as session:
            hold = place_hold(session, reason=reason, by=by or getpass.getuser(), now=datetime.now(UTC),
                              complaint_id=complaint, incident_id=incident)
            typer.echo(f"hold {hold.id} placed")
    except HoldError as exc:
        raise _refused(exc) from exc


@retention_app.command("release")
def retention_release(hold_id: Annotated[int, typer.Argument(help="hold id")]) -> None:
    from complaints.regulatory.retention import HoldError, release_hold

    try:
        with _session() as session:
            release_hold(session, hold_id, now=datetime.now(UTC))
    except HoldError as exc:
        raise _refused(exc) from exc
    typer.echo(f"hold {hold_id} released")

