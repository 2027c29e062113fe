"""Ingest benchmark: N synthetic CSV rows (Chinese and English) into SQLite and PostgreSQL.

    .venv/bin/python bench/ingest_bench.py [--rows 1000000] [--backend sqlite|postgresql|both] [--profile]

Each backend runs in its own process so its peak memory (ru_maxrss) is its own. PostgreSQL gets a
scratch database on 127.0.0.1:5432 (COMPLAINTS_TEST_PG_URL's server), dropped afterwards.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select

from complaints.core.config import FileSourceSpec, load_config
from complaints.core.db import get_engine, migrate, scratch_database, session_scope
from complaints.core.models import Complaint
from complaints.core.settings import PROJECT_ROOT
from complaints.ingest.store import ingest_source

PG_ADMIN_URL = os.environ.get("COMPLAINTS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ZH = ["提现一直未到账", "手续费多扣了", "客服电话打不通", "退款一直没有退回", "账户被冻结无法登录", "优惠券无法使用",
      "扫码付款失败但扣款成功", "信用卡还款未入账"]
EN = ["Withdrawal never arrived", "I was charged twice", "Cannot reach customer service",
      "Refund still not received", "Account frozen without notice", "Transfer failed but money left my account"]
SPEC = FileSourceSpec(
    name="bench", kind="file", channel="hotline", path="drop/*.csv", date_format="%Y-%m-%d %H:%M:%S",
    mapping={"external_id": "id", "received_at": "at", "contact": "phone|email", "body": "text",
             "amount": "amount", "merchant": "merchant", "customer_ref": "user"},
)


def generate(path: Path, rows: int) -> None:
    rnd = random.Random(7)
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["id", "at", "user", "phone", "email", "text", "amount", "merchant"])
        for i in range(rows):
            zh = rnd.random() < 0.6
            body = f"{rnd.choice(ZH if zh else EN)}，订单{rnd.randrange(10**8)}" if zh else \
                f"{rnd.choice(EN)}, order {rnd.randrange(10**8)}. Please help."
            phone = f"1{rnd.randrange(3, 10)}{rnd.randrange(10**9):09d}" if zh else ""
            email = "" if zh else f"user{rnd.randrange(10**6)}@example.com"
            amount = f"¥{rnd.randrange(1, 10**6) / 100:,.2f}" if rnd.random() < 0.7 else ""
            at = f"2026-11-{1 + i * 28 // rows:02d} {rnd.randrange(24):02d}:{rnd.randrange(60):02d}:00"
            out.writerow([f"B{i:08d}", at, f"U{rnd.randrange(10**6)}", phone, email, body, amount,
                          rnd.choice(["快捷支付", "Acme Pay", "街角便利店", "Online Mall"])])


def run_backend(backend: str, workdir: Path, profile: bool) -> None:
    cleanup = ExitStack()
    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'bench.db'}"
    else:
        url = cleanup.enter_context(scratch_database(PG_ADMIN_URL, "bench"))
    try:
        migrate(url)
        cfg = load_config(PROJECT_ROOT / "config").model_copy(update={"directory": workdir})
        started = time.perf_counter()
        with session_scope(url) as session:
            if profile:
                import cProfile
                import pstats

                prof = cProfile.Profile()
                summary = prof.runcall(ingest_source, session, cfg, SPEC, "bench-key")
                pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
            else:
                summary = ingest_source(session, cfg, SPEC, "bench-key")
        elapsed = time.perf_counter() - started
        with session_scope(url) as session:
            stored = session.execute(select(func.count()).select_from(Complaint)).scalar_one()
        rerun_started = time.perf_counter()
        with session_scope(url) as session:
            rerun = ingest_source(session, cfg, SPEC, "bench-key")
        rerun_elapsed = time.perf_counter() - rerun_started
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{backend:10s} rows={summary.records:,} stored={stored:,} quarantined={summary.quarantined} "
              f"batches={summary.batches} time={elapsed:.1f}s rate={summary.records / elapsed:,.0f} rows/s "
              f"peak_rss={peak_mb:,.0f} MB; re-run (file unchanged) skipped={rerun.skipped} in {rerun_elapsed:.2f}s")
    finally:
        get_engine(url).dispose()
        cleanup.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the ingest")
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)  # set for the per-backend child
    args = parser.parse_args()
    if args.workdir:
        run_backend(args.backend, args.workdir, args.profile)
        return
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "drop").mkdir()
        csv_path = workdir / "drop" / "bench.csv"
        started = time.perf_counter()
        generate(csv_path, args.rows)
        print(f"generated {args.rows:,} rows ({csv_path.stat().st_size / 1e6:,.0f} MB) "
              f"in {time.perf_counter() - started:.1f}s; batch size {SPEC.batch_size:,}")
        for backend in ("sqlite", "postgresql") if args.backend == "both" else (args.backend,):
            cmd = [sys.executable, __file__, "--backend", backend, "--workdir", str(workdir)]
            subprocess.run(cmd + (["--profile"] if args.profile else []), check=True)
            (workdir / "bench.db").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
