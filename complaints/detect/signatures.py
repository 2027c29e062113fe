"""Problem signatures: what a complaint is about, as detection groups it.

A signature is the category plus one shared entity: an error code or app version read from the
text, the merchant, product or region fields, or a cluster of near-identical descriptions written
by different users (the opposite of dedupe, which links one user's resubmissions).
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from complaints.core.normalize import fold
from complaints.core.pii import mask_text
from complaints.detect.frame import NO_FRAME, Frame
from complaints.process.dedupe import person_key
from complaints.process.extract import find_amounts, find_rates

# E1024, 错误码 E-1024, error code 502, ERR_5031; and, weaker, code 5031, 报错5031, 错误 5031: only codes that look
# like codes (letters optional, 3-6 digits; 3-5 after a weak lead, since one-time passwords have 6), and may end a
# sentence ("failed with error E7301."), but not a version ("E1.5", "502.3"), a date ("报错 2024-03-05", "2024年"), a
# count ("错误 3次") or an amount (see error_codes: "转账错误 500 人民币").
ERROR_CODE_RE = re.compile(
    r"(?:(?P<strong>错误码|错误代码|故障码|(?<![a-z])error\s*code|(?<![a-z])err(?:or)?)|(?P<weak>报错|错误|(?<![a-z])code))"
    r"[\s:：#_(（]*(?P<code>[a-z]{0,3}[-_]?\d{3,6})"
    r"(?!\d|\.\d|[-/]\d|\s*(?:[年月日号次笔个元块%]|人民币|美元|港币|欧元|rmb|cny|yuan|usd|dollars?|hkd|eur|gbp))"
    r"|(?<![a-z0-9])(?P<bare>e[-_]?\d{3,5})(?![a-z0-9]|\.\d)",
    re.IGNORECASE,
)
# A weak lead is a password, a one-time or verification code, a merchant, card or reference number as often as an
# error: what comes before it says which.
_NOT_ERROR_RE = re.compile(
    r"(?:verification|verify|security|sms|otp|one[- ]time|digit|promo|coupon|discount|referral|invite|invitation|"
    r"zip|postal|post|area|country|swift|sort|qr|bar|pass|access|auth|authori[sz]ation|approval|merchant|reference|"
    r"tracking|card|cvv|pin|enter|entered|receive|received|邀请|推荐|优惠|验证|邮政|商户|交易|短信|密码|输入|金额|次数|"
    r"时间|日期)(?:\W+(?:the|a|my|your|this|that))?\W*$",
    re.IGNORECASE)
# "E" and "ERR" only say "error": E5031, ERR_5031, 错误代码 5031 and code 5031 are one code.
_ERROR_NUMBER_RE = re.compile(r"(?:err|e)?[-_]?(\d+)", re.IGNORECASE)
# v5.2.1, 版本 5.2, version 3.4: a bare x.y needs a prefix, since amounts look the same.
VERSION_RE = re.compile(
    r"(?:(?<![a-z0-9])v|版本号?|version|ver\.?)\s*[:：]?\s*(\d{1,3}\.\d{1,3}(?:\.\d{1,4})?)(?![\d.])"
    r"|(?<![\d.])(\d{1,2}\.\d{1,3}\.\d{1,4})(?![\d.])",
    re.IGNORECASE,
)
_SKELETON_DROP_RE = re.compile(r"[\W\d_]+", re.UNICODE)
_CJK_RUN_RE = re.compile(r"[\u3400-\u9fff]+")
_WORD_RE = re.compile(r"[a-z][a-z']{2,}")
STOPWORDS = frozenset({
    "the", "and", "for", "you", "your", "this", "that", "with", "have", "has", "had", "was", "were", "are", "but",
    "not", "all", "from", "they", "them", "their", "its", "app", "can", "cant", "can't", "dont", "don't", "very",
    "just", "get", "got", "any", "our", "out", "one", "too", "did", "does", "what", "when", "will", "would",
    "there", "here", "been", "being", "who", "how", "why", "which", "than", "then", "also", "into", "more", "most",
    "some", "such", "only", "own", "same", "so",
})
FIELD_ENTITIES = ("merchant", "product", "region")
SKELETON_CHARS = 300
# An error code or app version names one problem whatever the category a complaint was classified in (an outage
# is a system fault to one user, a failed transfer or `other` to the next): their groups span categories.
CROSS_CATEGORY = frozenset({"error_code", "app_version"})
# A rate (a fee's 0.6%) names one problem only within a category (a 5% fee and a 5% cashback are two), and a complaint
# naming a second one is no other problem (a fee change's complaints quote the old rate beside the new one).
RATE = "rate"
ANY_CATEGORY = "*"


@dataclass(frozen=True)
class Item:
    """One canonical complaint as detection sees it."""

    id: int
    at: datetime
    user: str
    category: str
    # Masked, folded text without digits, punctuation or spaces, nor the channels' frame at its ends
    # (complaints.detect.frame): for text similarity.
    skeleton: str
    text: str  # masked, folded, lower-case: for top phrases
    entities: tuple[tuple[str, str], ...]  # (kind, value) for every non-text entity it has
    amount: Decimal | None = None
    threat: bool = False
    incident_id: int | None = None  # the incident it belonged to when read
    dated: bool = False  # received_at carries a day only: counts in daily windows, never in hourly ones
    by_words: bool = False  # it joined that incident by its words (a content join), when read


class ComplaintFields(Protocol):
    """What detection reads of a complaint: an ORM row or a row of just these columns (ITEM_COLUMNS)."""

    id: int
    source: str
    received_at: datetime
    contact_key: str | None
    customer_ref: str | None
    category: str | None
    title: str | None
    body: str
    merchant: str | None
    product: str | None
    region: str | None
    amount: Decimal | None
    severity_reasons: list[str] | None
    incident_id: int | None
    joined_by_words: bool


ITEM_COLUMNS = tuple(ComplaintFields.__annotations__)


def user_of(c: ComplaintFields) -> str:
    """The person key of a complaint, else one anonymous user per complaint (distinct-user counts)."""
    return person_key(c) or f"anonymous:{c.id}"


def skeleton(text: str) -> str:
    """The text without digits, punctuation or spaces, its first SKELETON_CHARS characters (memory):
    near-identical complaints share one skeleton."""
    return _SKELETON_DROP_RE.sub("", text)[:SKELETON_CHARS]


def error_code(written: str) -> str:
    """A code as one canonical string however it is written: E-5031, e5031, ERR_5031 and 5031 are E5031."""
    number = _ERROR_NUMBER_RE.fullmatch(written)
    return f"E{number.group(1)}" if number else written.replace("-", "").replace("_", "").upper()


def led_codes(text: str) -> list[tuple[str, bool]]:
    """Every error code a text names, canonical (error_code), with whether its lead is only an error's (strong):
    detection takes all (after code, 错误, 报错 too), dedupe's "same / different code" only the strong ones."""
    folded = fold(text).lower()
    amounts: list[tuple[int, int]] | None = None  # read once a code is found: most texts name none
    found = []
    for m in ERROR_CODE_RE.finditer(folded):
        strong = not m.group("weak")
        if not strong and (sum(ch.isdigit() for ch in m.group("code")) > 5 or _NOT_ERROR_RE.search(folded[:m.start()])):
            continue
        if amounts is None:
            amounts = [(money.start, money.end) for money in find_amounts(folded)]
        start, end = m.span("code") if m.group("code") else m.span("bare")
        if any(lo < end and start < hi for lo, hi in amounts):
            continue
        found.append((error_code(m.group("code") or m.group("bare")), strong))
    return found


