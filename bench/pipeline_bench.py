"""Pipeline benchmark: N synthetic complaints through ingest -> process -> plan -> notify (local SMTP sink)
-> weekly report, on PostgreSQL (a scratch database) through Prefect's local API.

Prints, per stage, rows/s, wall time and the process's peak memory so far, the whole pipeline's time, the
time relative to a bare pandas read of the same input, and Prefect's overhead (flow wall time not spent
inside task runs). Usage: .venv/bin/python -m bench.pipeline_bench 10000 100000 [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from bench.synthetic import SYNTHETIC_MAPPING, complaints, write_csv
from complaints.core.db import scratch_database
from complaints.core.settings import PROJECT_ROOT

PG_ADMIN = os.environ.get("COMPLAINTS_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_config(work: Path, data: Path) -> Path:
    cfg = work / "config"
    shutil.copytree(PROJECT_ROOT / "config", cfg)
    spec = {"name": "synthetic", "kind": "file", "channel": "app", "path": str(data), "timezone": "UTC",
            "mapping": SYNTHETIC_MAPPING}
    (cfg / "sources.yaml").write_text(yaml.safe_dump({"sources": [spec]}, allow_unicode=True), encoding="utf-8")
    return cfg


def smtp_sink() -> tuple[Any, int]:
    from aiosmtpd.controller import Controller

    class Sink:
        received = 0

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            Sink.received += 1
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    return controller, port


def task_seconds(flow_run_ids: list[Any]) -> float:
    """Wall time covered by task runs of these flow runs (and their subflows), from the Prefect API: the union of
    their intervals, so two partitions running side by side count once."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=flow_run_ids)),
                                     limit=200)
    covered, end = 0.0, None
    for start, stop in sorted((r.start_time, r.end_time) for r in runs if r.start_time and r.end_time):
        if end is None or start > end:
            covered += (stop - start).total_seconds()
            end = stop
        elif stop > end:
            covered += (stop - end).total_seconds()
            end = stop
    return covered


def run_once(n: int, work: Path) -> dict[str, Any]:
    data = work / "data" / "complaints.csv"
    t0 = time.perf_counter()
    # A history of n complaints up to now, at 2,000 a day: whatever n, the last weeks are as recent (acknowledged,
    # at risk) as a live desk's, and the older plans are overdue.
    write_csv(data, complaints(n, end=datetime.now(UTC).replace(minute=0, second=0, microsecond=0)))
    generate_s = time.perf_counter() - t0

    import pandas as pd

    t0 = time.perf_counter()
    pd.read_csv(data, dtype=str)
    pandas_s = time.perf_counter() - t0

    cleanup = ExitStack()
    db_url = cleanup.enter_context(scratch_database(PG_ADMIN, "bench"))
    controller, port = smtp_sink()
    os.environ.update({
        "COMPLAINTS_DATABASE_URL": db_url,
        "COMPLAINTS_CONFIG_DIR": str(make_config(work, data)),
        "COMPLAINTS_VAR_DIR": str(work / "var"),
        "COMPLAINTS_SMTP_HOST": "127.0.0.1", "COMPLAINTS_SMTP_PORT": str(port), "COMPLAINTS_SMTP_STARTTLS": "false",
    })
    from complaints.core import runtime as rt
    rt.reset()
    rt.prefect_defaults()
    from prefect import flow

    @flow
    def warm_up() -> None:
        """Starts the local Prefect API, so its start-up is not counted in the first stage."""

    warm_up()
    from flows.ingest import ingest
    from flows.notify import notify
    from flows.plan import plan
    from flows.process import process
    from flows.weekly_report import weekly_report

    stages: list[tuple[str, Callable[[], Any]]] = [
        ("ingest", lambda: ingest()), ("process", lambda: process()), ("plan", lambda: plan()),
        ("notify", lambda: notify()), ("report", lambda: weekly_report()),  # the last complete week
    ]
    rows: list[dict[str, Any]] = []
    started_at = datetime.now(UTC)  # the local API keeps earlier runs: count only this benchmark's
    try:
        for stage, call in stages:
            t0 = time.perf_counter()
            call()
            elapsed = time.perf_counter() - t0
            rows.append({"stage": stage, "seconds": round(elapsed, 2), "rows_per_s": round(n / elapsed),
                         "peak_mb": round(peak_mb())})
        from prefect.client.orchestration import get_client as client_factory
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterStartTime

        with client_factory(sync_client=True) as client:
            run_ids = [r.id for r in client.read_flow_runs(
                flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=started_at)), limit=200)]
        inside = task_seconds(run_ids)
    finally:
        controller.stop()
        rt.reset()
        cleanup.close()
    total = sum(r["seconds"] for r in rows)
    return {"n": n, "stages": rows, "pipeline_s": round(total, 2), "generate_s": round(generate_s, 2),
            "pandas_read_s": round(pandas_s, 3), "relative_to_pandas_read": round(total / pandas_s, 1),
            "prefect_overhead_share": round(max(total - inside, 0) / total, 3), "peak_mb": round(peak_mb())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sizes", nargs="*", type=int, default=[10_000])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            results.append(run_once(n, Path(tmp)))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for r in results:
        print(f"\nN = {r['n']:,}  pipeline {r['pipeline_s']} s  ({r['relative_to_pandas_read']}x a pandas read of "
              f"{r['pandas_read_s']} s)  Prefect overhead {r['prefect_overhead_share']:.1%}  peak {r['peak_mb']} MB")
        print(f"{'stage':<10}{'seconds':>10}{'rows/s':>12}{'peak MB':>10}")
        for s in r["stages"]:
            print(f"{s['stage']:<10}{s['seconds']:>10}{s['rows_per_s']:>12,}{s['peak_mb']:>10}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
