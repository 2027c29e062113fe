"""Dedupe + classify N synthetic complaints incrementally in batches, as the process flow does.

    .venv/bin/python bench/process_bench.py --n 100000 [--batch 50000] [--db sqlite|URL] [--model]

Prints complaints/s per stage and peak memory (ru_maxrss). --model trains a small model first so classify
runs the TF-IDF + SVM path instead of the keyword rules.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert

from complaints.classify import KeywordClassifier, classify_complaints, unprocessed
from complaints.config import load_config
from complaints.db import get_engine, migrate, session_scope
from complaints.dedupe import dedupe
from complaints.evaluate_dedupe import synthetic
from complaints.model import train_and_store
from complaints.models import Complaint
from complaints.settings import PROJECT_ROOT


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=50_000)
    ap.add_argument("--db", default="sqlite", help="'sqlite' (a temporary file) or a database URL")
    ap.add_argument("--model", action="store_true", help="classify with a trained model, not only rules")
    args = ap.parse_args()
    url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}" if args.db == "sqlite" else args.db
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
    t_dedupe = t_classify = t_insert = 0.0
    done = 0
    for start in range(0, len(rows), args.batch):
        t = time.perf_counter()
        with session_scope(url) as s:
            s.execute(insert(Complaint), rows[start:start + args.batch])
        t_insert += time.perf_counter() - t
        with session_scope(url) as s:
            batch = unprocessed(s, args.batch)
            t = time.perf_counter()
            dedupe(s, batch, cfg.dedupe)
            s.flush()
            t_dedupe += time.perf_counter() - t
            t = time.perf_counter()
            classify_complaints(s, cfg, batch)
            s.flush()
            t_classify += time.perf_counter() - t
        done += len(batch)
        print(f"  {done:>9,} processed  dedupe {t_dedupe:7.1f}s  classify {t_classify:7.1f}s", flush=True)
    get_engine(url).dispose()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"backend {url.split(':')[0]}  complaints {done:,}  injected resubmissions {len(truth):,}  "
          f"batch {args.batch:,}  model {'yes' if args.model else 'no (rules)'}")
    print(f"insert   {done / t_insert:10,.0f} complaints/s  (not part of the stages)")
    print(f"dedupe   {done / t_dedupe:10,.0f} complaints/s")
    print(f"classify {done / t_classify:10,.0f} complaints/s  (incl. severity, ORM flush)")
    print(f"together {done / (t_dedupe + t_classify):10,.0f} complaints/s")
    print(f"peak memory (ru_maxrss) {peak_mb:,.0f} MiB")


if __name__ == "__main__":
    main()