def extract_entities(text: str, fields: dict[str, str | None]) -> list[tuple[str, str]]:
    """Entities of one complaint: error codes, app versions and rates (a fee's 0.6%, 千分之六) from the text, then the
    fields."""
    found: list[tuple[str, str]] = [("error_code", code) for code, _ in led_codes(text)]
    for m in VERSION_RE.finditer(fold(text)):
        found.append(("app_version", m.group(1) or m.group(2)))
    found += [(RATE, f"{rate:f}%") for rate in find_rates(text)]
    found += [(f, fold(v)) for f in FIELD_ENTITIES if (v := fields.get(f))]
    return list(dict.fromkeys(found))


def masked_text(text: str) -> str:
    """The masked, folded, lower-cased text detection reads."""
    return mask_text(fold(text)).lower()


def make_item(
    *, id: int, at: datetime, user: str, category: str, text: str,
    fields: dict[str, str | None] | None = None, amount: Decimal | None = None, threat: bool = False,
    incident_id: int | None = None, dated: bool = False, by_words: bool = False, frame: Frame = NO_FRAME,
) -> Item:
    """An Item with masked, folded, lower-cased text, its skeleton (without the channels' frame at its ends) and its
    entities, truncated for memory."""
    masked = masked_text(text)
    return Item(id=id, at=at, user=user, category=category, skeleton=frame.trim(skeleton(masked)),
                text=masked[:2000],
                entities=tuple(extract_entities(text, fields or {})), amount=amount, threat=threat,
                incident_id=incident_id, dated=dated, by_words=by_words)


