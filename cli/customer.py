"""`complaints customer show KEY`: one customer's history across channels, masked."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markdown import Markdown

from complaints.core.runtime import runtime

app = typer.Typer(help="One customer's complaints, messages, outcomes and scores.", no_args_is_help=True)


@app.command("show")
def show(
    key: Annotated[str, typer.Argument(help="customer ref, email address or mobile number")],
    markdown: Annotated[bool, typer.Option("--markdown", help="print the Markdown source (what the Prefect "
                                           "artifact renders) instead of the rendered text")] = False,
) -> None:
    """Every complaint of the person (any channel), each with its messages both ways, outcome and call-back score."""
    from complaints.core.db import session_scope
    from complaints.core.pii import mask_text
    from complaints.notify.history import customer_history, history_markdown

    rt = runtime()
    with session_scope(rt.db_url) as session:
        history = customer_history(session, key, rt.settings.pii_key.get_secret_value())
    if not history:
        typer.echo(f"no complaints for {mask_text(key)}", err=True)
        raise typer.Exit(1)
    text = history_markdown(mask_text(key), history)
    if markdown:
        typer.echo(text)
    else:  # read as text: what a user wrote was escaped as literal Markdown, and nothing becomes a terminal link
        Console().print(Markdown(text, hyperlinks=False))
