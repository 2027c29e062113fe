"""`complaints plan ...`: ops update plans without code. Every action is recorded with who, when and the note."""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from complaints.core.runtime import runtime

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

app = typer.Typer(help="Investigation and remediation plans: list, show and update steps.", no_args_is_help=True)

PlanId = Annotated[int, typer.Argument(help="plan id (see `complaints plan list`)")]
Seq = Annotated[int, typer.Argument(help="step number within the plan")]
Note = Annotated[str | None, typer.Option(help="what was done or why; kept in the plan's history")]
By = Annotated[str | None, typer.Option("--by", help="who is acting (default: the login name)")]


@contextmanager
def _session() -> Iterator[Session]:
    from complaints.core.db import session_scope

    with session_scope(runtime().db_url) as session:
        yield session


def _local(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(ZoneInfo(runtime().config.sla.timezone)).strftime("%Y-%m-%d %H:%M")


def _act(action: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run one plan action in a transaction; a refused action exits 1 with the reason."""
    from complaints.plans.ops import PlanActionError

    try:
        with _session() as session:
            return action(session, *args, **kwargs)
    except PlanActionError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from exc


def _actor(by: str | None) -> str:
    return by or getpass.getuser()


@app.command("list")
def list_cmd(
    status: Annotated[str, typer.Option(help="open, closed or all")] = "open",
    team: Annotated[str | None, typer.Option()] = None,
    owner: Annotated[str | None, typer.Option(help="plans with an open step owned by this person")] = None,
) -> None:
    """Plans by final deadline, with open and overdue step counts."""
    from complaints.core.statuses import STEP_OPEN
    from complaints.plans.create import subject_ref
    from complaints.plans.ops import list_plans

    now = datetime.now(UTC)
    table = Table(title=f"plans ({status})")
    for col in ("id", "subject", "category", "team", "status", "due", "ext", "open", "overdue"):
        table.add_column(col)
    with _session() as session:
        for p in list_plans(session, status=None if status == "all" else status, team=team, owner=owner):
            open_steps = [s for s in p.steps if s.status in STEP_OPEN]
            table.add_row(str(p.id), subject_ref(p.subject_type, p.subject_id), p.category, p.team, p.status,
                          _local(p.due_at), str(p.extensions), str(len(open_steps)),
                          str(sum(s.due_at < now for s in open_steps)))
    Console().print(table)


@app.command()
def show(plan_id: PlanId) -> None:
    """A plan's deadlines, steps and history."""
    _act(_show, plan_id)


def _show(session: Session, plan_id: int) -> None:
    from complaints.plans.create import subject_ref
    from complaints.plans.ops import get_plan, plan_events

    out = Console()
    p = get_plan(session, plan_id, for_update=False)
    out.print(f"[bold]Plan {p.id}[/bold] {subject_ref(p.subject_type, p.subject_id)} {p.category} "
              f"team={p.team} status={p.status} template={p.template}")
    out.print(f"acknowledge by {_local(p.ack_due_at)}; respond by {_local(p.respond_due_at)}; "
              f"final answer by {_local(p.due_at)} (extensions: {p.extensions}"
              f"{'; ' + p.extension_reason if p.extension_reason else ''}); approved: {p.approved_by or '-'}")
    steps = Table(title="steps")
    for col in ("#", "title", "kind", "owner", "status", "due", "level", "note"):
        steps.add_column(col, overflow="fold")
    for s in p.steps:
        steps.add_row(str(s.seq), s.title, s.kind, s.owner, s.status, _local(s.due_at), str(s.escalation_level),
                      s.note or "")
    out.print(steps)
    history = Table(title="history")
    for col in ("at", "by", "action", "step", "note"):
        history.add_column(col, overflow="fold")
    seqs = {s.id: s.seq for s in p.steps}
    for e in plan_events(session, plan_id):
        history.add_row(_local(e.at), e.actor, e.action, str(seqs[e.step_id]) if e.step_id else "", e.note or "")
    out.print(history)


@app.command()
def start(plan_id: PlanId, seq: Seq, note: Note = None, by: By = None) -> None:
    """Mark a pending step in progress."""
    from complaints.plans.ops import start_step

    _act(start_step, plan_id, seq, _actor(by), datetime.now(UTC), note)
    typer.echo(f"plan {plan_id} step {seq}: in progress")


@app.command()
def done(plan_id: PlanId, seq: Seq, note: Note = None, by: By = None) -> None:
    """Mark a step done; the last open step closes the plan (an incident's plan resolves the
    incident with the lessons-learned note as its root cause)."""
    from complaints.plans.ops import complete_step

    closed = _act(complete_step, plan_id, seq, _actor(by), datetime.now(UTC), note)
    typer.echo(f"plan {plan_id} step {seq}: done" + ("; plan closed" if closed else ""))


@app.command()
def extend(
    plan_id: PlanId,
    reason: Annotated[str, typer.Option(help="why the final answer needs more time (recorded)")],
    by: By = None,
) -> None:
    """Extend the final-answer deadline by the SLA rule's extension (allowed once by default)."""
    from complaints.plans.ops import extend_plan

    due = _act(extend_plan, runtime().config, plan_id, _actor(by), reason, datetime.now(UTC))
    typer.echo(f"plan {plan_id}: final answer now due {_local(due)}")


@app.command()
def reassign(plan_id: PlanId, seq: Seq, owner: Annotated[str, typer.Argument(help="new owner")],
             note: Note = None, by: By = None) -> None:
    """Give an open step to another person of routing.yaml."""
    from complaints.plans.ops import reassign_step

    _act(reassign_step, runtime().config, plan_id, seq, owner, _actor(by), datetime.now(UTC), note)
    typer.echo(f"plan {plan_id} step {seq}: now owned by {owner}")