def item_of(c: ComplaintFields, date_only_sources: frozenset[str] = frozenset(), frame: Frame = NO_FRAME) -> Item:
    """The Item detection works on for a stored complaint; a complaint of a date-only source is dated."""
    return make_item(
        id=c.id, at=c.received_at, user=user_of(c), category=c.category or "other",
        text=f"{c.title or ''} {c.body}", fields={f: getattr(c, f) for f in FIELD_ENTITIES},
        amount=c.amount,
        # Threats of media, court or regulator, and regulator referrals: the reasons severity recorded.
        threat=any(r.startswith(("threat", "regulator")) for r in c.severity_reasons or []),
        incident_id=c.incident_id, dated=c.source in date_only_sources, by_words=bool(c.joined_by_words),
        frame=frame,
    )


def signature(category: str, kind: str, value: str) -> str:
    """The signature string of a group, e.g. category=payment|code=E1001."""
    return f"category={category}|{kind}={value}"


def text_key(skel: str) -> str:
    """A short stable hash of a skeleton, used as the value of text signatures."""
    return hashlib.sha1(skel.encode()).hexdigest()[:12]


def top_phrases(items: list[Item], n: int) -> list[str]:
    """Phrases most users share: Chinese 2-8 character n-grams and English words and word pairs.

    Counted once per user; a phrase inside a longer one with as many users is dropped. Masked text only.
    """
    if n <= 0:
        return []
    by_user: dict[str, set[str]] = {}
    for it in items:
        grams = by_user.setdefault(it.user, set())
        for run in _CJK_RUN_RE.findall(it.text[:500]):
            grams.update(run[i:i + k] for k in range(2, 9) for i in range(len(run) - k + 1))
        words = [w for w in _WORD_RE.findall(it.text) if w not in STOPWORDS]
        grams.update(words)
        grams.update(f"{a} {b}" for a, b in itertools.pairwise(words))
    df = Counter(g for grams in by_user.values() for g in grams)
    least = max(2, len(by_user) // 5)
    ranked = sorted((g for g, k in df.items() if k >= least), key=lambda g: (-df[g], -len(g), g))
    chosen: list[str] = []
    for g in ranked:
        if any(g in c for c in chosen):
            continue
        chosen = [c for c in chosen if not (c in g and df[c] <= df[g])]
        chosen.append(g)
        if len(chosen) >= n:
            break
    return chosen
