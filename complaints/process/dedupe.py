"""Dedupe: link one person's resubmissions of one problem (any channel) to a canonical complaint.

A duplicate leaves the counts, so it must mean "the same person". Incremental and blocked: each new complaint
is compared only with canonical complaints of the same person key (contact key, else customer reference) inside
the window; there, "the same problem" is decided from the problem signature (order / transaction ids, error
codes, amounts, merchant) and, when that does not settle it, the pair model's P(same meaning)
(complaints/process/pairs.py), not from character ratios, which find near-copies only, together with the cosine of
the two texts' words weighted by their rarity among recent complaints: a channel's template (an agent's
"Caller states ...; wants ...") is in most of its complaints and weighs little, so one person's two problems
written in one register stay two. A complaint that says it repeats an earlier one ("second time", 已反馈过) joins
the person's only earlier complaint the signature does not contradict on far less agreement, in a channel whose
recent complaints show such words mean it (follow_up_channels).

Complaints with no person key (CFPB-layout referrals, social posts) are duplicates only on evidence of one
person: the same order / transaction id, or the identical text with identical metadata. Different people
writing the same words are a collective complaint (see detect): close keyless texts are recorded as *similar*
(complaint_similarities), stay canonical and count as distinct users.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, Protocol

from rapidfuzz import fuzz
from rensa import RMinHash, RMinHashLSH
from sqlalchemy import select
from sqlalchemy.orm import Session

from complaints.core.bulk import in_conditions, rows_by_id, update_by_id
from complaints.core.config import DedupeSettings, FollowUpEvidence, KeylessDedupe
from complaints.core.db import insert_ignore
from complaints.core.models import Complaint, ComplaintSimilarity, DuplicateLink, utcnow
from complaints.core.normalize import fold, squeeze
from complaints.process.extract import find_amounts
from complaints.process.pairs import Idf, PairModel, Text, cosine, shipped_model, words

DEFAULT = DedupeSettings()


@dataclass
class DedupeSummary:
    checked: int = 0
    exact: int = 0  # same person, same text
    near: int = 0  # same person, same problem by signature or pair model
    follow_up: int = 0  # same person, saying it repeats their only earlier open complaint (dedupe.follow_up)
    keyless: int = 0  # no person key: same order id, or identical text and metadata
    similar: int = 0  # no person key, close text: recorded as similar, not merged


class Categorise(Protocol):
    """What classification will file texts under, surely (None: unsure, or the fallback):
    complaints.process.classify.Categoriser."""

    fallback: str

    def __call__(self, texts: list[str]) -> list[str | None]: ...


class HasPerson(Protocol):
    contact_key: str | None
    customer_ref: str | None


def identities(c: HasPerson) -> list[str]:
    """Every identifier a complaint carries for its person; sharing any one is evidence of the same person
    (the app knows the account and an email, the hotline the account and a phone)."""
    found = [f"ref:{c.customer_ref}"] if c.customer_ref else []
    if c.contact_key:
        found.append(f"contact:{c.contact_key}")
    return found


def person_key(c: HasPerson) -> str | None:
    """Who a complaint is from: its customer reference (the account), else its contact key, else None."""
    found = identities(c)
    return found[0] if found else None


def partition(rows: Iterable[Any], parts: int) -> list[list[int]]:
    """Split complaint ids (rows with id, contact_key, customer_ref, source) into at most `parts` disjoint lists.

    Complaints sharing any identifier are joined into one group (keyless ones: by source), and a group goes
    whole to the part its stable hash picks: a resubmission and everything it can be matched with land together,
    so dedupe and classify of each part give the single-part results."""
    rows = list(rows)
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    keys = [identities(r) or [f"source:{r.source}"] for r in rows]
    for found in keys:
        for other in found[1:]:
            a, b = sorted((root(found[0]), root(other)))
            parent[b] = a
    out: list[list[int]] = [[] for _ in range(max(parts, 1))]
    for r, found in zip(rows, keys, strict=True):
        out[zlib.crc32(root(found[0]).encode()) % len(out)].append(r.id)
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
    title: str | None
    body: str
    amount: Decimal | None
    merchant: str | None
    product: str | None
    region: str | None
    channels: list[str]
    first_seen_at: datetime
    last_seen_at: datetime
    duplicate_of_id: int | None
    category: str | None  # as classified (None: not yet)
    needs_review: bool


ENTRY_COLUMNS = [getattr(Complaint, f.name) for f in fields(Entry)]

# An order / transaction number the text names as one: it identifies one payment, hence one person's problem.
ORDER_ID_RE = re.compile(
    r"(?:订单编?号?|交易单?号|流水号|单号|支付单号|退款单号|order\s*(?:no\.?|number|id|#)?|transaction\s*(?:id|no\.?)?|"
    r"txn\s*(?:id)?|reference\s*(?:no\.?|number)?|ref\.?\s*(?:no\.?)?)\s*[:：#]?\s*([a-z0-9][a-z0-9-]{5,39})",
    re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Problem:
    """A complaint's problem signature: the entities that tell one payment or fault from another."""

    ids: frozenset[str]
    error_codes: frozenset[str]
    amounts: frozenset[Decimal]
    merchant: str | None
    numbers: frozenset[str] = frozenset()  # codes after a lead that is not only an error's ("错误 4821", "报错2019")


