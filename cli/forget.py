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
    """Anonymise a person's complaints (also those from other channels with the same email or phone), messages
    (and .eml copies), quarantined rows and opt-outs, and delete their evidence files; list the reports already
    sent that it cannot erase."""
    from complaints.core.db import session_scope
    from complaints.core.pii import mask_text
    from complaints.regulatory.forget import forget

    rt = runtime()
    try:
        with session_scope(rt.db_url) as session:
            summary = forget(session, customer, pii_key=rt.settings.pii_key.get_secret_value(),
                             outbox_dir=rt.settings.outbox_path, marker=rt.config.retention.purged_marker,
                             dry_run=dry_run, evidence_dir=rt.settings.evidence_path)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="CUSTOMER") from exc
    done = "would erase" if dry_run else "erased"
    console.print(f"{mask_text(customer)}: {done} {summary.complaints} complaints ({summary.linked_complaints} found "
                  f"through the person key from other channels), {summary.notifications} messages, {summary.replies} "
                  f"replies, {summary.eml_files} .eml files, {summary.quarantined} quarantined rows, "
                  f"{summary.opt_outs} opt-outs, "
                  f"{summary.attachments} attachments ({summary.evidence_files} evidence files), "
                  f"{summary.transactions} transactions")
    if summary.not_erased:
        console.print(f"not erased: {len(summary.not_erased)} reports already rendered and sent may mention them "
                      "(masked); delete or supersede them by hand:")
        for r in summary.not_erased:
            console.print(f"  {r['period']} {r['kind']} {r['language'] or ''} {r['path']}", markup=False)
    typer.echo(json.dumps(asdict(summary), indent=2, ensure_ascii=False))
