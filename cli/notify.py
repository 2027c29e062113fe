"""`complaints notify ...`: opt-outs, call-back reply import, the gateway's reply endpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from complaints.core.runtime import runtime

app = typer.Typer(help="User notifications: opt-outs, call-back replies.", no_args_is_help=True)
console = Console(stderr=True)
Contact = Annotated[str, typer.Argument(help="email address or mobile number")]


def _opt(contact: str, opting_out: bool) -> None:
    from complaints.core.db import session_scope
    from complaints.core.pii import mask_text
    from complaints.notify.policy import opt_in, opt_out

    rt = runtime()
    try:
        with session_scope(rt.db_url) as session:
            changed = (opt_out if opting_out else opt_in)(session, contact, rt.settings.pii_key.get_secret_value())
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="CONTACT") from exc
    outcome = {(True, True): "opted out", (True, False): "was already opted out",
               (False, True): "opted in again", (False, False): "was not opted out"}[opting_out, changed]
    console.print(f"{mask_text(contact)}: {outcome}")


@app.command("opt-out")
def opt_out_command(contact: Contact) -> None:
    """Send this person no more messages (pending ones are suppressed when their turn comes)."""
    _opt(contact, opting_out=True)


@app.command("opt-in")
def opt_in_command(contact: Contact) -> None:
    """Undo an opt-out."""
    _opt(contact, opting_out=False)


@app.command("import-replies")
def import_replies(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV: ticket, reached, score, comment")],
) -> None:
    """Import call-back (回访) results; bad rows are listed and skipped, re-imports change nothing."""
    from complaints.core.db import session_scope
    from complaints.notify.callbacks import import_csv

    rt = runtime()
    try:
        with session_scope(rt.db_url) as session:
            result = import_csv(session, file, rt.settings.timezone)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="FILE") from exc
    typer.echo(
        json.dumps(
            {"imported": result.imported, "already_imported": result.already, "errors": result.errors},
            ensure_ascii=False,
            indent=2,
        )
    )
    if result.errors:
        raise typer.Exit(1)


@app.command("serve-replies")
def serve_replies(
    port: Annotated[int, typer.Option(help="port on 127.0.0.1 (put a TLS proxy in front)")] = 8088,
) -> None:
    """Take the SMS/push gateway's replies (POST, signed with COMPLAINTS_WEBHOOK_SECRET) onto their complaints."""
    from wsgiref.simple_server import make_server

    from complaints.notify.channels.webhook import inbound_app

    rt = runtime()
    secret = rt.settings.webhook_secret.get_secret_value()
    if not secret:
        raise typer.BadParameter("COMPLAINTS_WEBHOOK_SECRET is empty: replies could not be verified")
    with make_server("127.0.0.1", port, inbound_app(rt.db_url, secret, rt.settings.pii_key.get_secret_value())) as s:
        console.print(f"taking replies on http://127.0.0.1:{port}/")
        s.serve_forever()