class Relation(Enum):
    SAME = "same"
    DIFFERENT = "different"
    UNKNOWN = "unknown"


def problem_of(c: Entry) -> Problem:
    """The problem signature of a complaint, from its text and fields."""
    # Imported here: detect's signatures module imports person_key from this one.
    from complaints.detect.signatures import led_codes

    text = fold(f"{c.title or ''} {c.body}")
    ids = {m.group(1).upper().replace("-", "") for m in ORDER_ID_RE.finditer(text)}
    amounts = {money.amount for money in find_amounts(text)}  # 500元, ¥1,200.50, {$1,000.00}, 两千元
    if c.amount is not None:
        amounts.add(Decimal(c.amount).quantize(Decimal("0.01")))
    led = led_codes(text)
    # "code 4821" may be a one-time password: a weakly led code cannot tell problems apart, only tie them.
    codes = frozenset(code for code, strong in led if strong)
    return Problem(frozenset(i for i in ids if sum(ch.isdigit() for ch in i) >= 4), codes,
                   frozenset(amounts), fold(c.merchant).lower() if c.merchant else None,
                   frozenset(n for n, _ in led if n not in codes and sum(ch.isdigit() for ch in n) >= 4))


def _telling(amount: Decimal) -> bool:
    """An amount that tells one payment from another: 117.14 or 1872, not a round 100 or a 2元 fee."""
    return amount >= 10 and amount % 10 != 0


def relation(a: Problem, b: Problem) -> Relation:
    """One person's two complaints in the window: the same problem when both name one order / transaction id or
    error code; different when both name ids or error codes and share none, or name two merchants; else the same
    when both name one code, however led (报错2019 and 错误码 2019), or one amount that tells a payment (not round,
    10 or more) and one names no amount the other does not (500 and a 2元 fee is not 800 and that fee): the same
    117.14 twice in a week is one payment; different when both name amounts and share none; else the signature
    cannot tell."""
    if a.ids and b.ids:
        return Relation.SAME if a.ids & b.ids else Relation.DIFFERENT
    if a.error_codes and b.error_codes:
        return Relation.SAME if a.error_codes & b.error_codes else Relation.DIFFERENT
    if a.merchant and b.merchant and a.merchant != b.merchant:
        return Relation.DIFFERENT
    shared = a.amounts & b.amounts
    if (a.error_codes | a.numbers) & (b.error_codes | b.numbers) or (
            any(_telling(x) for x in shared) and (a.amounts <= b.amounts or b.amounts <= a.amounts)):
        return Relation.SAME
    if a.amounts and b.amounts and not shared:
        return Relation.DIFFERENT
    return Relation.UNKNOWN


