"""Detect collective complaints (集体投诉): bursts of distinct users on one problem signature.

For each hour in which complaints arrived, every signature (category plus one entity, see
complaints.signatures) that has a complaint in that hour is tested: distinct users in each window
(shortest first) against the signature's own same-hour-of-week baseline (complaints.baseline).
An alarm opens an incident keyed (signature, hour) or grows the active one; complaints of an
active incident's signature join it. Hours are replayed in order, and every window ends at the
end of its hour, so a backfill over a past window gives the incidents the hourly runs gave, and
re-runs create nothing twice (the unique key absorbs them).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from rapidfuzz import fuzz, process
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from complaints.baseline import HOUR, Baseline, baseline, tail_probability
from complaints.config import BurstWindow, DetectionConfig, TaxonomyConfig
from complaints.db import insert_ignore
from complaints.incidents import ACTIVE, refresh
from complaints.models import Complaint, Incident, utcnow
from complaints.signatures import Item, item_of, signature, text_key, top_phrases

MIN_TEXT = 8  # characters of skeleton: one- or two-word texts ("bad app") are no shared description


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


class ItemSource:
    """Canonical, classified complaints as Items, by received time; sorted by (at, id)."""

    history_from: datetime

    def items(self, lo: datetime, hi: datetime) -> list[Item]:
        raise NotImplementedError


class MemorySource(ItemSource):
    def __init__(self, items: Iterable[Item]) -> None:
        self.all = sorted(items, key=lambda it: (it.at, it.id))
        self.times = [it.at for it in self.all]
        self.history_from = self.all[0].at if self.all else utcnow()

    def items(self, lo: datetime, hi: datetime) -> list[Item]:
        return self.all[bisect.bisect_left(self.times, lo):bisect.bisect_left(self.times, hi)]


class DbSource(ItemSource):
    """Reads whole hours once and keeps them: an hourly replay asks for the same hours many times."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.hours: dict[datetime, list[Item]] = {}
        first = session.execute(
            select(func.min(Complaint.received_at)).where(Complaint.duplicate_of_id.is_(None))
        ).scalar_one()
        self.history_from = first or utcnow()

    def items(self, lo: datetime, hi: datetime) -> list[Item]:
        start = floor_hour(lo)
        missing = [h for h in hour_range(start, hi) if h not in self.hours]
        if missing:
            for h in missing:
                self.hours[h] = []
            for c in self.session.execute(
                select(Complaint)
                .where(Complaint.duplicate_of_id.is_(None), Complaint.category.is_not(None),
                       Complaint.received_at >= missing[0], Complaint.received_at < missing[-1] + HOUR)
                .order_by(Complaint.received_at, Complaint.id)
            ).scalars():
                h = floor_hour(c.received_at)
                if h in missing:
                    self.hours[h].append(item_of(c))
        return [it for h in hour_range(start, hi) for it in self.hours[h] if lo <= it.at < hi]


def floor_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def hour_range(lo: datetime, hi: datetime) -> list[datetime]:
    out, h = [], floor_hour(lo)
    while h < hi:
        out.append(h)
        h += HOUR
    return out


def groups_of(cfg: DetectionConfig, current: list[Item], recent: list[Item]) -> list[tuple[Group, list[Item]]]:
    """Signatures of the complaints in the evaluated hour, strongest entity first, with their recent members."""
    by_category: dict[str, list[Item]] = {}
    by_entity: dict[tuple[str, str, str], list[Item]] = {}
    for it in recent:
        by_category.setdefault(it.category, []).append(it)
        for kind, value in it.entities:
            by_entity.setdefault((it.category, kind, value), []).append(it)

    def similar(category: str, skel: str) -> list[Item]:
        peers = by_category[category]
        hits = process.extract(skel, [p.skeleton for p in peers], scorer=fuzz.ratio,
                               score_cutoff=cfg.text_similarity, limit=None)
        return [peers[i] for i in sorted(i for _, _, i in hits if len(peers[i].skeleton) >= MIN_TEXT)]

    found: dict[str, tuple[int, Group, list[Item]]] = {}
    for it in current:
        for rank, kind in enumerate(cfg.entities):
            if kind == "any":
                g = Group(it.category, "any", "*")
                found.setdefault(g.signature, (rank, g, by_category[it.category]))
            elif kind == "text" and len(it.skeleton) >= MIN_TEXT:
                anchor = similar(it.category, it.skeleton)[0].skeleton  # earliest similar: stable over the hour
                g = Group(it.category, "text", text_key(anchor), anchor)
                if g.signature not in found:
                    found[g.signature] = (rank, g, similar(it.category, anchor))
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
    current = [it for it in recent if it.at >= hour]
    alarms = []
    for g, matching in groups_of(cfg, current, recent):
        for w in windows:
            members = [it for it in matching if it.at >= end - timedelta(hours=w.hours)]
            observed = len({it.user for it in members})
            if observed < w.min_users:
                continue

            def users(lo: datetime, hi: datetime, g: Group = g) -> int:
                return len({it.user for it in source.items(lo, hi) if g.matches(it, cfg.text_similarity)})

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
class DetectSummary:
    opened: list[int] = field(default_factory=list)
    grown: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)
    linked: int = 0
    hours: int = 0


