"""Baseline and test for one group's distinct users in a window.

Expected = mean distinct users in the same window at the same hour-of-week over the previous weeks
(and the hours either side, to smooth), never below a floor; with no week of history yet, the level
of the preceding hours stands in. Test: one-sided Poisson tail P(X >= observed | expected).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from scipy.special import pdtrc

from complaints.core.config import BurstWindow, DetectionConfig

WEEK = timedelta(days=7)
HOUR = timedelta(hours=1)
# Distinct users of the group received in [lo, hi).
UserCounter = Callable[[datetime, datetime], int]


@dataclass(frozen=True)
class Baseline:
    expected: float
    method: str  # "seasonal": same hour-of-week over previous weeks; "level": recent hours; "floor"
    samples: tuple[int, ...]


def baseline(cfg: DetectionConfig, window: BurstWindow, end: datetime, history_from: datetime,
             users: UserCounter) -> Baseline:
    """Expected distinct users in [end - window, end), from data received at or after history_from."""
    w = timedelta(hours=window.hours)
    floor = cfg.floor_per_hour * window.hours
    shifts = [timedelta(hours=s) for s in range(-cfg.smoothing_hours, cfg.smoothing_hours + 1)]
    weeks = [k for k in range(1, cfg.baseline_weeks + 1) if end - k * WEEK - w + shifts[0] >= history_from]
    if weeks:
        samples = tuple(users(end - k * WEEK + s - w, end - k * WEEK + s) for k in weeks for s in shifts)
        return Baseline(max(sum(samples) / len(samples), floor), "seasonal", samples)
    span_hours = min(cfg.level_hours, int((end - w - history_from) / HOUR))
    if span_hours >= window.hours:
        seen = users(end - w - timedelta(hours=span_hours), end - w)
        return Baseline(max(seen * window.hours / span_hours, floor), "level", (seen,))
    return Baseline(floor, "floor", ())


def tail_probability(observed: int, expected: float) -> float:
    """P(X >= observed) for X ~ Poisson(expected): scipy's poisson.sf(observed - 1), without its per-call
    argument checking (detection asks this tens of thousands of times an hour of replay)."""
    return float(pdtrc(observed - 1, expected))