def _canonical_since(session: Session, since: datetime, *conditions: Any) -> list[Entry]:
    """Stored canonical complaints, oldest first (the order candidates are tried in)."""
    return [Entry(*row) for row in session.execute(
        select(*ENTRY_COLUMNS)
        .where(*conditions, Complaint.duplicate_of_id.is_(None), Complaint.processed_at.is_not(None),
               Complaint.received_at >= since)
        .order_by(Complaint.received_at, Complaint.id)
    )]


@dataclass
class Background:
    """The complaints dedupe learns from: the `size` most recently received up to `until` (the batch's newest; the
    batch itself included) among those stored when the batch was taken (id <= max_id), so every partition of a
    batch sees the same whatever is ingested meanwhile; None: no bound. Read once, at the first pair the signature
    cannot settle, and shared by every call given this object. From them: the word weights (a word a channel's
    template repeats in most complaints weighs little, the words that say what happened weigh much) and the
    channels where follow-up wording tells a resubmission."""

    until: datetime | None = None
    max_id: int | None = None
    _idf: Idf | None = None
    _follow_ups: frozenset[str] | None = None

    def _read(self, session: Session, config: DedupeSettings, follow_ups: bool) -> Idf:
        """One read for what is missing: the word weights, and the follow-up channels if asked (the wording is
        looked for in every background complaint, so only for a batch where some complaint says it repeats)."""
        query = select(Complaint.received_at, Complaint.channel, Complaint.contact_key, Complaint.customer_ref,
                       Complaint.title, Complaint.body)
        if self.until is not None:
            query = query.where(Complaint.received_at <= self.until)
        if self.max_id is not None:
            query = query.where(Complaint.id <= self.max_id)
        rows = list(session.execute(query.order_by(Complaint.received_at.desc(), Complaint.id.desc())
                                    .limit(config.background_size)))
        idf = self._idf or Idf.fit_with_prior([words(_text_of(r.title, r.body)) for r in rows],
                                              shipped_model().word_idf, PRIOR_DOCUMENTS)
        channels = self._follow_ups
        if follow_ups and channels is None:
            channels = follow_up_channels(reversed(rows), timedelta(days=config.window_days), config.follow_up)
        self._idf, self._follow_ups = idf, channels
        return idf

    def idf(self, session: Session, config: DedupeSettings, follow_ups: bool = False) -> Idf:
        """The word weights (and, when follow_ups, the follow-up channels from the same read)."""
        return self._idf if self._idf is not None else self._read(session, config, follow_ups)

    def follow_ups_tell(self, session: Session, config: DedupeSettings, channel: str) -> bool:
        """Whether follow-up wording is evidence of a resubmission in this channel (follow_up_channels)."""
        if self._follow_ups is None:
            self._read(session, config, True)
        return channel in (self._follow_ups or ())


# What a person (or the agent for them) writes to say this complaint repeats an earlier one: the act of
# complaining named as done before, not the problem's state ("still pending", 至今未到账, 没人处理, "charged a second
# time", 已联系商家, 第1次来电 are first complaints), nor a reply's or forward's subject (Re: Your payment failed), nor
# an agent's hand-over (转二线跟进). Simplified and traditional Chinese.
_ZH_ACT = (r"(?:反[馈饋映應]|投[诉訴]|[来來][电電]|致[电電]|打[过過](?:客服)?(?:电话|電話)|打客服(?:电话|電話)|留言|"
           r"提交[过過]|[发發写寫][过過]?(?:邮件|郵件|信(?!息)))")
