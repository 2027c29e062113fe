"""Detection quality, in memory: injected bursts over several seeds, a new deployment's first weeks, the real app
reviews.

    .venv/bin/python -m bench.detect_bench [--seeds 7 1 2 3] [--weeks 8] [--per-day 600] [--bursts 12]
                                           [--cold-seeds 11 12 13] [--volume 300]

Prints, per seed of the injected-burst stream (complaints.evaluation.detection.synthetic_stream): recall, share
detected within 2 h of the burst start (overall and by shape), median and worst hours to detection, the same from
the burst's 10th user, false incidents per week, the replay speed (hours/s). Then, per seed of the cold-start
stream (cold_start_stream: one week of history, four channels, over-dispersed weekday/weekend traffic, an outage
across categories and channels with an error code, date-only regulator rows) at --volume and 10x: false incidents
in each week (week 0 has no history at all), the outage as incidents and the share of its complaints held by
one, whether the other bursts were found; the bench's peak resident memory so far. Last, the known one-star
bursts of the real app reviews found and the other incidents per 4 weeks.
"""

from __future__ import annotations

import argparse
import resource
import time

import yaml

from complaints.core.config import DetectionConfig
from complaints.core.settings import PROJECT_ROOT
from complaints.evaluation.detection import EVIDENCE_USERS, app_reviews, evaluate_cold_start, evaluate_synthetic

REVIEWS = PROJECT_ROOT.parent / "shared" / "data" / "app_reviews_eth_banking" / "reviews.csv"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 1, 2, 3])
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--per-day", type=int, default=600)
    parser.add_argument("--bursts", type=int, default=12)
    parser.add_argument("--cold-seeds", type=int, nargs="+", default=[11, 12, 13])
    parser.add_argument("--volume", type=int, default=300)
    args = parser.parse_args()
    # Only the detection file: the bench measures detection, whatever state the other config files are in.
    cfg = DetectionConfig(**yaml.safe_load((PROJECT_ROOT / "config" / "detection.yaml").read_text(encoding="utf-8")))
    for seed in args.seeds:
        start = time.perf_counter()
        r = evaluate_synthetic(cfg, seed=seed, weeks=args.weeks, per_day=args.per_day, bursts=args.bursts)
        secs = time.perf_counter() - start
        print(f"seed {seed}: {r['complaints']} complaints, {r['bursts']} bursts | recall {r['recall']:.2f} | "
              f"within 2 h {r['within_2h']:.2f} {r['within_2h_by_shape']} | median {r['median_hours_to_detect']} h, "
              f"max {r['max_hours_to_detect']} h | within 2 h of the {EVIDENCE_USERS}th user "
              f"{r['within_2h_of_min_users']:.2f} {r['within_2h_of_min_users_by_shape']}, max "
              f"{r['max_hours_after_min_users']} h | false/week {r['false_per_week']} | "
              f"{args.weeks * 168 / secs:.0f} hours/s")
    for seed in args.cold_seeds:
        for per_day in (args.volume, 10 * args.volume):
            r = evaluate_cold_start(cfg, seed=seed, per_day=per_day)
            print(f"cold start seed {seed}, {per_day}/day: false incidents by week {r['false_per_week']} "
                  f"(weeks 1-4: {r['false_per_week_after_first_week']}/week) | outage: {r['crisis_incidents']} "
                  f"incident(s), {r['crisis_share_held']:.1%} of its {r['crisis_complaints']} complaints in one "
                  f"(purity {'-' if r['crisis_purity'] is None else format(r['crisis_purity'], '.1%')}) | "
                  f"other bursts found {r['bursts_found']}")
    # Each active incident holds its word profiles (centroids, everyday samples) in memory.
    print(f"peak resident memory so far: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if REVIEWS.exists():
        r = app_reviews(cfg, REVIEWS)
        print(f"app reviews: known one-star bursts found {r['known_bursts_found']} | other incidents "
              f"{r['false_incidents']} ({r['false_per_4_weeks']} per 4 weeks of the {r['weeks_with_reviews']} weeks "
              f"with reviews)")


if __name__ == "__main__":
    main()
