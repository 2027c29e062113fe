"""Text normalisation: width/whitespace folding, language, amounts, a hash for exact dedupe."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from decimal import Decimal, InvalidOperation

_WS_RE = re.compile(r"\s+")
_ZERO_WIDTH_RE = re.compile("[\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
_CJK_RE = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN_RE = re.compile(r"[A-Za-z]")
_PUNCT_SPACE_RE = re.compile(r"[\W_]+", re.UNICODE)
_AMOUNT_RE = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?")
_CURRENCY_HINTS = {"¥": "CNY", "￥": "CNY", "元": "CNY", "rmb": "CNY", "cny": "CNY", "$": "USD", "usd": "USD"}


def fold(text: str) -> str:
    """NFKC folds full-width letters, digits and punctuation to half-width; whitespace collapses."""
    text = _ZERO_WIDTH_RE.sub("", unicodedata.normalize("NFKC", text))
    return _WS_RE.sub(" ", text).strip()


_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_BLANK_LINES_RE = re.compile(r"\n\s*\n\s*\n+")


# What people and agents type into an identifier field when they have none to give, compared with punctuation and
# spaces removed (N/A, #N/A, N / A, (null), 暂无。): as a key it would make every stranger who typed it one person.
_PLACEHOLDER_WORDS = frozenset({
    "na", "nan", "none", "null", "nil", "undefined", "unknown", "anonymous", "test", "noemail", "nomail", "noreply",
    "nobody", "empty", "blank", "无", "暂无", "没有", "未知", "不详", "不知道", "空", "匿名", "无号码", "无账号",
    "暂无账号", "未提供", "不提供", "客户未提供", "未填", "未填写",
})
# Before an at sign, only the words nobody is named (Na and Nan are given names: na@163.com is someone).
_NAME_WORDS = frozenset({"none", "null", "undefined", "unknown", "anonymous", "test", "noemail", "nomail", "noreply",
                         "nobody"})
_NO_VALUE_RE = re.compile(r"[\W_xX0*]*")  # -, 0, 000000, xxx, ***
_SEQUENCE = "01234567890123456789"


def placeholder(value: str) -> bool:
    """Whether an identifier as typed stands for none: a word for none whatever its punctuation, only dashes, zeros, x
    or stars, or an address whose name is such a word or three or more x or zeros (none@qq.com, no.email@…,
    xxx@xxx.com; x@xiaomi.com is someone). A phone number's own placeholders are placeholder_number's; an account id
    of digits is never one by its digits (1111111 may be an account)."""
    folded = fold(value).lower()  # squeezed below without folding again (ingest asks for every identifier)
    if _NO_VALUE_RE.fullmatch(folded) or _PUNCT_SPACE_RE.sub("", folded) in _PLACEHOLDER_WORDS:
        return True
    name, at, _ = folded.partition("@")
    return bool(at) and (_PUNCT_SPACE_RE.sub("", name) in _NAME_WORDS
                         or (len(name) >= 3 and _NO_VALUE_RE.fullmatch(name) is not None))


def placeholder_number(digits: str) -> bool:
    """Whether a phone number's digits (national: no 0086 or +86) stand for none: seven zeros or more after its
    prefix (a mobile's first three digits, a landline's area code: 138 0000 0000, 0755-0000 0000; not 139 1000 0000
    or 010-80000000), ten or more of one digit or counting up or down (11111111111, 12345678901), or 13800138000 (the
    operator's own number, typed as a sample). Shorter runs are real landlines (88888888)."""
    if digits.startswith("1") and len(digits) == 11:
        rest = digits[3:]
    elif digits.startswith("0"):
        rest = digits[3:] if digits[1:2] in ("1", "2") else digits[4:]  # 010, 021 / 0755
    else:  # +86 and a landline without its trunk 0 (+86 10 …, +86 755 …), or 86 kept before one
        rest = digits[2:] if digits[:1] in ("1", "2") else digits[3:]
    return (len(rest) >= 7 and set(rest) == {"0"}) or digits == "13800138000" or (
        len(digits) >= 10 and (len(set(digits)) == 1 or digits in _SEQUENCE or digits in _SEQUENCE[::-1]))


def account_ref(value: str | None) -> str | None:
    """A customer reference as one key: width-folded, trimmed, upper case (None for a placeholder). People type
    their account into a web form as " w607075546 " where the app sends W607075546: one account, one person for
    dedupe, history and erasure. Spaces inside stay (one each): a field that holds other words than a reference
    keeps its numbers apart, for masking to find them."""
    folded = fold(_CONTROL_RE.sub("", value)).upper() if value else ""
    return folded if folded and not placeholder(folded) else None


def account_refs(value: str) -> set[str]:
    """What a customer reference someone types is looked up as: its one form, and as typed (a row stored before
    that form, Alembic 0014, kept a reference it could not convert); none for a placeholder (rows stored before
    that rule may share it: strangers)."""
    return set() if placeholder(value) else {ref for ref in (value.strip(), account_ref(value)) if ref}


def tidy(text: str, *, single_line: bool = False) -> str:
    """Clean user text for storage while keeping what the user wrote (Chinese punctuation included):
    drop zero-width and control characters, unify line breaks, trim. fold() is for matching only."""
    text = _ZERO_WIDTH_RE.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    if single_line:
        return _WS_RE.sub(" ", _CONTROL_RE.sub(" ", text)).strip()
    return _BLANK_LINES_RE.sub("\n\n", _CONTROL_RE.sub(" ", text)).strip()


def detect_language(text: str) -> str:
    """'zh' when Chinese characters are a fair share of the letters, else 'en'."""
    cjk = len(_CJK_RE.findall(text))
    latin = len(_LATIN_RE.findall(text))
    return "zh" if cjk and cjk * 3 >= latin else "en"


def squeeze(text: str) -> str:
    """The text with case, width, punctuation (Chinese or English) and spaces removed, for matching."""
    return _PUNCT_SPACE_RE.sub("", fold(text).lower())


def text_hash(text: str) -> str:
    """Hash of the squeezed text: equal for trivial variants."""
    return hashlib.sha256(squeeze(text).encode()).hexdigest()


def parse_amount(value: object) -> tuple[Decimal | None, str | None]:
    """Parse '¥1,234.50', '1234元', '{$1000.00}', 88 into (amount, currency). Raises ValueError if unreadable."""
    if value is None:
        return None, None
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value)).quantize(Decimal("0.01")), None
    text = fold(str(value)).lower()
    if text in ("", "nan", "none", "-"):
        return None, None
    currency = next((code for hint, code in _CURRENCY_HINTS.items() if hint in text), None)
    m = _AMOUNT_RE.search(text)
    if not m:
        raise ValueError(f"not an amount: {str(value)[:50]!r}")
    try:
        amount = Decimal(m.group(0).replace(",", "")).quantize(Decimal("0.01"))
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {str(value)[:50]!r}") from exc
    return amount, currency


def keyword_pattern(words: tuple[str, ...] | list[str]) -> re.Pattern[str] | None:
    """One regex for a keyword list, matched against fold(text).lower().

    English words match on word boundaries ("sue" must not fire inside "issue"); Chinese ones
    anywhere, since Chinese is written without spaces. Longest first within each kind, English words
    first (as when every word carried its own boundaries); the boundaries are written once around all
    English words, which makes matching about 3x faster than one alternative per word.
    """
    folded = [fold(w).lower() for w in words if w.strip()]
    anywhere = [w for w in folded if _CJK_RE.search(w) or not w[:1].isalnum()]
    bounded = [w for w in folded if w not in anywhere]

    def longest_first(ws: list[str]) -> str:
        return "|".join(sorted(map(re.escape, ws), key=len, reverse=True))

    parts = ([rf"(?<![a-z0-9])(?:{longest_first(bounded)})(?![a-z0-9])"] if bounded else []) + (
        [longest_first(anywhere)] if anywhere else [])
    return re.compile("|".join(parts)) if parts else None