_ZH_BEFORE = r"(?:已经?|已經|之前|此前|上次)"
FOLLOW_UP_RE = re.compile(
    # 已反馈 / 之前投诉 / 昨天已来电 / 已在App内反馈过 / 已经向客服反映
    rf"(?:{_ZH_BEFORE}|(?:昨[天日]|前[几幾]天)已经?){_ZH_ACT}|"
    rf"(?:{_ZH_BEFORE}|昨[天日]|前[几幾]天)(?:在|向|给|給|跟|找|于|於|通过|通過)[^，。,.!！?？;；]{{0,8}}?{_ZH_ACT}|"
    r"(?:联系|聯繫|找|问|問)[过過](?:你们|你們)?(?:的)?客服|"
    rf"第(?:[二三四五六七八九十两兩]|[2-9]|\d{{2,}})次(?:{_ZH_ACT}|找你们|找你們)|"
    rf"(?:[多几幾]|好[几幾]|再|重复|重複|二)次{_ZH_ACT}|{_ZH_ACT}了?(?:很多|好[几幾]|[多几幾两兩三])次|再{_ZH_ACT}一次|"
    rf"{_ZH_ACT}[过過](?:[一两兩几幾多]次|了?[，,]?\s*(?:一直|至今|还是|還是|到现在|到現在))|"
    r"再[发發写寫][一1]?[次封]?(?:邮件|郵件|信(?!息))|(?:还是|還是)(?:没|沒)人(?:管|处理|處理|回复|回覆|理)|"
    r"\b(?:this is|it'?s) (?:the|my) (?:second|third|fourth|fifth|\d+(?:nd|rd|th)) (?:e-?mail|message|complaint|"
    r"call|request)\b|\b(?:second|third|fourth|fifth|\d+(?:nd|rd|th)) time (?:i'?m |i am |i have |i'?ve |i )?"
    r"(?:report|writ|contact|call|complain|e-?mail|messag|rais)|"
    r"\b(?:i|we)(?: have|'ve|’ve)? already (?:reported|complained|raised this|told you|written to you|wrote to you|"
    r"(?:contacted|called|e-?mailed|messaged) (?:you|your|support|customer (?:service|support)|the hotline))|"
    r"\b(?:reported|complained about) (?:this|it) (?:before|earlier|already|last|yesterday|twice|\d+ times)\b|"
    r"\bcomplained (?:before|earlier|twice|already)\b|\bfollow(?:ing)?[- ]?up on (?:(?:my|our|this|the) "
    r"(?:previous |earlier |last )?(?:complaint|e-?mail|message|ticket|case|report|call)|(?:ticket|case) )|"
    r"\brepeat(?:ed)? caller\b|\bstill (?:no (?:reply|response|answer|word|update|call back)|waiting (?:for|on) "
    r"(?:a |an |your )?(?:reply|response|answer|call back|callback|update))|\bas i (?:said|mentioned|wrote|"
    r"explained) (?:before|earlier|previously|in my)|\b(?:my|the) (?:previous|earlier|last) (?:complaint|ticket|"
    r"report)\b|\bin my (?:previous|earlier|last) (?:e-?mail|message|call)\b|"
    r"\b(?:no one|nobody) (?:has )?(?:replied|responded|got back)", re.IGNORECASE)


def says_follow_up(title: str | None, body: str) -> bool:
    """Whether the complaint says it repeats an earlier one."""
    return FOLLOW_UP_RE.search(fold(_text_of(title, body))) is not None


def follow_up_channels(rows: Iterable[Any], window: timedelta, cfg: FollowUpEvidence) -> frozenset[str]:
    """The channels where, in these complaints (received_at, channel, contact_key, customer_ref, title, body; oldest
    first), the ones saying they repeat an earlier one mostly did: min_share of them came after an earlier complaint
    of the same person (any channel) within the window, and min_lift times the share of the channel's others. Where
    people or agents write "second time!" into any complaint, the wording is no evidence; a channel with fewer than
    cfg.min_count such complaints cannot tell."""
    if not cfg.enabled:
        return frozenset()
    last: dict[str, datetime] = {}
    counts: Counter[tuple[str, bool, bool]] = Counter()
    for r in rows:
        keys = identities(r)
        if keys:
            earlier = any(k in last and r.received_at - last[k] <= window for k in keys)
            counts[(r.channel, says_follow_up(r.title, r.body), earlier)] += 1
            last.update(dict.fromkeys(keys, r.received_at))
    out = set()
    for channel in {ch for ch, _, _ in counts}:
        said = counts[(channel, True, True)] + counts[(channel, True, False)]
        unsaid = counts[(channel, False, True)] + counts[(channel, False, False)]
        if said >= cfg.min_count:
            share = counts[(channel, True, True)] / said
            others = counts[(channel, False, True)] / max(1, unsaid)
            if share >= cfg.min_share and share >= cfg.min_lift * others:
                out.add(channel)
    return frozenset(out)


