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
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from rapidfuzz import fuzz, process
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from complaints.core.bulk import in_conditions
from complaints.core.config import BurstWindow, DetectionConfig, TaxonomyConfig
from complaints.core.db import insert_ignore
from complaints.core.models import Complaint, Incident, utcnow
from complaints.detect.baseline import HOUR, Baseline, baseline, tail_probability
from complaints.detect.incidents import ACTIVE, LEVELS, Figures, figures
from complaints.detect.signatures import ITEM_COLUMNS, Item, item_of, signature, text_key, top_phrases

MIN_TEXT = 8  # characters of skeleton: one- or two-word texts ("bad app") are no shared description
PREFETCH = timedelta(hours=48)  # hours read from the database per query, ahead of the one asked for
NO_USERS: frozenset[str] = frozenset()
PROGRESS_EVERY = 168  # hours replayed between progress calls (a week)
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
        if it.category != self.category:
            return False
        if self.kind == "any":
            return True
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

    def reason(self, top: int) -> dict[str, object]:
        end = self.hour + HOUR
        return {
            "rule": "Poisson tail of distinct users vs own same-hour-of-week baseline",
            "signature": self.group.signature,
            "window_hours": self.window.hours,
            "window_start": (end - timedelta(hours=self.window.hours)).isoformat(),
            "window_end": end.isoformat(),
            "observed_users": self.observed,
            "expected_users": round(self.baseline.expected, 3),
            "baseline": self.baseline.method,
            "p_value": float(f"{self.p_value:.3g}"),
            "alpha": self.window.alpha,
            "min_users": self.window.min_users,
            "top_phrases": top_phrases(list(self.members), top),
        }


class HourBucket:
    """The canonical complaints received in one hour, with each group's distinct users."""

    def __init__(self, items: list[Item]) -> None:
        self.items = items  # by (at, id)
        self.by_category: dict[str, list[Item]] = defaultdict(list)
        self._users: dict[tuple[str, str, str], set[str]] = defaultdict(set)
        for it in items:
            self.by_category[it.category].append(it)
            self._users[(it.category, "any", "*")].add(it.user)
            for kind, value in it.entities:
                self._users[(it.category, kind, value)].add(it.user)
        self._text_users: dict[tuple[str, str], frozenset[str]] = {}

    def users(self, g: Group, similarity: float) -> frozenset[str] | set[str]:
        if g.kind != "text":
            return self._users.get((g.category, g.kind, g.value), NO_USERS)
        key = (g.category, g.anchor or "")
        if key not in self._text_users:
            peers = self.by_category.get(g.category, [])
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
        self._counts: dict[datetime, dict[tuple[Group, datetime], int]] = defaultdict(dict)

    def bucket(self, hour: datetime) -> HourBucket:
        raise NotImplementedError

    def items(self, lo: datetime, hi: datetime) -> list[Item]:
        return [it for h in hour_range(lo, hi) for it in self.bucket(h).items]

    def users(self, g: Group, similarity: float, lo: datetime, hi: datetime) -> int:
        """Distinct users of the group received in [lo, hi)."""
        counts = self._counts[hi]
        if (g, lo) not in counts:
            counts[g, lo] = len(set().union(*(self.bucket(h).users(g, similarity) for h in hour_range(lo, hi))))
        return counts[g, lo]

    def evict(self, before: datetime) -> None:
        """Forget what only hours before this needed."""
        for end in [end for end in self._counts if end < before]:
            del self._counts[end]


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

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
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
            by_hour[floor_hour(row.received_at)].append(item_of(row))
        for h in hour_range(start, end):
            self.buckets[h] = HourBucket(by_hour[h]) if h in by_hour else EMPTY_HOUR

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
            by_entity[(it.category, kind, value)].append(it)
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
                        g = Group(it.category, k, v)
                        found.setdefault(g.signature, (rank, g, by_entity[(it.category, k, v)]))
    return [(g, members) for _, g, members in sorted(found.values(), key=lambda r: (r[0], r[1].signature))]


