"""One crisis, one incident: when two incidents are the same problem.

A crisis reaches detection through several signatures at once: its error code in the app and hotline rows, the
firm or product of the regulator referrals, the rows classification left in `other`. Two incidents are one when
their complaints overlap in time (within merge_hours of each other; a date-only complaint spans its day) and in
users or in the problem:
- users: at least merge_share of the smaller incident's distinct users are in both;
- an entity (error code, app version, merchant, product, or, for two incidents of one category, a rate such as a
  fee's 0.6%; never a region) that at least merge_share of each incident's complaints carry;
- a distinctive phrase: among both incidents' top phrases, in at least merge_share of each one's complaints, and
  in at most a quarter of that share of the other complaints received in the last day (ordinary wording such as
  "please fix this" is in the background too);
- the older is a whole category's surge whose complaints named the code or version the younger is about in the
  merge_hours before the younger was detected, two or more times and improbably often for that code's rate in the
  week before the surge (binomial tail <= CODE_ALPHA): the code's burst began inside the surge;
- or both bursts are of one (most common) category and were detected within ONSET_HOURS of each other, or one
  is a whole category's surge detected within surges.related_hours of the other;
- or at least merge_share of the younger's complaints read like the older's by their words, as a complaint must to
  join it by them (complaints.detect.profile): the older's tail, alarmed on an entity of its own (the phishing
  victims who name the product their money left by) before it was judged by its words.
The evidence is kept in the surviving incident's reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence, Set
from datetime import datetime, timedelta

from scipy.stats import binom

from complaints.core.config import DetectionConfig
from complaints.detect.signatures import CROSS_CATEGORY, RATE, Item, top_phrases

MERGE_KINDS = frozenset({"error_code", "app_version", RATE, "merchant", "product"})
MIN_PHRASE = 4  # characters: two-character Chinese words and short English words are no problem description
PHRASES = 8
PHRASE_SAMPLE = 200  # members whose text the top phrases are read from: a bound on the cost of a large incident
ONSET_HOURS = 3  # two bursts of one category detected this close together are one problem
CODE_ALPHA = 1e-3  # a code this improbably often in a surge's complaints, for its rate before: its burst began there


def span(items: Sequence[Item]) -> tuple[datetime, datetime]:
    """First and last received time; a date-only complaint spans the whole day it was received."""
    lo = min(it.at for it in items)
    hi = max(it.at + (timedelta(days=1) if it.dated else timedelta(0)) for it in items)
    return lo, hi


def entity_shares(items: Sequence[Item], kinds: Set[str] | None = MERGE_KINDS) -> dict[tuple[str, str], float]:
    """The share of the items carrying each entity (of these kinds; None: all)."""
    counts = Counter(e for it in items for e in set(it.entities) if kinds is None or e[0] in kinds)
    return {e: n / len(items) for e, n in counts.items()} if items else {}


def about(shares: dict[tuple[str, str], float], share: float) -> dict[str, set[str]]:
    """What an incident is about: per entity kind, the values held by `share` of its complaints."""
    out: dict[str, set[str]] = {}
    for (kind, value), s in shares.items():
        if s >= share:
            out.setdefault(kind, set()).add(value)
    return out


def _share_with(phrase: str, items: Sequence[Item]) -> float:
    return sum(phrase in it.text for it in items) / len(items) if items else 0.0


def _conflict(sa: dict[tuple[str, str], float], sb: dict[tuple[str, str], float], share: float,
              one_category: bool) -> bool:
    """Whether two incidents are each about an entity of one kind (held by `share` of its complaints), and not the
    same one: two merchants, two error codes, two app versions; two rates in one category (two fee changes)."""
    xa, xb = about(sa, share), about(sb, share)
    return any(not xa[kind] & xb[kind] for kind in xa.keys() & xb.keys() if kind != RATE or one_category)


def _began_inside(a: Sequence[Item], b_detected: datetime, sb: dict[tuple[str, str], float], share: float,
                  hours: timedelta, before: Callable[[], Sequence[Item]]) -> list[str]:
    """The code or version b is about was already in a's complaints in the hours before b was detected (two or
    more, improbably many for its rate in the complaints of the week before a opened): b's burst began inside a.
    An outage's surge opens an incident hours before its error code, written by a few of its users, has users
    enough of its own."""
    out = []
    for (kind, value), s in sorted(sb.items()):
        if kind not in CROSS_CATEGORY or s < share:
            continue
        held = sum(b_detected - hours <= it.at < b_detected and (kind, value) in it.entities for it in a)
        if held < 2:
            continue
        earlier = before()  # read only for a code the surge held: a week of complaints
        rate = max(sum((kind, value) in it.entities for it in earlier), 1) / (len(earlier) + 1)
        if binom.sf(held - 1, len(a), rate) <= CODE_ALPHA:
            out.append(f"{kind}={value} in {held} of the older incident's complaints before the other opened")
    return out


def related(cfg: DetectionConfig, a: Sequence[Item], b: Sequence[Item], background: Callable[[], Sequence[Item]],
            phrases: Callable[[], tuple[list[str], list[str]]] | None = None,
            onsets: tuple[datetime, datetime] | None = None, surges: Sequence[str] = (),
            before_a: Callable[[], Sequence[Item]] | None = None,
            reads_like_a: Callable[[], float] | None = None) -> list[str]:
    """Why incidents with members a (the older) and b are one problem (empty: they are not). background: the other
    complaints of the last day; phrases: both incidents' top phrases; onsets: when each was detected; surges:
    the categories of either that burst as a whole (no entity of their own: a category's surge that begins with
    another burst is that burst seen through another category); before_a: when a is a whole category's surge, the
    complaints of the week before it opened (a code's rate before the crisis); reads_like_a: the share of b's
    complaints that read like a's by their words (the content-join test, complaints.detect.profile). The costlier
    evidence is only looked for while the cheaper found none."""
    if not a or not b:
        return []
    (a_lo, a_hi), (b_lo, b_hi) = span(a), span(b)
    slack = timedelta(hours=cfg.merge_hours)
    if a_lo > b_hi + slack or b_lo > a_hi + slack:
        return []
    evidence = []
    ua, ub = {it.user for it in a}, {it.user for it in b}
    shared = ua & ub
    if shared and len(shared) >= cfg.merge_share * min(len(ua), len(ub)):
        evidence.append(f"{len(shared)} users in both")
    sa, sb = entity_shares(a), entity_shares(b)
    ca, cb = (Counter(it.category for it in x).most_common(1)[0][0] for x in (a, b))
    if not evidence and _conflict(sa, sb, cfg.merge_share, ca == cb):
        return []  # one is about merchant X, the other about merchant Y: two problems, however alike their words
    evidence += [f"{kind}={value} in {sa[kind, value]:.0%} and {sb[kind, value]:.0%} of the complaints"
                 for kind, value in sorted(sa.keys() & sb.keys())
                 if min(sa[kind, value], sb[kind, value]) >= cfg.merge_share and (kind != RATE or ca == cb)]
    if not evidence and onsets and before_a is not None:
        evidence += _began_inside(a, onsets[1], sb, cfg.merge_share, slack, before_a)
    apart = abs(onsets[0] - onsets[1]) if onsets else None
    if apart is not None and apart <= timedelta(hours=ONSET_HOURS) and ca == cb:
        evidence.append(f"both {ca}, detected within {ONSET_HOURS} h of each other")
    hours = cfg.surges.related_hours
    if surges and apart is not None and apart <= timedelta(hours=hours) and not evidence:
        evidence.append(f"the whole of {' and '.join(surges)} surged within {hours} h of the other burst")
    if evidence:
        return evidence
    pa, pb = phrases() if phrases else (top_phrases(list(a), PHRASES), top_phrases(list(b), PHRASES))
    for phrase in [p for p in pa if p in pb and len(p) >= MIN_PHRASE]:
        least = min(_share_with(phrase, a), _share_with(phrase, b))
        if least >= cfg.merge_share and _share_with(phrase, background()) <= least / 4:
            evidence.append(f"phrase “{phrase}” in {least:.0%} or more of each")
    if not evidence and reads_like_a is not None and (share := reads_like_a()) >= cfg.merge_share:
        evidence.append(f"{share:.0%} of the younger's complaints read like the older's by their words")
    return evidence