# The pair model's word weights (question corpora) count as this many complaints: they decide while a deployment
# has few complaints of its own, and fade once it has thousands.
PRIOR_DOCUMENTS = 1000


def _text_of(title: str | None, body: str) -> str:
    return f"{title} {body}" if title else body


@dataclass
class _Linker:
    summary: DedupeSummary
    model: PairModel
    background: Callable[[], Idf]  # read at the first pair the signature cannot settle
    follow_ups_tell: Callable[[str], bool] = lambda channel: False  # read with the word weights
    categorise: Categorise | None = None  # asked only for follow-ups (config.follow_up.same_category)
    categories: dict[int, str | None] = field(default_factory=dict)
    content: dict[int, dict[str, float]] = field(default_factory=dict)
    texts: dict[int, Text] = field(default_factory=dict)
    problems: dict[int, Problem] = field(default_factory=dict)
    squeezed: dict[int, str] = field(default_factory=dict)
    links: list[dict[str, Any]] = field(default_factory=list)
    similar: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[Entry] = field(default_factory=list)
    canonicals: dict[int, Entry] = field(default_factory=dict)

    def text(self, c: Entry) -> Text:
        t = self.texts.get(c.id)
        if t is None:
            t = self.texts[c.id] = self.model.text(_text_of(c.title, c.body))
        return t

    def content_similarity(self, a: Entry, b: Entry) -> float:
        """Cosine of the two texts' words weighted by their rarity among recent complaints."""
        for c in (a, b):
            if c.id not in self.content:
                self.content[c.id] = self.background().vector(words(_text_of(c.title, c.body)))
        return cosine(self.content[a.id], self.content[b.id])

    def same_category(self, a: Entry, b: Entry) -> bool:
        """Whether both are filed surely under one category (not the fallback): a classified complaint as it is filed
        (a reviewer's correction included; not one waiting for review), another as classification will file it."""
        if self.categorise is None:
            return False
        for c in (a, b):
            if c.category is not None and c.id not in self.categories:
                self.categories[c.id] = None if c.needs_review or c.category == self.categorise.fallback else c.category
        missing = [c for c in (a, b) if c.id not in self.categories]
        if missing:
            found = self.categorise([_text_of(c.title, c.body) for c in missing])
            self.categories.update((c.id, category) for c, category in zip(missing, found, strict=True))
        return self.categories[a.id] is not None and self.categories[a.id] == self.categories[b.id]

    def follows_up(self, c: Entry) -> bool:
        """The complaint says it repeats an earlier one, and such words mean that in its channel."""
        return says_follow_up(c.title, c.body) and self.follow_ups_tell(c.channel)

    def problem(self, c: Entry) -> Problem:
        p = self.problems.get(c.id)
        if p is None:
            p = self.problems[c.id] = problem_of(c)
        return p

    def squeeze(self, c: Entry) -> str:
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

    def mark_similar(self, c: Entry, other: Entry, score: float) -> None:
        self.similar.append({"complaint_id": c.id, "similar_id": other.id, "method": "text", "score": score})
        self.summary.similar += 1

    def write(self, session: Session) -> None:
        """Links, similarities, duplicates and their canonical complaints' channels and first/last seen."""
        now = utcnow()
        table = Complaint.__table__
        insert_ignore(session, DuplicateLink.__table__, [lk | {"created_at": now} for lk in self.links])
        insert_ignore(session, ComplaintSimilarity.__table__, [s | {"created_at": now} for s in self.similar])
        update_by_id(session, table, [{"_id": c.id, "duplicate_of_id": c.duplicate_of_id, "status": "duplicate",
                                       "updated_at": now} for c in self.duplicates])
        update_by_id(session, table, [{"_id": m.id, "channels": m.channels, "first_seen_at": m.first_seen_at,
                                       "last_seen_at": m.last_seen_at, "updated_at": now}
                                      for m in self.canonicals.values()])


