"""Detection on synthetic streams with injected bursts, over several seeds.

    .venv/bin/python bench/detect_bench.py [--seeds 7 1 2 3] [--weeks 8] [--per-day 600] [--bursts 12]

Prints, per seed: recall, share detected within 2 h of the burst start (overall and by burst shape),
median and worst hours to detection, the same from the moment a burst had the daily window's minimum of
distinct users (a ramp from nothing has almost none in its first hours), false incidents per week, and the
replay speed (hours/s).
"""

from __future__ import annotations

import argparse
import time

from complaints.core.config import load_config
from complaints.core.settings import PROJECT_ROOT
from complaints.evaluation.detection import evaluate_synthetic


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 1, 2, 3])
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--per-day", type=int, default=600)
    parser.add_argument("--bursts", type=int, default=12)
    args = parser.parse_args()
    cfg = load_config(PROJECT_ROOT / "config").detection
    for seed in args.seeds:
        start = time.perf_counter()
        r = evaluate_synthetic(cfg, seed=seed, weeks=args.weeks, per_day=args.per_day, bursts=args.bursts)
        secs = time.perf_counter() - start
        print(f"seed {seed}: {r['complaints']} complaints, {r['bursts']} bursts | recall {r['recall']:.2f} | "
              f"within 2 h {r['within_2h']:.2f} {r['within_2h_by_shape']} | median {r['median_hours_to_detect']} h, "
              f"max {r['max_hours_to_detect']} h | within 2 h of the {cfg.min_distinct_users}th user "
              f"{r['within_2h_of_min_users']:.2f} {r['within_2h_of_min_users_by_shape']}, max "
              f"{r['max_hours_after_min_users']} h | false/week {r['false_per_week']} | "
              f"{args.weeks * 168 / secs:.0f} hours/s")


if __name__ == "__main__":
    main()
