"""Dedupe + classify N synthetic complaints incrementally in batches, as the process flow does.

    .venv/bin/python -m bench.process_bench --n 100000 [--batch 50000] [--db sqlite|URL] [--model] [--parts 2]

Prints complaints/s per stage and peak memory (ru_maxrss, this process and its children). --model trains a
small model first so classify runs the TF-IDF + SVM path instead of the keyword rules. --parts N splits each
batch by person key as the flow does and runs the parts in N processes (the Dask task runner's layout).
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert

from complaints.core.config import TaxonomyConfig, load_config
from complaints.core.db import get_engine, migrate, refresh_statistics, scratch_database, session_scope
from complaints.core.models import Complaint
from complaints.core.settings import PROJECT_ROOT
from complaints.evaluation.dedupe import synthetic
from complaints.process.classifier import train_and_store
from complaints.process.classify import KeywordClassifier, classify_ids, unprocessed_query
from complaints.process.dedupe import dedupe_ids, partition

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def stages(url: str, cfg: TaxonomyConfig, ids: list[int]) -> tuple[float, float]:
    """Dedupe then classify one part in its own transactions, as process_partition (complaints.process.stage)
    does when nothing raises (timed apart here)."""
    t = time.perf_counter()
    with session_scope(url) as s:
        dedupe_ids(s, ids, cfg.dedupe)
    t_dedupe = time.perf_counter() - t
    t = time.perf_counter()
    with session_scope(url) as s:
        classify_ids(s, cfg, ids)
    return t_dedupe, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=50_000)
    ap.add_argument("--db", default="sqlite",
                    help="'sqlite' (a temporary file), 'postgresql' (a scratch database on 127.0.0.1) or a URL")
    ap.add_argument("--model", action="store_true", help="classify with a trained model, not only rules")
    ap.add_argument("--parts", type=int, default=1, help="partitions per batch, run in this many processes")
    args = ap.parse_args()
    if args.db == "postgresql":
        with scratch_database(PG_ADMIN, "bench") as url:
            run(args, url)
    else:
        run(args, f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}" if args.db == "sqlite" else args.db)


def run(args: argparse.Namespace, url: str) -> None:
    migrate(url)
    cfg = load_config(PROJECT_ROOT / "config").taxonomy
    # About 3,000 complaints a day, as a busy wallet's complaint desk sees.
    rows, truth = synthetic(args.n, seed=11, span=timedelta(days=max(args.n // 3000, 7)))
    if args.model:
        # A labelled history from the same generator, labelled by the keyword rules.
        history, _ = synthetic(3000, seed=1)
        rules = KeywordClassifier(cfg)
        texts = [r["body"] for r in history]
        labels = [rules.classify(t).category for t in texts]
        with session_scope(url) as s:
            train_and_store(s, texts, labels, data_source="bench", evaluate=False)
    # spawn: a forked child would share the parent's pooled database connections.
    pool = ProcessPoolExecutor(args.parts, mp_context=multiprocessing.get_context("spawn")) if args.parts > 1 else None
    t_stages = t_dedupe = t_classify = t_insert = 0.0
    done = 0
    for start in range(0, len(rows), args.batch):
        t = time.perf_counter()
        with session_scope(url) as s:
            s.execute(insert(Complaint), rows[start:start + args.batch])
        t_insert += time.perf_counter() - t
        t = time.perf_counter()
        refresh_statistics(url)  # as next_batch_task does
        with session_scope(url) as s:
            keys = s.execute(unprocessed_query(Complaint.id, Complaint.contact_key, Complaint.customer_ref,
                                               Complaint.source).limit(args.batch)).all()
        parts = partition(keys, args.parts)
        if pool is None:
            timings = [stages(url, cfg, ids) for ids in parts]
        else:
            timings = list(pool.map(stages, [url] * len(parts), [cfg] * len(parts), parts))
        t_stages += time.perf_counter() - t
        t_dedupe += sum(d for d, _ in timings)
        t_classify += sum(c for _, c in timings)
        done += len(keys)
        print(f"  {done:>9,} processed  dedupe {t_dedupe:7.1f}s  classify {t_classify:7.1f}s  "
              f"wall {t_stages:7.1f}s", flush=True)
    if pool is not None:
        pool.shutdown()
    get_engine(url).dispose()
    peak_mb = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    print(f"backend {url.split(':')[0]}  complaints {done:,}  injected resubmissions {len(truth):,}  "
          f"batch {args.batch:,}  parts {args.parts}  model {'yes' if args.model else 'no (rules)'}")
    print(f"insert   {done / t_insert:10,.0f} complaints/s  (not part of the stages)")
    print(f"dedupe   {done / t_dedupe:10,.0f} complaints/s  (summed over parts)")
    print(f"classify {done / t_classify:10,.0f} complaints/s  (incl. severity and the writes; summed over parts)")
    print(f"together {done / t_stages:10,.0f} complaints/s  (wall clock, batch selection included)")
    print(f"peak memory (ru_maxrss, largest process) {peak_mb / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