def dedupe_ids(session: Session, ids: Iterable[int], config: DedupeSettings = DEFAULT,
               background: Background | None = None, categorise: Categorise | None = None) -> DedupeSummary:
    """Link duplicates among these (unprocessed, any order) complaints against canonical complaints; the word
    weights come from `background` (the batch's, shared by its partitions and attempts), else the newest ones;
    `categorise` (complaints.process.classify.Categoriser) tells whether a follow-up and the complaint it may
    repeat will be filed under one category (follow_up.same_category)."""
    new = [Entry(*row) for row in rows_by_id(session, ENTRY_COLUMNS, ids)]
    for c in new:  # a category stored before (the text has changed since, by a source's update) is no evidence
        c.category = None
    summary = DedupeSummary(checked=len(new))
    # Already linked (a crashed run got this far) stays linked.
    todo = sorted((c for c in new if c.duplicate_of_id is None), key=lambda c: (c.received_at, c.id))
    weights = background or Background()
    keyed = [c for c in todo if person_key(c)]
    follow_ups = config.follow_up.enabled and any(says_follow_up(c.title, c.body) for c in keyed)
    linker = _Linker(summary, shipped_model(), lambda: weights.idf(session, config, follow_ups),
                     lambda channel: weights.follow_ups_tell(session, config, channel),
                     categorise if config.follow_up.same_category else None)
    new_ids = {c.id for c in new}
    if keyed:
        _dedupe_keyed(session, keyed, new_ids, config, linker)
    keyless = [c for c in todo if not person_key(c)]
    if keyless and config.keyless.enabled:
        _dedupe_keyless(session, keyless, new_ids, config.keyless, linker)
    linker.write(session)
    return summary


Pool = dict[str, list[Entry]]


def _pool(session: Session, keyed: list[Entry], new_ids: set[int], earliest: datetime) -> tuple[Pool, Pool]:
    """The stored canonical complaints since `earliest` by every identifier of their person: those of the new
    complaints' identifiers, then one step on, those of the other identifiers these complaints and their duplicates
    carry (the person's other complaints a follow-up must see: "my only earlier complaint"); and, apart, those an
    identifier leads to only through a duplicate of theirs (the app knew the account, the hotline call linked to it
    gave the account and a phone, the web form gives the phone)."""
    pool: Pool = defaultdict(list)
    linked: Pool = defaultdict(list)
    pooled: dict[int, Entry] = {}
    via: dict[int, set[str]] = defaultdict(set)
    asked: set[str] = set()
    wanted = {key for c in keyed for key in identities(c)}
    for _ in range(2):
        todo, asked = wanted - asked, asked | wanted
        for column, kind in ((Complaint.contact_key, "contact:"), (Complaint.customer_ref, "ref:")):
            for condition in in_conditions(session, column, {k.removeprefix(kind) for k in todo if k.startswith(kind)}):
                for c in _canonical_since(session, earliest, condition):
                    if c.id not in new_ids and c.id not in pooled:
                        pooled[c.id] = c
                        for key in identities(c):
                            pool[key].append(c)
                for row in session.execute(
                        select(Complaint.duplicate_of_id, Complaint.contact_key, Complaint.customer_ref)
                        .where(condition, Complaint.duplicate_of_id.is_not(None), Complaint.received_at >= earliest)):
                    via[row.duplicate_of_id].update(identities(row))
        for condition in in_conditions(session, Complaint.id, via.keys() - new_ids - pooled.keys()):
            for c in _canonical_since(session, earliest, condition):
                pooled[c.id] = c
                for key in identities(c):
                    pool[key].append(c)
        wanted = {key for c in pooled.values() for key in identities(c)} | set().union(*via.values())
    for canonical_id, keys in via.items():
        if (c := pooled.get(canonical_id)) is not None:
            for key in keys - set(identities(c)):
                linked[key].append(c)
    return pool, linked


