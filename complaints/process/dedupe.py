"""Dedupe: link one user's resubmissions (same problem, any channel) to a canonical complaint.

Incremental: each new complaint is compared only with canonical complaints of the same person (contact
key, else customer reference) inside the window. Complaints with no person key (social media, anonymous
platforms) are matched by MinHash LSH over character n-grams, verified by a precise similarity, and only
inside one source and a short window: there, only a near-verbatim repost counts. Different users writing
the same words are NOT duplicates: that is a collective complaint (see detect).
"""

from __future__ import annotations

import re
import zlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any, Protocol

from rapidfuzz import fuzz
from rensa import RMinHash, RMinHashLSH
from sqlalchemy import select
from sqlalchemy.orm import Session

from complaints.core.bulk import in_conditions, rows_by_id, update_by_id
from complaints.core.config import DedupeSettings, KeylessDedupe
from complaints.core.db import insert_ignore
from complaints.core.models import Complaint, DuplicateLink, utcnow
from complaints.core.normalize import squeeze

DEFAULT = DedupeSettings()


@dataclass
class DedupeSummary:
    checked: int = 0
    exact: int = 0
    near: int = 0
    minhash: int = 0


class HasPerson(Protocol):
    contact_key: str | None
    customer_ref: str | None


def person_key(c: HasPerson) -> str | None:
    """Who a complaint is from: its contact key, else its customer reference, else None (unknown)."""
    if c.contact_key:
        return f"contact:{c.contact_key}"
    if c.customer_ref:
        return f"ref:{c.customer_ref}"
    return None


def partition(rows: Iterable[Any], parts: int) -> list[list[int]]:
    """Split complaint ids (rows with id, contact_key, customer_ref, source) into at most `parts` disjoint lists
    by a stable hash of the person key (keyless complaints: of the source). A resubmission and every complaint
    it can be matched with share that key, so dedupe and classify of each part give the single-part results."""
    out: list[list[int]] = [[] for _ in range(max(parts, 1))]
    for r in rows:
        key = person_key(r) or f"source:{r.source}"
        out[zlib.crc32(key.encode()) % len(out)].append(r.id)
    return [ids for ids in out if ids]


@dataclass(slots=True)
class Entry:
    """The columns of one complaint that dedupe reads and writes."""

    id: int
    source: str
    received_at: datetime
    channel: str
    contact_key: str | None
    customer_ref: str | None
    text_hash: str
    body: str
    channels: list[str]
    first_seen_at: datetime
    last_seen_at: datetime
    duplicate_of_id: int | None


ENTRY_COLUMNS = [getattr(Complaint, f.name) for f in fields(Entry)]
_NUMBER_RE = re.compile(r"\d{2,}")


def similarity(a: str, b: str, cutoff: float = 0) -> float:
    """0..100 for two squeezed texts: rapidfuzz ratio, or partial ratio when one text is the other plus a
    prefix or suffix ("再次投诉：...", "... please respond"). Texts whose numbers (amounts, order numbers)
    are all different score 0: the same words about another payment are another problem."""
    na, nb = set(_NUMBER_RE.findall(a)), set(_NUMBER_RE.findall(b))
    if na and nb and not na & nb:
        return 0.0
    score = fuzz.ratio(a, b, score_cutoff=cutoff)
    if min(len(a), len(b)) * 2 >= max(len(a), len(b)):
        score = max(score, fuzz.partial_ratio(a, b, score_cutoff=cutoff))
    return float(score)


def _canonical_since(session: Session, since: datetime, *conditions: Any) -> list[Entry]:
    """Stored canonical complaints, oldest first (the order candidates are tried in)."""
    return [Entry(*row) for row in session.execute(
        select(*ENTRY_COLUMNS)
        .where(*conditions, Complaint.duplicate_of_id.is_(None), Complaint.processed_at.is_not(None),
               Complaint.received_at >= since)
        .order_by(Complaint.received_at, Complaint.id)
    )]


@dataclass
class _Linker:
    summary: DedupeSummary
    squeezed: dict[int, str] = field(default_factory=dict)
    links: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[Entry] = field(default_factory=list)
    canonicals: dict[int, Entry] = field(default_factory=dict)

    def text(self, c: Entry) -> str:
        s = self.squeezed.get(c.id)
        if s is None:
            s = self.squeezed[c.id] = squeeze(c.body)
        return s

    def link(self, c: Entry, match: Entry, method: str, score: float) -> None:
        c.duplicate_of_id = match.id
        match.channels = sorted({*match.channels, c.channel})
        match.first_seen_at = min(match.first_seen_at, c.received_at)
        match.last_seen_at = max(match.last_seen_at, c.received_at)
        self.duplicates.append(c)
        self.canonicals[match.id] = match
        self.links.append({"complaint_id": c.id, "canonical_id": match.id, "method": method, "score": score})
        setattr(self.summary, method, getattr(self.summary, method) + 1)

    def write(self, session: Session) -> None:
        """Links, duplicates and their canonical complaints' channels and first/last seen, in three statements."""
        now = utcnow()
        table = Complaint.__table__
        insert_ignore(session, DuplicateLink.__table__, [lk | {"created_at": now} for lk in self.links])
        update_by_id(session, table, [{"_id": c.id, "duplicate_of_id": c.duplicate_of_id, "status": "duplicate",
                                       "updated_at": now} for c in self.duplicates])
        update_by_id(session, table, [{"_id": m.id, "channels": m.channels, "first_seen_at": m.first_seen_at,
                                       "last_seen_at": m.last_seen_at, "updated_at": now}
                                      for m in self.canonicals.values()])