def find_alarms(cfg: DetectionConfig, hour: datetime, source: ItemSource) -> list[Alarm]:
    """Signatures whose distinct users in some window ending at hour+1h are improbably many."""
    end = hour + HOUR
    windows = cfg.windows()
    recent = source.items(end - timedelta(hours=windows[-1].hours), end)
    current = source.items(hour, end)
    alarms = []
    for g, matching in groups_of(cfg, current, recent):
        for w in windows:
            # matching is in received order
            members = matching[bisect.bisect_left(matching, end - timedelta(hours=w.hours), key=lambda it: it.at):]
            observed = len({it.user for it in members})
            if observed < w.min_users:
                continue

            def users(lo: datetime, hi: datetime, g: Group = g) -> int:
                return source.users(g, cfg.text_similarity, lo, hi)

            base = baseline(cfg, w, end, source.history_from, users)
            p = tail_probability(observed, base.expected)
            if p <= w.alpha:
                alarms.append(Alarm(g, hour, w, observed, base, p, tuple(members)))
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
    if len({it.user for it in alarm.members if it.id not in member_incident}) < alarm.window.min_users:
        return "skip", None
    return "open", None


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

    @property
    def signature(self) -> str:
        return self.group.signature

    @property
    def detected_at(self) -> datetime:
        return self.opened_window + HOUR

    @property
    def users(self) -> set[str]:
        return {m.user for m in self.members.values()}

    def active_at(self, hour: datetime, quiet: timedelta) -> bool:
        """Active as of this hour (a replay sees it as the live run did)."""
        return (self.opened_window <= hour
                and (self.active or (self.resolved_at is not None and self.resolved_at > hour + HOUR))
                and self.last is not None and self.last >= hour - quiet)


# Makes (or finds, on a re-run) the incident an alarm opens.
Opener = Callable[[Alarm], Track]