def _dedupe_keyed(session: Session, keyed: list[Entry], new_ids: set[int], config: DedupeSettings,
                  linker: _Linker) -> None:
    window = timedelta(days=config.window_days)
    threshold = linker.model.threshold if config.pair_threshold is None else config.pair_threshold
    pool, linked = _pool(session, keyed, new_ids, keyed[0].received_at - window)
    for c in keyed:
        mine = set(identities(c))
        direct = {o.id: o for key in mine for o in pool[key]}
        through = {o.id: o for key in mine for o in linked[key] if o.id not in direct}
        # The person's complaints under the other identifiers of those: in view, not the only earlier one to follow.
        around = {key for o in (*direct.values(), *through.values()) for key in identities(o)} - mine
        through |= {o.id: o for key in around for o in (*pool[key], *linked[key]) if o.id not in direct}
        candidates = sorted([*direct.values(), *through.values()], key=lambda o: (o.received_at, o.id))
        match, method, score = _best_match(c, candidates, window, threshold, config, linker, set(through))
        if match is None:
            for key in identities(c):
                pool[key].append(c)
        else:
            linker.link(c, match, method, score)
            for key in set(identities(c)) - set(identities(match)):  # its identifiers lead to its canonical
                linked[key].append(match)
            if method == "exact":
                linker.summary.exact += 1
            elif method == "follow-up":
                linker.summary.follow_up += 1
            else:
                linker.summary.near += 1


def _best_match(c: Entry, candidates: list[Entry], window: timedelta, threshold: float, config: DedupeSettings,
                linker: _Linker, through: set[int]) -> tuple[Entry | None, str, float]:
    """Within one person's block: the same text, else the same problem by signature, else the pair model where
    the words that are not the channel's template are shared enough; else, for a complaint that says it repeats an
    earlier one, the person's only complaint the signature does not contradict, if the words or the model agree at
    all or classification files both under one category (config.follow_up). Never a follow-up of a candidate
    found only `through` a duplicate's identifier or another complaint's: it is the same person, but the
    person's complaints one step further are not in view, so it may not be their only one."""
    best: tuple[Entry | None, str, float] = (None, "", 0.0)
    undecided: list[tuple[Entry, float]] = []  # earlier candidates the signature cannot settle, with their cosine
    for other in candidates:
        if abs(c.received_at - other.received_at) > window:
            continue
        if other.text_hash == c.text_hash:
            return other, "exact", 1.0
        rel = relation(linker.problem(c), linker.problem(other))
        if rel is Relation.DIFFERENT:
            continue
        if rel is Relation.SAME:
            score, method = 1.0, "signature"
        else:
            content = linker.content_similarity(c, other)
            if other.received_at <= c.received_at:  # a follow-up repeats what came before it
                undecided.append((other, content))
            if content < config.content_threshold:
                continue
            score, method = linker.model.probability(linker.text(c), linker.text(other)), "model"
        if score >= threshold and score > best[2]:
            best = (other, method, round(score, 4))
    if best[0] is None and len(undecided) == 1 and undecided[0][0].id not in through and linker.follows_up(c):
        other, content = undecided[0]
        score = linker.model.probability(linker.text(c), linker.text(other))
        if content >= config.follow_up.content_floor or score >= threshold or linker.same_category(c, other):
            return other, "follow-up", round(score, 4)
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
        _keyless_source(session, pool[source], items, cfg, window, linker)


