"""Detect collective complaints (集体投诉): bursts of distinct users on one problem signature.

For each hour in which complaints arrived, every signature (category plus one entity, see
complaints.detect.signatures) that has a complaint in that hour is tested: distinct users in each window
(shortest first) against the signature's own same-hour-of-week baseline (complaints.detect.baseline).
An alarm opens an incident keyed (signature, hour) or grows the active one; complaints of an
active incident's signature join it. Hours are replayed in order, and every window ends at the
end of its hour, so a backfill over a past window gives the incidents the hourly runs gave, and
re-runs create nothing twice (the unique key absorbs them).

The replay (Replay) works in memory over an ItemSource: hours of complaints indexed by signature, so a
baseline counts distinct users from per-hour sets instead of rescanning weeks of complaints. The
database detector (Detector) feeds it hours read once each and writes links and figures at the end;
the evaluation (complaints.evaluation.detection) feeds it a synthetic stream. Both run the same code.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence, Set
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from statistics import median
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process
from scipy import sparse
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from complaints.core.bulk import in_conditions
from complaints.core.config import BurstWindow, DetectionConfig, TaxonomyConfig
from complaints.core.db import insert_ignore
from complaints.core.models import Complaint, Incident, utcnow
from complaints.detect.baseline import HOUR, Baseline, baseline
from complaints.detect.frame import FRAME_DAYS_SEEN, NO_FRAME, learn
from complaints.detect.incidents import ACTIVE, LEVELS, SPLIT_MARK, Figures, figures, record_merge
from complaints.detect.merge import PHRASE_SAMPLE, PHRASES, about, entity_shares, related
from complaints.detect.profile import (
    MIN_EVERYDAY,
    MIN_MEMBERS,
    Profile,
    everyday_sides,
    profile,
    spread,
    vectors,
)
from complaints.detect.profile import SAMPLE as PROFILE_SAMPLE
from complaints.detect.signatures import (
    ANY_CATEGORY,
    CROSS_CATEGORY,
    ITEM_COLUMNS,
    RATE,
    Item,
    item_of,
    masked_text,
    signature,
    skeleton,
    text_key,
    top_phrases,
)

# An alarm on an error code, an app version or a near-identical description takes every complaint of it in the
# longest window, not only those of the window that fired: they are the same problem (a merchant's or region's
# earlier complaints of the day may be its everyday ones).
WHOLE_DAY_KINDS = CROSS_CATEGORY | {"text"}
RATIO_PSEUDO_USERS = 10.0
MIN_TEXT = 8  # characters of skeleton: one- or two-word texts ("bad app") are no shared description
# A text group with this share of its category's users on a typical day or more is the category's everyday wording
# (a template, a formula of one channel), no problem's description: its surge is tested as the whole category's.
EVERYDAY_TEXT_SHARE = 0.1
PREFETCH = timedelta(hours=48)  # hours read from the database per query, ahead of the one asked for
NO_USERS: frozenset[str] = frozenset()
PROGRESS_EVERY = 168  # hours replayed between progress calls (a week)
# The channels' frame is learnt from the complaints of this long before a run's first hour, at most this many;
# of each, the first BODY_READ characters (a skeleton keeps SKELETON_CHARS).
FRAME_DAYS, FRAME_SAMPLE, BODY_READ = timedelta(days=7), 20_000, 2_000
# A whole category always has traffic: until its level has seen a day (the first hours may all be night), it is
# not known, and it is not tested.
WHOLE_CATEGORY_HISTORY = 24
# Told (hours replayed, hours in all) as a replay goes on: a long backfill renews its lease and shows progress.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Group:
    category: str
    kind: str
    value: str
    anchor: str | None = None  # text groups: the skeleton members resemble

    @property
    def signature(self) -> str:
        return signature(self.category, self.kind, self.value)

    def matches(self, it: Item, similarity: float) -> bool:
        """Whether a complaint joins a young incident of this group. A whole category is no problem of its own:
        its complaints join only while its surge lasts, through the alarms."""
        if self.kind == "any" or self.category not in (it.category, ANY_CATEGORY):
            return False
        if self.kind == "text":
            return len(it.skeleton) >= MIN_TEXT and fuzz.ratio(it.skeleton, self.anchor or "") >= similarity
        return (self.kind, self.value) in it.entities


def similar_to(anchor: str, peers: Sequence[Item], skeletons: Sequence[str], similarity: float) -> list[Item]:
    """The peers (skeletons[i] is peers[i]'s) whose text resembles anchor, in their order: Group.matches for
    text groups, over many items in one call."""
    hits = process.extract(anchor, skeletons, scorer=fuzz.ratio, score_cutoff=similarity, limit=None)
    return [peers[i] for i in sorted(i for _, _, i in hits) if len(skeletons[i]) >= MIN_TEXT]


@dataclass(frozen=True)
class Alarm:
    group: Group
    hour: datetime  # start of the evaluated hour; its window ends an hour later
    window: BurstWindow
    observed: int
    baseline: Baseline
    p_value: float
    members: tuple[Item, ...]
    min_users: int  # the window's minimum at this hour (its min_users or its share of the volume)
    alpha: float  # the window's alpha at this hour (its alpha, or larger on a small volume)

    def reason(self, top: int) -> dict[str, object]:
        end = self.hour + HOUR
        return {
            "rule": "negative-binomial tail of distinct users vs own same-hour-of-week baseline shrunk to its level",
            "signature": self.group.signature,
            "window_hours": self.window.hours,
            "window_start": (end - timedelta(hours=self.window.hours)).isoformat(),
            "window_end": end.isoformat(),
            "observed_users": self.observed,
            "expected_users": round(self.baseline.expected, 3),
            "baseline": self.baseline.method,
            "level_users": round(self.baseline.level, 3),
            "weeks_of_history": len(self.baseline.samples),
            "history_hours": self.baseline.history_hours,
            "nb_size": round(self.baseline.size, 3),
            "category_ratio": round(self.baseline.category_ratio, 3),
            "p_value": float(f"{self.p_value:.3g}"),
            "alpha": float(f"{self.alpha:.3g}"),
            "min_users": self.min_users,
            "top_phrases": top_phrases(list(self.members), top),
        }


class HourBucket:
    """The canonical complaints received in one hour, with each group's distinct users."""

    def __init__(self, items: list[Item]) -> None:
        self.items = items  # by (at, id)
        self.by_category: dict[str, list[Item]] = defaultdict(list)
        self._users = self._index(items)
        # Date-only complaints count in daily windows only; most hours have none and share one index.
        self._timed = self._index([it for it in items if not it.dated]) if any(it.dated for it in items) \
            else self._users
        for it in items:
            self.by_category[it.category].append(it)
        self._text_users: dict[tuple[str, str, bool], frozenset[str]] = {}

    @staticmethod
    def _index(items: list[Item]) -> dict[tuple[str, str, str], set[str]]:
        users: dict[tuple[str, str, str], set[str]] = defaultdict(set)
        for it in items:
            users[(it.category, "any", "*")].add(it.user)
            users[(ANY_CATEGORY, "any", "*")].add(it.user)
            for kind, value in it.entities:
                users[(ANY_CATEGORY if kind in CROSS_CATEGORY else it.category, kind, value)].add(it.user)
        return users

    def users(self, g: Group, similarity: float, dated: bool = True) -> frozenset[str] | set[str]:
        """The group's distinct users in this hour; without the date-only complaints unless dated."""
        if g.kind != "text":
            return (self._users if dated else self._timed).get((g.category, g.kind, g.value), NO_USERS)
        key = (g.category, g.anchor or "", dated)
        if key not in self._text_users:
            peers = [it for it in self.by_category.get(g.category, []) if dated or not it.dated]
            self._text_users[key] = frozenset(
                it.user for it in similar_to(key[1], peers, [p.skeleton for p in peers], similarity))
        return self._text_users[key]


EMPTY_HOUR = HourBucket([])


class ItemSource:
    """Canonical, classified complaints as Items, an hour at a time; windows start and end on whole hours."""

    history_from: datetime

    def __init__(self) -> None:
        # Distinct users per (group, window start), by window end: consecutive hours' smoothed baselines share
        # two of every three windows.
        self._counts: dict[datetime, dict[tuple[Group, datetime, bool], int]] = defaultdict(dict)
        # A group's level per (group, start, dated), by end: one per group and day.
        self._levels: dict[datetime, dict[tuple[Group, datetime, bool], tuple[int, int]]] = defaultdict(dict)

    def bucket(self, hour: datetime) -> HourBucket:
        raise NotImplementedError

    def items(self, lo: datetime, hi: datetime) -> list[Item]:
        return [it for h in hour_range(lo, hi) for it in self.bucket(h).items]

    def users(self, g: Group, similarity: float, lo: datetime, hi: datetime, dated: bool = True) -> int:
        """Distinct users of the group received in [lo, hi) (without date-only complaints unless dated)."""
        counts = self._counts[hi]
        if (g, lo, dated) not in counts:
            counts[g, lo, dated] = len(set().union(
                *(self.bucket(h).users(g, similarity, dated) for h in hour_range(lo, hi))))
        return counts[g, lo, dated]

    def level(self, g: Group, similarity: float, lo: datetime, hi: datetime, dated: bool) -> tuple[int, int]:
        """(sum of the group's distinct users per hour, hours) over [lo, hi): its overall level."""
        levels = self._levels[hi]
        if (g, lo, dated) not in levels:
            hours = hour_range(lo, hi)
            levels[g, lo, dated] = (sum(len(self.bucket(h).users(g, similarity, dated)) for h in hours), len(hours))
        return levels[g, lo, dated]

    def evict(self, before: datetime) -> None:
        """Forget what only hours before this needed."""
        for cache in (self._counts, self._levels):
            for end in [end for end in cache if end < before]:
                del cache[end]


class MemorySource(ItemSource):
    def __init__(self, items: Iterable[Item]) -> None:
        super().__init__()
        by_hour: dict[datetime, list[Item]] = defaultdict(list)
        for it in sorted(items, key=lambda it: (it.at, it.id)):
            by_hour[floor_hour(it.at)].append(it)
        self.buckets = {h: HourBucket(its) for h, its in by_hour.items()}
        self.history_from = min((its[0].at for its in by_hour.values()), default=utcnow())

    def bucket(self, hour: datetime) -> HourBucket:
        return self.buckets.get(hour, EMPTY_HOUR)


class DbSource(ItemSource):
    """Reads each hour once, a few days per query, and forgets hours older than any baseline looks back."""

    def __init__(self, session: Session, date_only_sources: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.session = session
        self.date_only = date_only_sources
        self.frame = NO_FRAME  # set before the first hour is read (Detector.run)
        self.buckets: dict[datetime, HourBucket] = {}
        self.until: datetime | None = None  # nothing at or after this is ever asked for: no prefetch past it
        first = session.execute(
            select(func.min(Complaint.received_at)).where(Complaint.duplicate_of_id.is_(None))
        ).scalar_one()
        self.history_from = first or utcnow()

    def bucket(self, hour: datetime) -> HourBucket:
        if hour not in self.buckets:
            self._load(hour)
        return self.buckets[hour]

    def _load(self, start: datetime) -> None:
        end = start + HOUR
        limit = start + PREFETCH if self.until is None else min(start + PREFETCH, max(self.until, end))
        while end < limit and end not in self.buckets:
            end += HOUR
        by_hour: dict[datetime, list[Item]] = defaultdict(list)
        for row in self.session.execute(
            select(*(getattr(Complaint, c) for c in ITEM_COLUMNS))
            .where(Complaint.duplicate_of_id.is_(None), Complaint.category.is_not(None),
                   Complaint.received_at >= start, Complaint.received_at < end)
            .order_by(Complaint.received_at, Complaint.id)
        ):
            by_hour[floor_hour(row.received_at)].append(self.item(row))
        for h in hour_range(start, end):
            self.buckets[h] = HourBucket(by_hour[h]) if h in by_hour else EMPTY_HOUR

    def item(self, row: Any) -> Item:
        return item_of(row, self.date_only, self.frame)

    def learn_frame(self, first: datetime, share: float | None) -> None:
        """The channels' frame (complaints.detect.frame) from the complaints of the week before the hour `first`
        that no incident holds (the newest FRAME_SAMPLE / 7 of each day), or, when that week has too few days of
        them for one (a backfill into an empty database), from the week from `first` on, up to what this run
        reads."""
        if share is None:
            self.frame = NO_FRAME
            return
        said = self._said(first - FRAME_DAYS, first)
        if len({day for _, day, _ in said}) < FRAME_DAYS_SEEN:
            said = self._said(first, min(first + FRAME_DAYS, self.until or first + FRAME_DAYS))
        self.frame = learn(said, share)

    def _said(self, lo: datetime, hi: datetime) -> list[tuple[str, date, str]]:
        """(category, UTC day, skeleton) of the canonical complaints received in [lo, hi) that no incident holds,
        the newest FRAME_SAMPLE / 7 of each day (a busy week is sampled on all its days)."""
        out = []
        day = lo
        while day < hi:
            end = min(day + timedelta(days=1), hi)
            rows = self.session.execute(
                select(Complaint.category, Complaint.received_at, Complaint.title,
                       func.substr(Complaint.body, 1, BODY_READ))
                .where(Complaint.category.is_not(None), Complaint.duplicate_of_id.is_(None),
                       Complaint.incident_id.is_(None), Complaint.received_at >= day, Complaint.received_at < end)
                .order_by(Complaint.received_at.desc(), Complaint.id.desc()).limit(FRAME_SAMPLE // 7))
            out += [(category, at.date(), skeleton(masked_text(f"{title or ''} {body}")))
                    for category, at, title, body in rows]
            day = end
        return out

    def evict(self, before: datetime) -> None:
        super().evict(before)
        for h in [h for h in self.buckets if h < before]:
            del self.buckets[h]


def floor_hour(t: datetime) -> datetime:
    """The start of the hour `t` falls in."""
    return t.replace(minute=0, second=0, microsecond=0)


def hour_range(lo: datetime, hi: datetime) -> list[datetime]:
    """Every hour start from the hour of `lo` up to (not including) `hi`."""
    out, h = [], floor_hour(lo)
    while h < hi:
        out.append(h)
        h += HOUR
    return out


def lookback(cfg: DetectionConfig) -> timedelta:
    """How far before an evaluated hour its baselines read."""
    longest = cfg.windows()[-1].hours
    return timedelta(weeks=cfg.baseline_weeks, hours=longest + cfg.smoothing_hours + cfg.level_hours + 1)


def text_clusters(cfg: DetectionConfig, current: list[Item], peers: list[Item]) -> dict[str, tuple[str, list[Item]]]:
    """For each distinct text of current (items of one category, long enough): the anchor, the earliest peer that
    resembles it, and the peers that resemble the anchor: the text groups of the hour. One similarity matrix for
    all, not a search each."""
    queries = list(dict.fromkeys(it.skeleton for it in current if len(it.skeleton) >= MIN_TEXT))
    if not queries:
        return {}
    skeletons = [p.skeleton for p in peers]
    usable = np.fromiter((len(s) >= MIN_TEXT for s in skeletons), bool, len(skeletons))

    def hits(texts: list[str]) -> np.ndarray:
        scores = process.cdist(texts, skeletons, scorer=fuzz.ratio, score_cutoff=cfg.text_similarity)
        return (scores >= cfg.text_similarity) & usable

    first = hits(queries).argmax(axis=1)  # each query is among the peers, so it resembles one at least
    anchors = sorted(set(first.tolist()))
    rows = hits([skeletons[a] for a in anchors])
    members = {a: [peers[j] for j in np.flatnonzero(row)] for a, row in zip(anchors, rows, strict=True)}
    return {q: (skeletons[a], members[a]) for q, a in zip(queries, first.tolist(), strict=True)}


def groups_of(cfg: DetectionConfig, current: list[Item], recent: list[Item]) -> list[tuple[Group, list[Item]]]:
    """Signatures of the complaints in the evaluated hour, strongest entity first, with their recent members."""
    by_category: dict[str, list[Item]] = defaultdict(list)
    by_entity: dict[tuple[str, str, str], list[Item]] = defaultdict(list)
    for it in recent:
        by_category[it.category].append(it)
        for kind, value in it.entities:
            by_entity[(ANY_CATEGORY if kind in CROSS_CATEGORY else it.category, kind, value)].append(it)
    clusters: dict[str, dict[str, tuple[str, list[Item]]]] = {}
    if "text" in cfg.entities:
        now: dict[str, list[Item]] = defaultdict(list)
        for it in current:
            now[it.category].append(it)
        clusters = {cat: text_clusters(cfg, its, by_category[cat]) for cat, its in now.items()}

    found: dict[str, tuple[int, Group, list[Item]]] = {}
    for it in current:
        for rank, kind in enumerate(cfg.entities):
            if kind == "any":
                g = Group(it.category, "any", "*")
                found.setdefault(g.signature, (rank, g, by_category[it.category]))
            elif kind == "text" and len(it.skeleton) >= MIN_TEXT:
                anchor, members = clusters[it.category][it.skeleton]  # earliest similar: stable over the hour
                g = Group(it.category, "text", text_key(anchor), anchor)
                found.setdefault(g.signature, (rank, g, members))
            else:
                for k, v in it.entities:
                    if k == kind:
                        g = Group(ANY_CATEGORY if k in CROSS_CATEGORY else it.category, k, v)
                        found.setdefault(g.signature, (rank, g, by_entity[(g.category, k, v)]))
    return [(g, members) for _, g, members in sorted(found.values(), key=lambda r: (r[0], r[1].signature))]


def group_baseline(cfg: DetectionConfig, g: Group, w: BurstWindow, end: datetime, source: ItemSource) -> Baseline:
    """The baseline of a group's distinct users in the window ending at end."""
    dated = w.hours >= 24

    def users(lo: datetime, hi: datetime) -> int:
        return source.users(g, cfg.text_similarity, lo, hi, dated)

    def level(lo: datetime, hi: datetime) -> tuple[int, int]:
        return source.level(g, cfg.text_similarity, lo, hi, dated)

    # A whole category's day-to-day share of the traffic varies more than one problem's rate.
    return baseline(cfg, w, end, source.history_from, users, level,
                    cfg.surges.dispersion if g.kind == "any" else None)


def _everyday_wording(cfg: DetectionConfig, g: Group, end: datetime, source: ItemSource) -> bool:
    """Whether a text group's users on a typical day of the week before (the median day) are EVERYDAY_TEXT_SHARE
    of its category's or more. The median, not the mean: a crisis told in these words earlier in the week is no
    everyday wording."""
    days = [(end - timedelta(days=k + 1), end - timedelta(days=k)) for k in range(1, 8)]
    typical = [median(source.users(x, cfg.text_similarity, lo, hi) for lo, hi in days)
               for x in (g, Group(g.category, "any", "*"))]
    return typical[1] > 0 and typical[0] >= EVERYDAY_TEXT_SHARE * typical[1]


class CategoryRatio:
    """How far a category's other complaints run above their own baseline in a window: a signature's expected
    is raised by as much, so a busy day for a whole category (every signature of it up) is no burst of one;
    a real burst concentrates on its signature and leaves the rest of the category as usual. A whole category's
    group is measured the same way against all other complaints (a busy day for everyone is no category's burst).
    Damped by RATIO_PSEUDO_USERS, never below 1 (a quiet day does not make ordinary traffic look like a burst)."""

    def __init__(self, cfg: DetectionConfig, end: datetime, source: ItemSource, taken: Set[str]) -> None:
        self.cfg, self.end, self.source, self.taken = cfg, end, source, taken
        self._seen: dict[tuple[str, int], tuple[int, float]] = {}

    def scale(self, group: Group, w: BurstWindow, base: Baseline, observed: int) -> Baseline:
        # A whole category's burst is measured against the rest of the traffic: a busy day raises every category.
        category = ANY_CATEGORY if group.kind == "any" else group.category
        key = (category, w.hours)
        if key not in self._seen:
            g = Group(category, "any", "*")
            # Users of active incidents are no ordinary traffic: a crisis must not hide its own other signatures.
            users = set().union(*(self.source.bucket(h).users(g, self.cfg.text_similarity, w.hours >= 24)
                                  for h in hour_range(self.end - timedelta(hours=w.hours), self.end)))
            self._seen[key] = (len(users - self.taken), group_baseline(self.cfg, g, w, self.end, self.source).expected)
        total, expected = self._seen[key]
        rest_observed, rest_expected = max(total - observed, 0), max(expected - base.expected, 0.0)
        ratio = max(1.0, (rest_observed + RATIO_PSEUDO_USERS) / (rest_expected + RATIO_PSEUDO_USERS))
        return dataclasses.replace(base, expected=base.expected * ratio, category_ratio=ratio)


def find_alarms(cfg: DetectionConfig, hour: datetime, source: ItemSource, taken: Set[str] = frozenset(),
                after_onset: bool = False, ongoing: Set[str] = frozenset(),
                continuing: Set[str] = frozenset()) -> list[Alarm]:
    """Signatures whose distinct users in some window ending at hour+1h are improbably many; taken: the users of
    active incidents; after_onset: an incident was detected within surges.related_hours; ongoing: the signatures
    of active incidents (a whole category's surge at an onset, or still going on, needs less); continuing: those
    of incidents detected within surges.related_hours (their surge is still the same burst)."""
    end = hour + HOUR
    windows = cfg.windows()
    recent = source.items(end - timedelta(hours=windows[-1].hours), end)
    current = source.items(hour, end)
    # The minimum grows with the deployment's volume: complaints of every group received in the window.
    volume = {w.hours: sum(len(source.bucket(h).items) for h in hour_range(end - timedelta(hours=w.hours), end))
              for w in windows}
    least = {w.hours: max(w.min_users, math.ceil(cfg.min_users_share * volume[w.hours])) for w in windows}
    alpha = {w.hours: max(w.alpha, min(cfg.alpha_max, cfg.alpha_volume / max(volume[w.hours], 1))) for w in windows}
    alarms = []
    category_ratio = CategoryRatio(cfg, end, source, taken)
    surges = cfg.surges
    for g, matching in groups_of(cfg, current, recent):
        whole = g.kind == "any"
        for w in windows:
            if whole and w.hours < surges.min_window_hours:
                continue
            dated = w.hours >= 24  # date-only complaints are spread over their day: daily windows only
            # matching is in received order
            members = matching[bisect.bisect_left(matching, end - timedelta(hours=w.hours), key=lambda it: it.at):]
            if not dated:
                members = [it for it in members if not it.dated]
            users = {it.user for it in members}
            # A whole category's surge counts the users no active incident explains: a crisis's own complaints in
            # the category are no second burst. In the first hours of the surge's own incident, all of them: the
            # surge going on is what brings its next hours' complaints to it (explained() stops it once few are
            # new); later, a surge is a new burst in that category (another crisis) and is tested as one.
            free = len(users - taken) if whole else len(users)
            observed = len(users) if g.signature in continuing else free
            if observed < least[w.hours] or (whole and free < windows[0].min_users):
                continue  # (a surge going on brings at least as many new users as the smallest burst)

            base = group_baseline(cfg, g, w, end, source)
            if whole and base.history_hours < WHOLE_CATEGORY_HISTORY:
                continue
            related = whole and (after_onset or g.signature in ongoing)
            # A whole category is one of few, large series: its alpha is the window's own, not the larger one a
            # small volume affords for its many small signatures.
            level = (surges.related_alpha if related else w.alpha) if whole else alpha[w.hours]
            p = base.tail(observed)
            if p <= level and g.kind == "text" and g.signature not in ongoing and _everyday_wording(cfg, g, end,
                                                                                                      source):
                break  # its surge is the category's, tested as that
            # The category ratio only raises the expected: worth it only for an alarm. Not for a surge at another
            # incident's onset: the rest of the traffic then runs high because of that crisis, not a busy day.
            if p <= level and not related:
                base = category_ratio.scale(g, w, base, observed)
                p = base.tail(observed)
            if p <= level and (not whole or observed >= surges.min_ratio * base.expected):
                if g.kind in WHOLE_DAY_KINDS:  # the problem's complaints of the whole day, the date-only ones too
                    members = matching[bisect.bisect_left(matching, end - timedelta(hours=windows[-1].hours),
                                                          key=lambda it: it.at):]
                alarms.append(Alarm(g, hour, w, observed, base, p, tuple(members), least[w.hours], level))
                break
    return alarms


def route(alarm: Alarm, by_signature: int | None, member_incident: dict[int, int],
          active: set[int]) -> tuple[str, int | None]:
    """What an alarm does: ("grow", id) of the active incident of its signature; ("absorbed", id) when most of
    its members already belong to another active incident (the same burst seen through another entity);
    ("skip", None) when too few of its users are free to join a new one (their complaints belong to past
    incidents); else ("open", None)."""
    if by_signature is not None:
        return "grow", by_signature
    linked = Counter(member_incident[it.id] for it in alarm.members if member_incident.get(it.id) in active)
    if linked:
        incident_id, n = min(linked.items(), key=lambda kv: (-kv[1], kv[0]))
        if 2 * n >= len(alarm.members):
            return "absorbed", incident_id
    if len({it.user for it in alarm.members if it.id not in member_incident}) < alarm.min_users:
        return "skip", None
    return "open", None


# A text profile's key: the category it judges, the categories whose complaints it is made from (None: that one),
# the categories whose everyday complaints it is made against besides the judged one's (None: none).
Key = tuple[str | None, frozenset[str] | None, frozenset[str] | None]


@dataclass
class Track:
    """An incident as the replay sees it: its group, lifecycle as of the replayed hours, and members."""

    id: int
    group: Group
    opened_window: datetime
    severity: str = "P3"
    active: bool = True  # open, investigating or remediating
    resolved_at: datetime | None = None
    last: datetime | None = None  # received time of its latest member
    members: dict[int, Item] = field(default_factory=dict)
    alarm: Alarm | None = None  # the alarm that opened it, when this replay did
    joined: list[int] = field(default_factory=list)  # members this replay added
    figures: Figures | None = None  # as of the last hour it was touched in this replay
    severity_reasons: list[str] | None = None  # why it has its severity, when this replay set it
    extra: list[Group] = field(default_factory=list)  # the groups of the incidents merged into it
    merged: list[dict[str, object]] = field(default_factory=list)  # their evidence, merged in this replay
    merged_into: int | None = None  # merged into that incident: takes nothing more
    pinned: bool = False  # split by hand: never merged automatically
    window_hours: int | None = None  # the window of the alarm that opened it, as stored (a later run's view)
    # For content joins, by Key: (category judged, None, None) from its own complaints of that category (None: of
    # all, for an incident across all categories), or across (category judged, the categories lending their
    # complaints, those lending their everyday side); each as of its .members members (see Replay.text_profiles).
    text_profiles: dict[Key, Profile] = field(default_factory=dict)
    # The week before it opened, read once: a sample of its everyday complaints' skeletons by category and (None) of
    # all, and their vectors as they are needed (None: too few).
    week: dict[str | None, list[str]] | None = None
    everyday: dict[str | None, Any] = field(default_factory=dict)
    # For content joins: per entity kind, the values its problem is about (held by a share of its members).
    problem_entities: dict[str, set[str]] = field(default_factory=dict)
    by_words: set[int] = field(default_factory=set)  # members this replay took in by their words
    _phrases: tuple[int, list[str]] = (-1, [])
    _lasting: tuple[int, list[Group]] = (-1, [])  # (its groups, its lasting codes among them): Replay.lasting_codes

    @property
    def signature(self) -> str:
        return self.group.signature

    @property
    def category(self) -> str:
        """Its group's category; for a group across categories, its members' most common one."""
        return self.group.category if self.group.category != ANY_CATEGORY else majority(self.members.values())

    @property
    def signatures(self) -> set[str]:
        return {g.signature for g in (self.group, *self.extra)}

    def matches(self, it: Item, similarity: float) -> bool:
        return any(g.matches(it, similarity) for g in (self.group, *self.extra))

    @property
    def surged(self) -> bool:
        """Whether it is (or holds) a whole category's surge."""
        return any(g.kind == "any" for g in (self.group, *self.extra))

    def categories(self) -> frozenset[str] | None:
        """The categories its complaints come from; None for an incident across categories."""
        found = frozenset(g.category for g in (self.group, *self.extra))
        return None if ANY_CATEGORY in found else found

    def phrases(self) -> list[str]:
        """Top phrases of its members, recomputed only when they changed."""
        n = min(len(self.members), PHRASE_SAMPLE)
        if self._phrases[0] != n:
            self._phrases = (n, top_phrases(list(itertools.islice(self.members.values(), n)), PHRASES))
        return self._phrases[1]

    @property
    def detected_at(self) -> datetime:
        return self.opened_window + HOUR

    @property
    def opening_hours(self) -> int | None:
        """The window of the alarm that opened it."""
        return self.alarm.window.hours if self.alarm else self.window_hours

    @property
    def users(self) -> set[str]:
        return {m.user for m in self.members.values()}

    def own(self) -> list[Item]:
        """The members its signature and alarms brought in (not those taken in by their words), oldest first."""
        return sorted((it for it in self.members.values() if not it.by_words and it.id not in self.by_words),
                      key=lambda it: (it.at, it.id))

    def forget_words(self) -> None:
        """Drop its word profiles and the week before (matrices of MBs): it judges nothing by words any more."""
        self.text_profiles, self.week, self.everyday = {}, None, {}

    def active_at(self, hour: datetime, quiet: timedelta) -> bool:
        """Active as of this hour (a replay sees it as the live run did)."""
        return (self.merged_into is None and self.opened_window <= hour
                and (self.active or (self.resolved_at is not None and self.resolved_at > hour + HOUR))
                and self.last is not None and self.last >= hour - quiet)


# How far before an incident opened its content joins look, once; how long after its hour a complaint is judged.
EARLY, CONTENT_DELAY = timedelta(hours=12), timedelta(hours=2)
# The everyday complaints a content join compares with: from a week before an incident opened to EARLY before (a
# crisis's complaints of the hours before the alarm are candidates, never everyday: in a backfill they would stay
# in the everyday side its profile keeps, while a later hourly run reads them as members).
EVERYDAY_DAYS, EVERYDAY_GAP = timedelta(days=7), EARLY


def _about(it: Item, about: dict[str, set[str]]) -> bool:
    """Whether the item names no other merchant, error code, version, product or region than the ones an incident is
    about. A rate does not count: a fee change's complaints quote the old rate beside the new one."""
    return all(value in about[kind] for kind, value in it.entities if kind in about and kind != RATE)


def _by_profile(profiles: dict[str | None, Profile], items: Iterable[Item]) -> dict[str | None, list[Item]]:
    """The items each of an incident's text profiles judges: those of its category (all, for the one of an incident
    across categories); an item of a category without a distinctive profile is judged by none."""
    out: dict[str | None, list[Item]] = defaultdict(list)
    for it in items:
        key = None if None in profiles else it.category
        if key in profiles:
            out[key].append(it)
    return out


# Makes (or finds, on a re-run) the incident an alarm opens.
Opener = Callable[[Alarm], Track]


class Replay:
    """Hour-by-hour detection: joins, alarms, incidents opened and grown, severity; all in memory."""

    def __init__(self, cfg: DetectionConfig, source: ItemSource, tracks: list[Track], opener: Opener) -> None:
        self.cfg, self.source, self.opener = cfg, source, opener
        self.tracks = sorted(tracks, key=lambda t: (t.opened_window, t.id))
        self.by_id = {t.id: t for t in self.tracks}
        self.member_of = {i: t.id for t in self.tracks for i in t.members}
        self.merges: list[tuple[int, int]] = []  # (absorbed, into), in the order they happened
        # Content joins: this hour's text profiles of complaints, one matrix, and each complaint's row in it.
        self._vectors: Any = None
        self._rows: dict[int, int] = {}

    def incident_of(self, it: Item) -> int | None:
        return self.member_of.get(it.id, it.incident_id)

    def hour(self, hour: datetime) -> list[tuple[Track, bool]]:
        """Detect in this hour; the incidents it touched, in their order, each with whether severity went up."""
        cfg, end = self.cfg, hour + HOUR
        self.source.evict(hour - lookback(cfg))
        self._vectors, self._rows = None, {}
        active = [t for t in self.tracks if t.active_at(hour, timedelta(hours=cfg.quiet_hours))]
        live = {t.id for t in active}
        for t in self.tracks:  # an incident no longer active judges nothing by words: its matrices go
            if t.week is not None and t.id not in live:
                t.forget_words()
        touched: set[int] = set()
        # First, complaints of this hour join a young incident whose signature they match (oldest first), so an
        # alarm on another entity of the same burst sees them as members and is absorbed. Later on, only
        # alarms add members: a broad signature (a whole merchant) must not swallow its everyday complaints.
        young = [t for t in active if t.opened_window >= hour - timedelta(hours=cfg.join_hours)]
        # An error code no ordinary complaint names stays the incident's own while it is active; the most specific
        # evidence, tried first.
        older = [(t, codes) for t in active if t not in young and (codes := self.lasting_codes(t))]
        candidates = [*older, *((t, None) for t in young)]
        for it in self.source.items(hour, end):
            if self.incident_of(it) is not None:
                continue
            for track, codes in candidates:
                hit = track.matches(it, cfg.text_similarity) if codes is None else any(
                    g.matches(it, cfg.text_similarity) for g in codes)
                if hit and self.link(track, [it]):
                    touched.add(track.id)
                    break
        taken = {m.user for t in active for m in t.members.values()}
        first_hours = timedelta(hours=cfg.surges.related_hours)
        onset = any(end - t.detected_at <= first_hours for t in active)
        ongoing = {s for t in active for s in t.signatures}
        continuing = {s for t in active if end - t.detected_at <= first_hours for s in t.signatures}
        for alarm in find_alarms(cfg, hour, self.source, taken, after_onset=onset, ongoing=ongoing,
                                 continuing=continuing):
            track = self.target(alarm, active)
            if track is not None and self.link(track, alarm.members):
                touched.add(track.id)
        # After the alarms: a new problem's burst opens its own incident before an older one's tail is looked for.
        self.content_joins(hour, active, touched)
        self.merge_related(hour, active, touched)
        out = []
        for track in active:
            if track.id in touched and track.merged_into is None:
                track.figures = figures(cfg.severity, track.category, track.severity,
                                        list(track.members.values()))
                went_up = LEVELS.index(track.figures.severity) > LEVELS.index(track.severity)
                track.severity = track.figures.severity
                track.severity_reasons = track.figures.severity_reasons or track.severity_reasons
                out.append((track, went_up))
        return out

    def lasting_codes(self, track: Track) -> list[Group]:
        """The incident's error codes that no complaint named in the week before it opened: no timed one from a week
        to EVERYDAY_GAP (12 h) before, no date-only one whose day had ended by then (stored at the start of its day in
        the writer's time zone: from a week to 36 h before; one dated the day the crisis began may be its own,
        whatever the time zones). A complaint naming one joins it while it is active, not only in its first
        join_hours (the regulator's referrals of an outage come dated days later). A code named on ordinary days,
        even a few of them, would bring its ordinary complaints in and keep the incident from ever going quiet; with
        less than that week of history nothing shows a code is not ordinary, and none lasts."""
        codes = [g for g in (track.group, *track.extra) if g.kind == "error_code"]
        if track._lasting[0] != len(codes):
            sim, week = self.cfg.text_similarity, track.opened_window - EVERYDAY_DAYS
            # Stored at its day's start: one stored 36 h or more before the opening (in that hour, or earlier) ended
            # 12 h before it or sooner.
            dated_until = track.opened_window - EVERYDAY_GAP - timedelta(days=1) + HOUR
            track._lasting = (len(codes), [] if week < self.source.history_from else [
                g for g in codes
                if not self.source.users(g, sim, week, track.opened_window - EVERYDAY_GAP, dated=False)
                and not self.source.users(g, sim, week, dated_until, dated=True)])
        return track._lasting[1]

    def content_joins(self, hour: datetime, active: list[Track], touched: set[int]) -> None:
        """Complaints that no incident holds join the active incident whose complaints they read like, rather than
        like the everyday ones (complaints.detect.profile, by the centroids or by the nearest complaints; of their
        category, and across categories see text_profiles): a crisis's tail, too slow for an alarm, too varied for a
        signature. Each complaint goes to the incident whose test it passes by most (how far above that test's
        margin). They are judged two hours after their hour, so that a new problem's first complaints open its own
        incident first (an alarm within those hours); an incident opened in this hour looks at the 12 hours before,
        once (the crisis's start, before the alarm)."""
        margin, near = self.cfg.content_margin, self.cfg.neighbour_margin
        if margin is None and near is None:
            return
        horizon = timedelta(hours=self.cfg.content_hours)
        best: dict[int, tuple[float, Track, Item]] = {}
        for track in active:
            if track.merged_into is not None or hour >= track.opened_window + horizon:
                track.forget_words()  # no more joins by words (a backfill keeps the track)
                continue
            profiles = self.text_profiles(track, hour)
            if not profiles:
                continue
            opened_now = track.alarm is not None and track.opened_window == hour
            lo, hi = (hour - EARLY, hour + HOUR) if opened_now else (hour - CONTENT_DELAY, hour - CONTENT_DELAY + HOUR)
            about = track.problem_entities
            # A complaint naming another merchant, error code or version than the one the incident is about is
            # another problem however alike its words (two merchants' bursts told in one template).
            candidates = _by_profile(profiles, (it for it in self.source.items(lo, hi)
                                                if self.incident_of(it) is None and _about(it, about)))
            for key, items in candidates.items():
                scores = profiles[key].excess(self.vectors(items), margin, near)
                for it, score in zip(items, scores.tolist(), strict=True):
                    if score >= 0 and (it.id not in best
                                       or (score, -track.id) > (best[it.id][0], -best[it.id][1].id)):
                        best[it.id] = (score, track, it)
        for _, track, it in sorted(best.values(), key=lambda b: (b[1].id, b[2].at, b[2].id)):
            if self.link(track, [it]):
                track.by_words.add(it.id)
                touched.add(track.id)

    def vectors(self, items: Sequence[Item]) -> Any:
        """The items' text profiles (complaints.detect.profile.vectors), each made once per replay hour and kept as
        rows of one matrix (stacking single rows cost more than making them)."""
        missing = list({it.id: it for it in items if it.id not in self._rows}.values())
        if missing:
            made = vectors([it.skeleton for it in missing])
            first = 0 if self._vectors is None else self._vectors.shape[0]
            self._vectors = made if self._vectors is None else sparse.vstack([self._vectors, made], format="csr")
            self._rows.update((it.id, first + k) for k, it in enumerate(missing))
        return self._vectors[[self._rows[it.id] for it in items]]

    def week(self, track: Track, hour: datetime) -> dict[str | None, list[str]]:
        """A sample of the skeletons of the incident's everyday complaints, by category and (None) of all: those no
        incident holds from a week to EARLY before it opened, as far back as this replay still reads; a category
        with too few has none. Read once per incident."""
        if track.week is None:
            texts: dict[str | None, list[str]] = defaultdict(list)
            for it in self.week_before(track, hour, EVERYDAY_GAP):
                if self.incident_of(it) is None:
                    texts[it.category].append(it.skeleton)
                    texts[None].append(it.skeleton)
            track.week = {c: spread(t) for c, t in texts.items() if len(t) >= MIN_EVERYDAY}
        return track.week

    def sides(self, track: Track, hour: datetime, category: str | None,
              others: frozenset[str] | None) -> tuple[Any, Any] | None:
        """The everyday side of a profile judging a category: that category's everyday complaints and, across, each
        of the incident's other categories' (a complaint must read more like the incident than like any of them:
        the everyday complaints of the incident's own categories filed under another are no part of it). None
        when the judged category has too few."""

        def everyday(c: str | None) -> Any:
            if c not in track.everyday:
                texts = self.week(track, hour).get(c)
                track.everyday[c] = vectors(texts) if texts else None
            return track.everyday[c]

        judged = everyday(category)
        if judged is None:
            return None
        return everyday_sides([judged, *(x for c in sorted(others or ()) if (x := everyday(c)) is not None)])

    def text_profiles(self, track: Track, hour: datetime) -> dict[str | None, Profile]:
        """The incident's text profiles whose words are distinctive, by the category they judge: one per category of
        its (one for all when it spans every category), so that a merged surge of ordinary complaints of another
        category (a busy transfer-delay hour beside an outage) neither blurs the words of its first burst nor
        borrows them. A crisis's complaints are classified in several categories (an outage's stuck withdrawal is
        a transfer delay): with detection.yaml content_across_categories, a category without a distinctive profile
        of its own is judged across, by the incident's complaints of its categories that have one (an ordinary surge
        merged in lends none) against the everyday ones of the judged category and of each category of the
        incident's complaints (sides): a transfer told in the outage's words joins, one told as every day does not,
        nor an everyday fault the classifier filed as a transfer.
        Each made from the complaints its signature and alarms brought in (never from those it took in by their
        words), again when they grew by a tenth (up to the sample) or its burst changed; its burst: those of them
        received (by their received time) before surges.related_hours after it was detected; its everyday side from
        the other complaints of the judged category from a week to EARLY (12 hours) before it opened, as far back
        as this replay still reads, sampled across that week."""
        own = track.own()
        categories = track.categories()
        keys: list[Key] = [(None, None, None)] if categories is None else [(c, None, None) for c in sorted(categories)]
        out: dict[str | None, Profile] = {}
        rebuilt = False

        def judge(key: Key) -> None:
            nonlocal rebuilt
            category, lenders, _ = key
            mine = [it for it in own if category is None or (it.category == category if lenders is None
                                                              else it.category in lenders)]
            made, changed = self._profile(track, hour, key, mine)
            rebuilt = rebuilt or (changed and lenders is None)
            if made is not None and made.distinctive(self.cfg.content_margin, self.cfg.neighbour_margin):
                out.setdefault(category, made)

        for key in keys:
            judge(key)
        if categories is not None and self.cfg.content_across_categories and out:
            # Judged across: the categories whose own profile is distinctive lend their complaints; every category
            # of the incident's complaints lends its everyday side.
            lenders, of_own = frozenset(c for c in out if c is not None), frozenset(it.category for it in own)
            keys += [(c, lenders, of_own - {c}) for c in sorted(k for k in self.week(track, hour) if k is not None)
                     if c not in lenders]
            for key in keys[len(categories):]:
                judge(key)
        track.text_profiles = {k: p for k, p in track.text_profiles.items() if k in keys}
        if rebuilt:
            track.problem_entities = about(entity_shares(own[:PROFILE_SAMPLE], None), self.cfg.merge_share)
        return out

    def _profile(self, track: Track, hour: datetime, key: Key, mine: list[Item]) -> tuple[Profile | None, bool]:
        """The profile of one key of the incident's from these members (made again when they grew by a tenth, up to
        the sample, or its burst changed), and whether it was (re)made or is still waiting for members."""
        category, _, sides = key
        burst_end = track.detected_at + timedelta(hours=self.cfg.surges.related_hours)
        burst = [it for it in mine if it.at < burst_end][:PROFILE_SAMPLE]
        cached = track.text_profiles.get(key)
        if cached is None and len(mine) < MIN_MEMBERS:
            return None, True  # too few yet (its entities are made again every hour until it has one)
        if cached is not None and not (cached.members < PROFILE_SAMPLE and len(mine) >= 1.1 * cached.members) and (
                cached.burst == len(burst)):
            return cached, False
        base = self.sides(track, hour, category, sides) if cached is None else (cached.everyday, cached.everyday_x)
        # The members' vectors are made once an hour for all the profiles (self.vectors).
        made = None if base is None else profile(self.vectors(mine[:PROFILE_SAMPLE]),
                                                 self.vectors(burst) if burst else None, base)
        if made is not None:
            track.text_profiles[key] = cached = made
        return cached, True

    def target(self, alarm: Alarm, active: list[Track]) -> Track | None:
        """The incident an alarm's members join: the active one of its signature, or a new one (added to active);
        None when the alarm adds nothing (see route, and a whole category's surge already explained or over)."""
        if alarm.group.kind == "any" and self.explained(alarm):
            return None
        by_signature = next((t.id for t in active if alarm.group.signature in t.signatures), None)
        links = {it.id: i for it in alarm.members if (i := self.incident_of(it)) is not None}
        action, incident_id = route(alarm, by_signature, links, {t.id for t in active})
        if action in ("absorbed", "skip"):
            return None
        if action == "grow":
            track = self.by_id[incident_id]  # type: ignore[index]
            # A whole category's surge adds members only while the surge itself lasts: a longer window than the
            # one it was found in would still hold it hours later, and bring in the ordinary complaints received
            # since (a surge merged into another incident: its shortest window).
            if alarm.group.kind == "any":
                found_in = track.opening_hours if track.group == alarm.group else self.cfg.surges.min_window_hours
                if alarm.window.hours > (found_in or 0):
                    return None
            return track
        track = self.opener(alarm)
        if track.id in self.by_id:
            track = self.by_id[track.id]
            if track.merged_into is not None:  # a re-run: its members went to the other incident
                return None
        else:
            self.by_id[track.id] = track
            self.tracks.append(track)
            self.member_of.update((i, track.id) for i in track.members)
        active.append(track)
        return track

    def explained(self, alarm: Alarm) -> bool:
        """A whole category's surge whose users outside incidents (those an alarm of this hour just linked
        included) no longer reach its minimum ratio: the burst of a problem in that category, already found."""
        free = {it.user for it in alarm.members if self.incident_of(it) is None}
        return len(free) < self.cfg.surges.min_ratio * alarm.baseline.expected

    def merge_related(self, hour: datetime, active: list[Track], touched: set[int]) -> None:
        """Merge every younger active incident into an older one that is the same problem (see
        complaints.detect.merge), when one of the two changed in this hour."""
        recent: list[Item] | None = None

        def background() -> list[Item]:
            nonlocal recent
            if recent is None:
                recent = [it for it in self.source.items(hour + HOUR - timedelta(days=1), hour + HOUR)
                          if self.incident_of(it) is None]
            return recent

        while True:
            live = sorted((t for t in active if t.merged_into is None and not t.pinned),
                          key=lambda t: (t.opened_window, t.id))
            pair = None
            for n, older in enumerate(live):
                for younger in live[n + 1:]:
                    if older.id not in touched and younger.id not in touched:
                        continue
                    evidence = related(self.cfg, list(older.members.values()), list(younger.members.values()),
                                       background, lambda o=older, y=younger: (o.phrases(), y.phrases()),
                                       (older.detected_at, younger.detected_at),
                                       sorted({g.category for t in (older, younger) for g in (t.group, *t.extra)
                                               if g.kind == "any"}),
                                       (lambda o=older: self.week_before(o, hour)) if older.surged else None,
                                       lambda o=older, y=younger: self.reads_like(o, y, hour))
                    if evidence:
                        pair = (older, younger, evidence)
                        break
                if pair:
                    break
            if pair is None:
                return
            self.absorb(*pair, hour=hour)
            touched.add(pair[0].id)

    def reads_like(self, older: Track, younger: Track, hour: datetime) -> float:
        """The share of the younger incident's own complaints (those its signature and alarms brought in) that
        would join the older by their words, while the older still takes complaints so (content_hours)."""
        margin, near = self.cfg.content_margin, self.cfg.neighbour_margin
        own = younger.own()
        if (margin is None and near is None) or not own or hour >= older.opened_window + timedelta(
                hours=self.cfg.content_hours):
            return 0.0
        profiles = self.text_profiles(older, hour)
        about = older.problem_entities
        passed = sum(int((profiles[key].excess(self.vectors(items), margin, near) >= 0).sum())
                     for key, items in _by_profile(profiles, (it for it in own if _about(it, about))).items())
        return passed / len(own)

    def week_before(self, track: Track, hour: datetime, gap: timedelta = timedelta(0)) -> list[Item]:
        """The complaints of the week before the incident opened (up to `gap` before it), as far back as this
        replay still reads."""
        lo, hi = max(track.opened_window - EVERYDAY_DAYS, hour - lookback(self.cfg)), track.opened_window - gap
        return self.source.items(lo, hi) if lo < hi else []

    def absorb(self, into: Track, other: Track, evidence: list[str], hour: datetime, note: str | None = None) -> None:
        """Make other's members into's, keep other's signature and evidence in into's reason."""
        for i, it in other.members.items():
            into.members[i] = it
            self.member_of[i] = into.id
        into.by_words |= other.by_words  # as a later run reads them (joined_by_words): never the incident's own
        lasts = [t for t in (into.last, other.last) if t is not None]
        into.last = max(lasts) if lasts else None
        into.extra += [other.group, *other.extra]
        into.merged.append({
            "incident_id": other.id, "signature": other.signature, "anchor_text": other.group.anchor,
            "at": (hour + HOUR).isoformat(), "evidence": evidence, **({"note": note} if note else {}),
            "extra": [{"signature": g.signature, "anchor_text": g.anchor} for g in other.extra],
            **({"reason": other.alarm.reason(self.cfg.top_phrases)} if other.alarm else {}),
        })
        if LEVELS.index(other.severity) > LEVELS.index(into.severity):
            into.severity = other.severity
        other.members, other.merged_into, other.active = {}, into.id, False
        other.forget_words()
        self.merges.append((other.id, into.id))

    def link(self, track: Track, items: Iterable[Item]) -> int:
        """Make the items that belong to no incident yet members of this one; how many joined."""
        joined = 0
        for it in items:
            if self.incident_of(it) is None:
                self.member_of[it.id] = track.id
                track.members[it.id] = it
                track.joined.append(it.id)
                track.last = it.at if track.last is None else max(track.last, it.at)
                joined += 1
        return joined


@dataclass
class DetectSummary:
    opened: list[int] = field(default_factory=list)
    grown: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)
    linked: int = 0
    hours: int = 0


class Detector:
    """Replays hours in order against the database: reads each hour once, writes links and figures at the end."""

    def __init__(self, session: Session, cfg: DetectionConfig, taxonomy: TaxonomyConfig) -> None:
        self.session, self.cfg, self.taxonomy = session, cfg, taxonomy
        self.source = DbSource(session, frozenset(cfg.date_only_sources))
        self.summary = DetectSummary()

    def run(self, hours: Iterable[datetime], progress: Progress | None = None) -> DetectSummary:
        ordered = sorted(set(hours))
        if ordered:
            self.session.flush()
            self.source.until = ordered[-1] + HOUR
            self.source.learn_frame(ordered[0], self.cfg.frame_share)
            replay = Replay(self.cfg, self.source, self._tracks(ordered[0], ordered[-1]), self._open)
            for n, hour in enumerate(ordered):
                if progress and n % PROGRESS_EVERY == 0:
                    progress(n, len(ordered))
                for track, went_up in replay.hour(hour):
                    # An incident opened in this run is announced once, with its final severity.
                    if went_up and track.id not in self.summary.opened + self.summary.escalated:
                        self.summary.escalated.append(track.id)
                    if track.id not in self.summary.opened and track.id not in self.summary.grown:
                        self.summary.grown.append(track.id)
            self._write(replay)
        if progress:
            progress(len(ordered), len(ordered))
        self.summary.hours = len(ordered)
        return self.summary

    def _tracks(self, first: datetime, last: datetime, ids: Iterable[int] | None = None) -> list[Track]:
        """Incidents that may be active during [first, last + 1h) (or the given ones), with their members."""
        query = select(Incident).order_by(Incident.opened_window, Incident.id)
        if ids is None:
            query = query.where(Incident.opened_window <= last,
                                Incident.status.in_(ACTIVE) | (Incident.resolved_at > first + HOUR),
                                Incident.last_complaint_at >= first - timedelta(hours=self.cfg.quiet_hours))
        else:
            query = query.where(Incident.id.in_(list(ids)))
        tracks = {i.id: Track(id=i.id, group=group_of(i), opened_window=i.opened_window, severity=i.severity,
                              active=i.status in ACTIVE, resolved_at=i.resolved_at, last=i.last_complaint_at,
                              extra=[parse_group(m["signature"], m.get("anchor_text"))
                                     for r in i.reason.get("merged", []) for m in (r, *r.get("extra", []))],
                              merged_into=i.reason.get("merged_into"), pinned=bool(i.reason.get("pinned")),
                              window_hours=i.reason.get("window_hours"))
                  for i in self.session.execute(query).scalars()}
        columns = [getattr(Complaint, c) for c in ITEM_COLUMNS]
        for condition in in_conditions(self.session, Complaint.incident_id, tracks):
            for row in self.session.execute(select(*columns).where(condition)
                                            .order_by(Complaint.received_at, Complaint.id)):
                tracks[row.incident_id].members[row.id] = self.source.item(row)
        return list(tracks.values())

    def _merges(self, replay: Replay) -> None:
        """The replay's merges, in order: complaints moved, evidence in the surviving incident's reason and
        history; an incident opened and merged in this run is dropped before anyone heard of it."""
        if not replay.merges:
            return
        for absorbed, into in replay.merges:
            record = next(m for m in replay.by_id[into].merged if m["incident_id"] == absorbed)
            drop = absorbed in self.summary.opened
            record_merge(self.session, self.session.get_one(Incident, into), self.session.get_one(Incident, absorbed),
                         record, at=datetime.fromisoformat(str(record["at"])), drop=drop)
            if drop:
                for ids in (self.summary.opened, self.summary.grown, self.summary.escalated):
                    if absorbed in ids:
                        ids.remove(absorbed)
        for obj in list(self.session.identity_map.values()):
            if isinstance(obj, Complaint):  # a caller's objects show the move on next access
                self.session.expire(obj, ["incident_id"])

    def _open(self, alarm: Alarm) -> Track:
        """The incident of (signature, hour): new, or the one an earlier run made."""
        g = alarm.group
        category = g.category if g.category != ANY_CATEGORY else majority(alarm.members)
        label = self.taxonomy.categories.get(category) or self.taxonomy.categories[self.taxonomy.fallback]
        reason = alarm.reason(self.cfg.top_phrases)
        phrases = reason["top_phrases"]
        entity = (f"“{phrases[0]}”" if phrases else "") if g.kind == "text" else "" if g.kind == "any" else g.value
        title = f"{label.label_zh} · {label.label_en}" + (f" — {entity}" if entity else "")
        inserted = insert_ignore(self.session, Incident, [{
            "signature": g.signature[:300],
            "opened_window": alarm.hour,
            "category": category,
            "title": title[:500],
            "severity": "P3",
            "status": "open",
            "detected_at": alarm.hour + HOUR,
            "first_complaint_at": alarm.members[0].at,
            "last_complaint_at": alarm.members[-1].at,
            "user_count": alarm.observed,
            "complaint_count": len(alarm.members),
            "reason": reason,
            "anchor_text": g.anchor,
            "history": [],
            "updated_at": utcnow(),
        }], returning=(Incident.id,))
        if not inserted:
            incident_id = self.session.execute(select(Incident.id).where(
                Incident.signature == g.signature[:300], Incident.opened_window == alarm.hour)).scalar_one()
            return self._tracks(alarm.hour, alarm.hour, [incident_id])[0]
        self.summary.opened.append(inserted[0].id)
        return Track(id=inserted[0].id, group=g, opened_window=alarm.hour, alarm=alarm, last=alarm.members[-1].at)

    def _write(self, replay: Replay) -> None:
        """Links as set-based updates (never taking a complaint from another incident), the merges, then the
        figures."""
        tracks = replay.tracks
        loaded = {obj.id: obj for obj in self.session.identity_map.values() if isinstance(obj, Complaint)}
        for track in tracks:
            for condition in in_conditions(self.session, Complaint.id, track.joined):
                self.session.execute(
                    update(Complaint).where(condition, Complaint.incident_id.is_(None))
                    .values(incident_id=track.id).execution_options(synchronize_session=False))
            for condition in in_conditions(self.session, Complaint.id, sorted(track.by_words)):
                self.session.execute(update(Complaint).where(condition, Complaint.incident_id == track.id)
                                     .values(joined_by_words=True).execution_options(synchronize_session=False))
            for i in track.joined:
                if i in loaded:  # a caller's objects show the link on next access
                    self.session.expire(loaded[i], ["incident_id"])
            self.summary.linked += len(track.joined)
        self._merges(replay)
        for track in tracks:
            f = track.figures
            if f is None or track.merged_into is not None:
                continue
            incident = self.session.get_one(Incident, track.id)
            incident.user_count, incident.complaint_count = f.user_count, f.complaint_count
            incident.first_complaint_at, incident.last_complaint_at = f.first_complaint_at, f.last_complaint_at
            incident.amount_at_risk, incident.severity = f.amount_at_risk, f.severity
            if track.severity_reasons is not None:
                incident.reason = {**incident.reason, "severity_reasons": track.severity_reasons}
        self.session.flush()


def parse_group(sig: str, anchor: str | None) -> Group:
    """The group of a stored signature (a split-off incident's is its origin's)."""
    category, entity = sig.split(SPLIT_MARK, 1)[0].removeprefix("category=").split("|", 1)
    kind, _, value = entity.partition("=")
    return Group(category, kind, value, anchor)


def majority(items: Iterable[Item]) -> str:
    """The most common category of these items (the first seen among equals)."""
    return Counter(it.category for it in items).most_common(1)[0][0]


def group_of(incident: Incident) -> Group:
    """The group a stored incident was opened for, rebuilt from its signature and anchor text."""
    return parse_group(incident.signature, incident.anchor_text)


def detect_pending(session: Session, cfg: DetectionConfig, taxonomy: TaxonomyConfig,
                   progress: Progress | None = None) -> DetectSummary:
    """The detection stage: the hours of every processed complaint that detection has not seen yet, then those
    complaints marked detected in the same transaction as the links (a run that died before this point
    leaves them to the next run)."""
    pending = session.execute(
        select(Complaint.id, Complaint.received_at, Complaint.duplicate_of_id, Complaint.category)
        .where(Complaint.processed_at.is_not(None), Complaint.detected_at.is_(None))
    ).all()
    hours = {floor_hour(r.received_at) for r in pending if r.duplicate_of_id is None and r.category}
    summary = Detector(session, cfg, taxonomy).run(hours, progress)
    now = utcnow()
    for condition in in_conditions(session, Complaint.id, [r.id for r in pending]):
        session.execute(update(Complaint).where(condition).values(detected_at=now)
                        .execution_options(synchronize_session=False))
    return summary


def detect_window(
    session: Session, cfg: DetectionConfig, taxonomy: TaxonomyConfig, since: datetime, until: datetime
) -> DetectSummary:
    """Backfill / on demand: replay every hour of [since, until) that received complaints."""
    received = session.execute(
        select(Complaint.received_at).where(
            Complaint.duplicate_of_id.is_(None), Complaint.category.is_not(None),
            Complaint.received_at >= since, Complaint.received_at < until)
    ).scalars()
    return Detector(session, cfg, taxonomy).run({floor_hour(t) for t in received})
