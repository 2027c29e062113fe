"""Dedupe: link one user's resubmissions (same problem, any channel) to a canonical complaint.

Incremental: each new complaint is compared only with canonical complaints of the same person (contact
key, else customer reference) inside the window. Complaints with no person key (social media, anonymous
platforms) are matched by MinHash LSH over character n-grams, verified by a precise similarity, and only
inside one source and a short window: there, only a near-verbatim repost counts. Different users writing
the same words are NOT duplicates: that is a collective complaint (see detect).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from rapidfuzz import fuzz
from rensa import RMinHash, RMinHashLSH
from sqlalchemy import select
from sqlalchemy.orm import Session

from complaints.config import DedupeSettings, KeylessDedupe
from complaints.models import Complaint, DuplicateLink
from complaints.normalize import squeeze

DEFAULT = DedupeSettings()
IN_CHUNK = 5000  # bound IN (...) lists: SQLite allows 32,766 parameters per statement


@dataclass
class DedupeSummary:
    checked: int = 0
    exact: int = 0
    near: int = 0
    minhash: int = 0


def person_key(c: Complaint) -> str | None:
    if c.contact_key:
        return f"contact:{c.contact_key}"
    if c.customer_ref:
        return f"ref:{c.customer_ref}"
    return None


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


def _chunks(values: Iterable[Any]) -> Iterator[list[Any]]:
    values = list(values)
    for i in range(0, len(values), IN_CHUNK):
        yield values[i:i + IN_CHUNK]


def _canonical_since(session: Session, since: Any, *conditions: Any) -> Iterator[Complaint]:
    yield from session.execute(
        select(Complaint).where(
            *conditions,
            Complaint.duplicate_of_id.is_(None),
            Complaint.processed_at.is_not(None),
            Complaint.received_at >= since,
        )
    ).scalars()


class _Linker:
    def __init__(self, session: Session, summary: DedupeSummary) -> None:
        self.session, self.summary = session, summary
        self.squeezed: dict[int, str] = {}

    def text(self, c: Complaint) -> str:
        s = self.squeezed.get(c.id)
        if s is None:
            s = self.squeezed[c.id] = squeeze(c.body)
        return s

    def link(self, c: Complaint, match: Complaint, method: str, score: float) -> None:
        c.duplicate_of_id = match.id
        c.status = "duplicate"
        match.channels = sorted({*match.channels, c.channel})
        match.first_seen_at = min(match.first_seen_at, c.received_at)
        match.last_seen_at = max(match.last_seen_at, c.received_at)
        self.session.add(DuplicateLink(complaint_id=c.id, canonical_id=match.id, method=method, score=score))
        setattr(self.summary, method, getattr(self.summary, method) + 1)


def dedupe(session: Session, new: list[Complaint], config: DedupeSettings = DEFAULT) -> DedupeSummary:
    """Link duplicates among `new` (unprocessed, any order) against canonical complaints."""
    summary = DedupeSummary(checked=len(new))
    # Already linked (a crashed run got this far) stays linked.
    todo = sorted((c for c in new if c.duplicate_of_id is None), key=lambda c: (c.received_at, c.id))
    linker = _Linker(session, summary)
    keyed = [c for c in todo if person_key(c)]
    if keyed:
        _dedupe_keyed(session, keyed, {c.id for c in new}, config, linker)
    keyless = [c for c in todo if not person_key(c)]
    if keyless and config.keyless.enabled:
        _dedupe_keyless(session, keyless, {c.id for c in new}, config.keyless, linker)
    return summary


def _dedupe_keyed(session: Session, keyed: list[Complaint], new_ids: set[int], config: DedupeSettings,
                  linker: _Linker) -> None:
    window = timedelta(days=config.window_days)
    earliest = keyed[0].received_at - window
    pool: dict[str, list[Complaint]] = defaultdict(list)
    contact_keys = {c.contact_key for c in keyed if c.contact_key}
    refs = {c.customer_ref for c in keyed if not c.contact_key and c.customer_ref}
    for column, values in ((Complaint.contact_key, contact_keys), (Complaint.customer_ref, refs)):
        for chunk in _chunks(values):
            for c in _canonical_since(session, earliest, column.in_(chunk)):
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


def _best_match(c: Complaint, candidates: list[Complaint], window: timedelta, threshold: float,
                linker: _Linker) -> tuple[Complaint | None, str, float]:
    best: tuple[Complaint | None, str, float] = (None, "", 0.0)
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
    return [text[i:i + n] for i in range(max(1, len(text) - n + 1))] if text else []


def _dedupe_keyless(session: Session, keyless: list[Complaint], new_ids: set[int], cfg: KeylessDedupe,
                    linker: _Linker) -> None:
    window = timedelta(hours=cfg.window_hours)
    by_source: dict[str, list[Complaint]] = defaultdict(list)
    for c in keyless:
        by_source[c.source].append(c)
    earliest = keyless[0].received_at - window
    pool: dict[str, list[Complaint]] = defaultdict(list)
    for chunk in _chunks(by_source):
        for c in _canonical_since(session, earliest, Complaint.source.in_(chunk), Complaint.contact_key.is_(None),
                                  Complaint.customer_ref.is_(None)):
            if c.id not in new_ids:
                pool[c.source].append(c)
    for source, items in by_source.items():
        _keyless_source(pool[source], items, cfg, window, linker)


def _keyless_source(pool: list[Complaint], new: list[Complaint], cfg: KeylessDedupe, window: timedelta,
                    linker: _Linker) -> None:
    """One source's LSH index over the recent canonical complaints, then each new one in time order."""
    lsh = RMinHashLSH(threshold=0.5, num_perm=cfg.num_perm, num_bands=cfg.bands)
    indexed: list[Complaint] = []

    def minhash(c: Complaint) -> RMinHash:
        m = RMinHash(num_perm=cfg.num_perm, seed=42)
        m.update(shingles(linker.text(c), cfg.ngram))
        return m

    def add(c: Complaint, m: RMinHash) -> None:
        lsh.insert(len(indexed), m)
        indexed.append(c)

    for c in pool:
        add(c, minhash(c))
    for c in new:
        m = minhash(c)
        candidates = [indexed[k] for k in lsh.query(m)]
        candidates = [o for o in candidates if abs(c.received_at - o.received_at) <= window]
        # An overfull bucket (a template many people paste) is cut to the most recent candidates.
        candidates = sorted(candidates, key=lambda o: o.received_at, reverse=True)[:cfg.max_bucket]
        best: tuple[Complaint | None, float] = (None, 0.0)
        for other in candidates:
            score = similarity(linker.text(c), linker.text(other), cutoff=max(cfg.verify_threshold, best[1]))
            if score >= cfg.verify_threshold and score > best[1]:
                best = (other, score)
        if best[0] is None:
            add(c, m)
        else:
            linker.link(c, best[0], "minhash", best[1])