def _metadata(session: Session, entries: list[Entry], cfg: KeylessDedupe) -> dict[int, tuple[Any, ...]]:
    """What must be equal besides the text for two keyless complaints to be one person's: the UTC day, the
    configured fields and raw record columns; none for a record without an identifying column (a bare social post,
    a referral whose ZIP code is redacted): identical words are what a pasted collective complaint looks like.
    Read only for complaints whose text another one repeats."""
    raws = {r.id: r.raw for r in rows_by_id(session, [Complaint.id, Complaint.raw], [c.id for c in entries])} \
        if cfg.same_raw_fields and entries else {}
    out: dict[int, tuple[Any, ...]] = {}
    for c in entries:
        raw = raws.get(c.id) or {}
        if any(_evidence(raw.get(f)) for f in cfg.identifying_raw_fields):
            out[c.id] = (c.received_at.astimezone(UTC).date(), *(_evidence(getattr(c, f)) for f in cfg.same_fields),
                         *(_evidence(raw.get(f)) for f in cfg.same_raw_fields))
    return out


# A redacted value (XXXXX, XX/XX/XXXX, ***) says nothing about who wrote it.
_REDACTED_RE = re.compile(r"[\sXx*#/.-]*")


def _evidence(value: Any) -> str:
    text = "" if value is None else str(value).strip()
    return "" if _REDACTED_RE.fullmatch(text) else text


def _keyless_source(session: Session, pool: list[Entry], new: list[Entry], cfg: KeylessDedupe, window: timedelta,
                    linker: _Linker) -> None:
    """One source, each new complaint in time order: a duplicate on evidence of one person (same order id, or the
    same text and metadata); else the closest text found by MinHash LSH, if close enough, is recorded as similar."""
    lsh = RMinHashLSH(threshold=0.5, num_perm=cfg.num_perm, num_bands=cfg.bands)
    indexed: list[Entry] = []
    by_hash: dict[str, list[Entry]] = defaultdict(list)
    by_id: dict[str, list[Entry]] = defaultdict(list)
    metadata = _metadata(session, _repeated([*pool, *new]), cfg)

    def minhash(c: Entry) -> RMinHash:
        m = RMinHash(num_perm=cfg.num_perm, seed=42)
        m.update(shingles(linker.squeeze(c), cfg.ngram))
        return m

    def add(c: Entry, m: RMinHash) -> None:
        lsh.insert(len(indexed), m)
        indexed.append(c)
        by_hash[c.text_hash].append(c)
        for order_id in linker.problem(c).ids:
            by_id[order_id].append(c)

    def recent(candidates: Iterable[Entry]) -> list[Entry]:
        return [o for o in candidates if abs(c.received_at - o.received_at) <= window]

    for c in pool:
        add(c, minhash(c))
    for c in new:
        # A body that is only the title (a CFPB row without narrative carries its Issue) is nobody's own words.
        own_words = not c.title or squeeze(c.title) != linker.squeeze(c)
        mine = metadata.get(c.id)
        same_text = [o for o in recent(by_hash[c.text_hash]) if own_words and mine and metadata.get(o.id) == mine]
        same_order = recent(o for i in sorted(linker.problem(c).ids) for o in by_id[i])
        evidence = same_text or same_order
        m = minhash(c)
        if evidence:
            linker.link(c, evidence[0], "keyless", 1.0)
            linker.summary.keyless += 1
            continue
        # An overfull bucket (a template many people paste) is cut to the most recent candidates.
        candidates = sorted(recent(indexed[k] for k in lsh.query(m)), key=lambda o: (o.received_at, o.id),
                            reverse=True)[:cfg.max_bucket]
        best: tuple[Entry | None, float] = (None, 0.0)
        for other in candidates:
            score = fuzz.ratio(linker.squeeze(c), linker.squeeze(other), score_cutoff=max(cfg.verify_threshold,
                                                                                         best[1]))
            if score >= cfg.verify_threshold and score > best[1]:
                best = (other, score)
        if best[0] is not None:
            linker.mark_similar(c, best[0], round(best[1] / 100, 4))
        add(c, m)


def _repeated(entries: list[Entry]) -> list[Entry]:
    """The entries whose text hash another one shares."""
    counts = Counter(c.text_hash for c in entries)
    return [c for c in entries if counts[c.text_hash] > 1]