class Replay:
    """Hour-by-hour detection: joins, alarms, incidents opened and grown, severity; all in memory."""

    def __init__(self, cfg: DetectionConfig, source: ItemSource, tracks: list[Track], opener: Opener) -> None:
        self.cfg, self.source, self.opener = cfg, source, opener
        self.tracks = sorted(tracks, key=lambda t: (t.opened_window, t.id))
        self.by_id = {t.id: t for t in self.tracks}
        self.member_of = {i: t.id for t in self.tracks for i in t.members}

    def incident_of(self, it: Item) -> int | None:
        return self.member_of.get(it.id, it.incident_id)

    def hour(self, hour: datetime) -> list[tuple[Track, bool]]:
        """Detect in this hour; the incidents it touched, in their order, each with whether severity went up."""
        cfg, end = self.cfg, hour + HOUR
        self.source.evict(hour - lookback(cfg))
        active = [t for t in self.tracks if t.active_at(hour, timedelta(hours=cfg.quiet_hours))]
        touched: set[int] = set()
        # First, complaints of this hour join a young incident whose signature they match (oldest first), so an
        # alarm on another entity of the same burst sees them as members and is absorbed. Later on, only
        # alarms add members: a broad signature (a whole merchant) must not swallow its everyday complaints.
        young = [t for t in active if t.opened_window >= hour - timedelta(hours=cfg.join_hours)]
        for it in self.source.items(hour, end):
            if self.incident_of(it) is not None:
                continue
            for track in young:
                if track.group.matches(it, cfg.text_similarity) and self.link(track, [it]):
                    touched.add(track.id)
                    break
        for alarm in find_alarms(cfg, hour, self.source):
            by_signature = next((t.id for t in active if t.signature == alarm.group.signature), None)
            links = {it.id: i for it in alarm.members if (i := self.incident_of(it)) is not None}
            action, incident_id = route(alarm, by_signature, links, {t.id for t in active})
            if action in ("absorbed", "skip"):
                continue
            if action == "open":
                track = self.opener(alarm)
                if track.id in self.by_id:
                    track = self.by_id[track.id]
                else:
                    self.by_id[track.id] = track
                    self.tracks.append(track)
                    self.member_of.update((i, track.id) for i in track.members)
                active.append(track)
            else:
                track = self.by_id[incident_id]  # type: ignore[index]
            if self.link(track, alarm.members):
                touched.add(track.id)
        out = []
        for track in active:
            if track.id in touched:
                track.figures = figures(cfg.severity, track.group.category, track.severity,
                                        list(track.members.values()))
                went_up = LEVELS.index(track.figures.severity) > LEVELS.index(track.severity)
                track.severity = track.figures.severity
                track.severity_reasons = track.figures.severity_reasons or track.severity_reasons
                out.append((track, went_up))
        return out

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
        self.source = DbSource(session)
        self.summary = DetectSummary()

    def run(self, hours: Iterable[datetime], progress: Progress | None = None) -> DetectSummary:
        ordered = sorted(set(hours))
        if ordered:
            self.session.flush()
            self.source.until = ordered[-1] + HOUR
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
            self._write(replay.tracks)
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
                              active=i.status in ACTIVE, resolved_at=i.resolved_at, last=i.last_complaint_at)
                  for i in self.session.execute(query).scalars()}
        columns = [getattr(Complaint, c) for c in ITEM_COLUMNS]
        for condition in in_conditions(self.session, Complaint.incident_id, tracks):
            for row in self.session.execute(select(*columns).where(condition)
                                            .order_by(Complaint.received_at, Complaint.id)):
                tracks[row.incident_id].members[row.id] = item_of(row)
        return list(tracks.values())

    def _open(self, alarm: Alarm) -> Track:
        """The incident of (signature, hour): new, or the one an earlier run made."""
        g = alarm.group
        label = self.taxonomy.categories.get(g.category) or self.taxonomy.categories[self.taxonomy.fallback]
        reason = alarm.reason(self.cfg.top_phrases)
        phrases = reason["top_phrases"]
        entity = (f"“{phrases[0]}”" if phrases else "") if g.kind == "text" else "" if g.kind == "any" else g.value
        title = f"{label.label_zh} · {label.label_en}" + (f" — {entity}" if entity else "")
        inserted = insert_ignore(self.session, Incident, [{
            "signature": g.signature[:300],
            "opened_window": alarm.hour,
            "category": g.category,
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

    def _write(self, tracks: list[Track]) -> None:
        """Links as set-based updates (never taking a complaint from another incident), then the figures."""
        loaded = {obj.id: obj for obj in self.session.identity_map.values() if isinstance(obj, Complaint)}
        for track in tracks:
            for condition in in_conditions(self.session, Complaint.id, track.joined):
                self.session.execute(
                    update(Complaint).where(condition, Complaint.incident_id.is_(None))
                    .values(incident_id=track.id).execution_options(synchronize_session=False))
            for i in track.joined:
                if i in loaded:  # a caller's objects show the link on next access
                    self.session.expire(loaded[i], ["incident_id"])
            self.summary.linked += len(track.joined)
            f = track.figures
            if f is None:
                continue
            incident = self.session.get_one(Incident, track.id)
            incident.user_count, incident.complaint_count = f.user_count, f.complaint_count
            incident.first_complaint_at, incident.last_complaint_at = f.first_complaint_at, f.last_complaint_at
            incident.amount_at_risk, incident.severity = f.amount_at_risk, f.severity
            if track.severity_reasons is not None:
                incident.reason = {**incident.reason, "severity_reasons": track.severity_reasons}
        self.session.flush()


def group_of(incident: Incident) -> Group:
    """The group a stored incident was opened for, rebuilt from its signature and anchor text."""
    kind, _, value = incident.signature.split("|", 1)[1].partition("=")
    return Group(incident.category, kind, value, incident.anchor_text)


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
