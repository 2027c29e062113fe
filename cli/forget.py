"""`complaints forget CUSTOMER`: erase one person's personal data on request (statistics stay)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.console import Console

from complaints.core.runtime import runtime

app = typer.Typer()
console = Console(stderr=True)


@app.command("forget")
def forget_command(
    customer: Annotated[str, typer.Argument(help="customer reference, email address or mobile number")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only count what would be anonymised")] = False,
) -> None:
    """Anonymise a person's complaints, messages (and .eml copies), quarantined rows and opt-out."""
    from complaints.core.db import session_scope
    from complaints.core.pii import mask_text
    from complaints.regulatory.forget import forget

    rt = runtime()
    try:
        with session_scope(rt.db_url) as session:
            summary = forget(session, customer, pii_key=rt.settings.pii_key.get_secret_value(),
                             outbox_dir=rt.settings.outbox_path, marker=rt.config.retention.purged_marker,
                             dry_run=dry_run)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="CUSTOMER") from exc
    console.print(f"{mask_text(customer)}: {'would anonymise' if dry_run else 'anonymised'}")
    typer.echo(json.dumps(asdict(summary), indent=2))
