"""Baseline and test for one group's distinct users in a window: a baseline that knows how little it knows.

The rate of the window is a Gamma posterior (empirical Bayes):
- prior: the group's own overall level (distinct users per hour over the previous `level_hours` before the day the
  window starts in, scaled to the window), weighted as `prior_weeks` same-hour-of-week samples when that level
  covers a whole week, less when the deployment is younger (a shorter history is a weaker prior);
- data: one sample per previous week at the same hour-of-week (the mean over the hours either side, which are
  not independent samples), up to `baseline_weeks`.
The test is the Gamma-Poisson predictive, a negative binomial, with the extra over-dispersion `dispersion`
(day-to-day variation of the rate itself, which more history does not remove): with one week of history the
predictive is wide and ordinary variation is no alarm; with weeks of history it tightens towards Poisson plus
that over-dispersion. P(X >= observed) uses the regularized incomplete beta (the negative binomial's tail, as
scipy.stats.nbinom.sf, without its per-call argument checking: detection asks this tens of thousands of times).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from scipy.special import betainc

from complaints.core.config import BurstWindow, DetectionConfig

WEEK = timedelta(days=7)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# Distinct users of the group received in [lo, hi).
UserCounter = Callable[[datetime, datetime], int]
# (sum over the hours of [lo, hi) of the group's distinct users per hour, hours counted): the group's level.
LevelCounter = Callable[[datetime, datetime], tuple[int, int]]
MIN_PRIOR = 0.25  # prior weight (in weekly samples) of a level with hardly any history behind it
MIN_SHAPE = 0.3


@dataclass(frozen=True)
class Baseline:
    expected: float  # predictive mean of distinct users in the window
    method: str  # "seasonal": with same-hour-of-week weeks; "level": the group's level only; "floor": no history
    samples: tuple[float, ...]  # one per previous week (mean over the smoothing hours)
    size: float  # negative-binomial size of the predictive
    level: float = 0.0  # the prior mean: the group's overall level scaled to the window
    history_hours: int = 0  # hours of history the level saw
    category_ratio: float = 1.0  # the expected was raised by this (the rest of the category ran above its own)

    def tail(self, observed: int) -> float:
        """P(X >= observed) under the predictive."""
        return tail_probability(observed, self.expected, self.size)


def baseline(cfg: DetectionConfig, window: BurstWindow, end: datetime, history_from: datetime,
             users: UserCounter, level: LevelCounter, dispersion: float | None = None) -> Baseline:
    """The predictive of distinct users in [end - window, end), from data received at or after history_from;
    dispersion: the rate's own variation, when not cfg.dispersion."""
    w = timedelta(hours=window.hours)
    floor = cfg.floor_per_hour * window.hours
    # The level: whole hours before the day the window starts in (cached per day by the caller's counter), or,
    # on a deployment's first day, the hours before the window.
    start = end - w
    hi = start.replace(hour=0, minute=0, second=0, microsecond=0)
    origin = history_from.replace(minute=0, second=0, microsecond=0)
    lo = max(origin, hi - timedelta(hours=cfg.level_hours))
    if hi <= lo:
        hi, lo = start.replace(minute=0, second=0, microsecond=0), origin
    user_hours, hours = level(lo, hi) if hi > lo else (0, 0)
    prior_mean = max(user_hours / hours * window.hours if hours else 0.0, floor)
    prior_weight = cfg.prior_weeks * max(MIN_PRIOR, min(1.0, hours / (7 * 24)))
    shifts = [timedelta(hours=s) for s in range(-cfg.smoothing_hours, cfg.smoothing_hours + 1)]
    weeks = [k for k in range(1, cfg.baseline_weeks + 1) if end - k * WEEK - w + shifts[0] >= history_from]
    samples = tuple(sum(users(end - k * WEEK + s - w, end - k * WEEK + s) for s in shifts) / len(shifts)
                    for k in weeks)
    shape = prior_weight * prior_mean + sum(samples)
    expected = max(shape / (prior_weight + len(samples)), floor)
    # Never wider than an exponential prior around the mean: a group with no history yet (a new error code) is
    # still expected to have about none, and 11 users in an hour on it is news.
    size = 1 / (1 / max(shape, MIN_SHAPE) + (cfg.dispersion if dispersion is None else dispersion))
    method = "seasonal" if samples else "level" if hours else "floor"
    return Baseline(expected, method, samples, size, prior_mean, hours)


def tail_probability(observed: int, expected: float, size: float) -> float:
    """P(X >= observed) for X negative binomial with this mean and size: I_{1-p}(observed, size) with
    p = size / (size + expected)."""
    if observed <= 0:
        return 1.0
    return float(betainc(observed, size, expected / (size + expected)))
