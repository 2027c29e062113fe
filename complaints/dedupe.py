"""Dedupe: link one user's resubmissions (same problem, any channel) to a canonical complaint.

Incremental: each new complaint is compared only with canonical complaints of the same
person (contact key, else customer reference) inside the time window. Different users
writing the same words are NOT duplicates: that is a collective complaint (see detect).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from rapidfuzz import fuzz
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from complaints.models import Complaint, DuplicateLink
from complaints.normalize import fold

WINDOW = timedelta(days=7)
NEAR_THRESHOLD = 85.0  # rapidfuzz ratio on folded text, 0..100


@dataclass
class DedupeSummary:
    checked: int = 0
    exact: int = 0
    near: int = 0


def person_key(c: Complaint) -> str | None:
    if c.contact_key:
        return f"contact:{c.contact_key}"
    if c.customer_ref:
        return f"ref:{c.customer_ref}"
    return None


def _comparable(c: Complaint) -> str:
    return fold(c.body).lower()


def similarity(a: Complaint, b: Complaint) -> float:
    return float(fuzz.ratio(_comparable(a), _comparable(b)))


def dedupe(session: Session, new: list[Complaint], window: timedelta = WINDOW) -> DedupeSummary:
    """Link duplicates among `new` (unprocessed, any order) against canonical complaints."""
    summary = DedupeSummary(checked=len(new))
    # Already linked (a crashed run got this far) stays linked.
    keyed = sorted((c for c in new if person_key(c) and c.duplicate_of_id is None), key=lambda c: (c.received_at, c.id))
    if not keyed:
        return summary
    contact_keys = {c.contact_key for c in keyed if c.contact_key}
    refs = {c.customer_ref for c in keyed if not c.contact_key and c.customer_ref}
    new_ids = {c.id for c in new}
    earliest = keyed[0].received_at - window
    pool: dict[str, list[Complaint]] = defaultdict(list)
    conditions = []
    if contact_keys:
        conditions.append(Complaint.contact_key.in_(contact_keys))
    if refs:
        conditions.append(Complaint.customer_ref.in_(refs))
    for c in session.execute(
        select(Complaint).where(
            or_(*conditions),
            Complaint.duplicate_of_id.is_(None),
            Complaint.processed_at.is_not(None),
            Complaint.received_at >= earliest,
        )
    ).scalars():
        if c.id not in new_ids:
            pool[person_key(c)].append(c)  # type: ignore[index]

    for c in keyed:
        key = person_key(c)
        assert key is not None
        match, method, score = _best_match(c, pool[key], window)
        if match is None:
            pool[key].append(c)
            continue
        c.duplicate_of_id = match.id
        c.status = "duplicate"
        match.channels = sorted({*match.channels, c.channel})
        match.first_seen_at = min(match.first_seen_at, c.received_at)
        match.last_seen_at = max(match.last_seen_at, c.received_at)
        session.add(DuplicateLink(complaint_id=c.id, canonical_id=match.id, method=method, score=score))
        if method == "exact":
            summary.exact += 1
        else:
            summary.near += 1
    return summary


def _best_match(c: Complaint, candidates: list[Complaint], window: timedelta) -> tuple[Complaint | None, str, float]:
    best: tuple[Complaint | None, str, float] = (None, "", 0.0)
    for other in candidates:
        if abs(c.received_at - other.received_at) > window:
            continue
        if other.text_hash == c.text_hash:
            return other, "exact", 100.0
        score = similarity(c, other)
        if score >= NEAR_THRESHOLD and score > best[2]:
            best = (other, "near", score)
    return best