class Detector:
    """Replays hours in order against the database: alarms, incidents, joins."""

    def __init__(self, session: Session, cfg: DetectionConfig, taxonomy: TaxonomyConfig) -> None:
        self.session, self.cfg, self.taxonomy = session, cfg, taxonomy
        self.source = DbSource(session)
        self.summary = DetectSummary()

    def run(self, hours: Iterable[datetime]) -> DetectSummary:
        for hour in sorted(set(hours)):
            self.hour(hour)
        self.session.flush()
        return self.summary

    def hour(self, hour: datetime) -> None:
        self.summary.hours += 1
        end = hour + HOUR
        active = self._active(hour)
        touched: set[int] = set()
        # First, complaints of this hour join a young incident whose signature they match (oldest first), so an
        # alarm on another entity of the same burst sees them as members and is absorbed. Later on, only
        # alarms add members: a broad signature (a whole merchant) must not swallow its everyday complaints.
        arrived = self.source.items(hour, end)
        linked = self._links([it.id for it in arrived])
        young = [i for i in active if i.opened_window >= hour - timedelta(hours=self.cfg.join_hours)]
        for it in arrived:
            if it.id in linked:
                continue
            for incident in young:
                if self._group(incident).matches(it, self.cfg.text_similarity) and self._link(incident, [it]):
                    touched.add(incident.id)
                    break
        for alarm in find_alarms(self.cfg, hour, self.source):
            by_signature = next((i.id for i in active if i.signature == alarm.group.signature), None)
            links = self._links([it.id for it in alarm.members])
            action, incident_id = route(alarm, by_signature, links, {i.id for i in active})
            if action in ("absorbed", "skip"):
                continue
            if action == "open":
                incident, new = self._open(alarm)
                active.append(incident)
                if new:
                    self.summary.opened.append(incident.id)
            else:
                incident = next(i for i in active if i.id == incident_id)
            if self._link(incident, alarm.members):
                touched.add(incident.id)
        for incident in active:
            if incident.id in touched:
                # An incident opened in this run is announced once, with its final severity.
                escalated = refresh(self.session, self.cfg.severity, incident)
                if escalated and incident.id not in self.summary.opened + self.summary.escalated:
                    self.summary.escalated.append(incident.id)
                if incident.id not in self.summary.opened and incident.id not in self.summary.grown:
                    self.summary.grown.append(incident.id)

    def _active(self, hour: datetime) -> list[Incident]:
        """Incidents active as of this hour (a replay sees them as the live run did)."""
        return list(self.session.execute(
            select(Incident)
            .where(Incident.opened_window <= hour,
                   Incident.status.in_(ACTIVE) | (Incident.resolved_at > hour + HOUR),
                   Incident.last_complaint_at >= hour - timedelta(hours=self.cfg.quiet_hours))
            .order_by(Incident.opened_window, Incident.id)
        ).scalars())

    def _links(self, ids: list[int]) -> dict[int, int]:
        """complaint id -> incident id, for those of ids already in an incident."""
        self.session.flush()
        return dict(self.session.execute(
            select(Complaint.id, Complaint.incident_id).where(Complaint.id.in_(ids), Complaint.incident_id.is_not(None))
        ).tuples().all())

    def _group(self, incident: Incident) -> Group:
        kind, _, value = incident.signature.split("|", 1)[1].partition("=")
        return Group(incident.category, kind, value, incident.anchor_text)

    def _link(self, incident: Incident, members: Iterable[Item]) -> int:
        ids = [it.id for it in members]
        joined = 0
        for c in self.session.execute(
            select(Complaint).where(Complaint.id.in_(ids), Complaint.incident_id.is_(None))
        ).scalars():
            c.incident_id = incident.id
            joined += 1
        self.summary.linked += joined
        return joined

    def _open(self, alarm: Alarm) -> tuple[Incident, bool]:
        """The incident of (signature, hour), and whether this call created it (a re-run finds it)."""
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
        incident = self.session.execute(
            select(Incident).where(Incident.signature == g.signature[:300], Incident.opened_window == alarm.hour)
        ).scalar_one()
        return incident, bool(inserted)


def detect(
    session: Session, cfg: DetectionConfig, taxonomy: TaxonomyConfig, touched: list[Complaint]
) -> DetectSummary:
    """Evaluate the hours in which the newly processed canonical complaints were received."""
    hours = {floor_hour(c.received_at) for c in touched if c.duplicate_of_id is None and c.category}
    return Detector(session, cfg, taxonomy).run(hours)


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