def dedupe_ids(session: Session, ids: Iterable[int], config: DedupeSettings = DEFAULT) -> DedupeSummary:
    """Link duplicates among these (unprocessed, any order) complaints against canonical complaints."""
    new = [Entry(*row) for row in rows_by_id(session, ENTRY_COLUMNS, ids)]
    summary = DedupeSummary(checked=len(new))
    # Already linked (a crashed run got this far) stays linked.
    todo = sorted((c for c in new if c.duplicate_of_id is None), key=lambda c: (c.received_at, c.id))
    linker = _Linker(summary)
    new_ids = {c.id for c in new}
    keyed = [c for c in todo if person_key(c)]
    if keyed:
        _dedupe_keyed(session, keyed, new_ids, config, linker)
    keyless = [c for c in todo if not person_key(c)]
    if keyless and config.keyless.enabled:
        _dedupe_keyless(session, keyless, new_ids, config.keyless, linker)
    linker.write(session)
    return summary


def _dedupe_keyed(session: Session, keyed: list[Entry], new_ids: set[int], config: DedupeSettings,
                  linker: _Linker) -> None:
    window = timedelta(days=config.window_days)
    earliest = keyed[0].received_at - window
    pool: dict[str, list[Entry]] = defaultdict(list)
    contact_keys = {c.contact_key for c in keyed if c.contact_key}
    refs = {c.customer_ref for c in keyed if not c.contact_key and c.customer_ref}
    for column, values in ((Complaint.contact_key, contact_keys), (Complaint.customer_ref, refs)):
        for condition in in_conditions(session, column, values):
            for c in _canonical_since(session, earliest, condition):
                if c.id not in new_ids:
                    pool[person_key(c)].append(c)  # type: ignore[index]
    for c in keyed:
        key = person_key(c)
        assert key is not None
        match, method, score = _best_match(c, pool[key], window, config.near_threshold, linker)
        if match is None:
            pool[key].append(c)
        else:
            linker.link(c, match, method, score)


def _best_match(c: Entry, candidates: list[Entry], window: timedelta, threshold: float,
                linker: _Linker) -> tuple[Entry | None, str, float]:
    best: tuple[Entry | None, str, float] = (None, "", 0.0)
    for other in candidates:
        if abs(c.received_at - other.received_at) > window:
            continue
        if other.text_hash == c.text_hash:
            return other, "exact", 100.0
        score = similarity(linker.text(c), linker.text(other), cutoff=max(threshold, best[2]))
        if score >= threshold and score > best[2]:
            best = (other, "near", score)
    return best


def shingles(text: str, n: int) -> list[str]:
    """Overlapping character n-grams of the text, for MinHash; a short text is its own single shingle."""
    return [text[i:i + n] for i in range(max(1, len(text) - n + 1))] if text else []


def _dedupe_keyless(session: Session, keyless: list[Entry], new_ids: set[int], cfg: KeylessDedupe,
                    linker: _Linker) -> None:
    window = timedelta(hours=cfg.window_hours)
    by_source: dict[str, list[Entry]] = defaultdict(list)
    for c in keyless:
        by_source[c.source].append(c)
    earliest = keyless[0].received_at - window
    pool: dict[str, list[Entry]] = defaultdict(list)
    for condition in in_conditions(session, Complaint.source, by_source):
        for c in _canonical_since(session, earliest, condition, Complaint.contact_key.is_(None),
                                  Complaint.customer_ref.is_(None)):
            if c.id not in new_ids:
                pool[c.source].append(c)
    for source, items in by_source.items():
        _keyless_source(pool[source], items, cfg, window, linker)


def _keyless_source(pool: list[Entry], new: list[Entry], cfg: KeylessDedupe, window: timedelta,
                    linker: _Linker) -> None:
    """One source's LSH index over the recent canonical complaints, then each new one in time order."""
    lsh = RMinHashLSH(threshold=0.5, num_perm=cfg.num_perm, num_bands=cfg.bands)
    indexed: list[Entry] = []

    def minhash(c: Entry) -> RMinHash:
        m = RMinHash(num_perm=cfg.num_perm, seed=42)
        m.update(shingles(linker.text(c), cfg.ngram))
        return m

    def add(c: Entry, m: RMinHash) -> None:
        lsh.insert(len(indexed), m)
        indexed.append(c)

    for c in pool:
        add(c, minhash(c))
    for c in new:
        m = minhash(c)
        candidates = [indexed[k] for k in lsh.query(m)]
        candidates = [o for o in candidates if abs(c.received_at - o.received_at) <= window]
        # An overfull bucket (a template many people paste) is cut to the most recent candidates.
        candidates = sorted(candidates, key=lambda o: (o.received_at, o.id), reverse=True)[:cfg.max_bucket]
        best: tuple[Entry | None, float] = (None, 0.0)
        for other in candidates:
            score = similarity(linker.text(c), linker.text(other), cutoff=max(cfg.verify_threshold, best[1]))
            if score >= cfg.verify_threshold and score > best[1]:
                best = (other, score)
        if best[0] is None:
            add(c, m)
        else:
            linker.link(c, best[0], "minhash", best[1])
