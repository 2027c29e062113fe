"""`complaints evaluate stream`: the adversarial stream and the real CFPB sample through ingest and process."""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from cli.model import evaluate_app
from complaints.core.settings import PROJECT_ROOT

CFPB_SAMPLE = PROJECT_ROOT.parent / "shared" / "data" / "cfpb" / "complaints_sample.csv"


@evaluate_app.command("stream")
def evaluate_stream(
    per_day: Annotated[list[float], typer.Option(help="complaints a day; repeat for several volumes")] = [300.0],  # noqa: B006
    seed: Annotated[int, typer.Option(help="the first stream's random seed")] = 11,
    second: Annotated[bool, typer.Option(help="also the hold-out stream another hand wrote "
                                              "(complaints/evaluation/adversary)")] = True,
    pg: Annotated[str | None, typer.Option(help="PostgreSQL server URL: each run gets a scratch database there "
                                                "(default: a scratch SQLite file)")] = None,
    cfpb: Annotated[Path, typer.Option(help="the real CFPB sample, for the false-merge rate",
                                       resolve_path=True)] = CFPB_SAMPLE,
) -> None:
    """Five weeks of a new deployment (one of history) written apart from the demo generator, scored: duplicate
    precision/recall, category accuracy on a cold start, false incidents a week, one crisis = one incident."""
    from complaints.core.config import load_config
    from complaints.core.db import scratch_database
    from complaints.evaluation.dedupe import evaluate_cfpb
    from complaints.evaluation.stream import generate, run_second_stream, run_stream

    config = PROJECT_ROOT / "config"
    result: dict[str, object] = {}
    with ExitStack() as stack:
        def db() -> str | None:
            return stack.enter_context(scratch_database(pg, "stream")) if pg else None

        for volume in per_day:
            card = run_stream(generate(seed=seed, per_day=volume), config, db_url=db(), seed=seed)
            result[f"stream_{volume:g}_per_day"] = asdict(card)
            if second:
                result[f"second_stream_{volume:g}_per_day"] = asdict(run_second_stream(volume, config, db_url=db()))
        if cfpb.exists():
            result["cfpb_sample"] = evaluate_cfpb(cfpb, load_config(config), db_url=db())
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
