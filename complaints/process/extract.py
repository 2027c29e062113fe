"""What a complaint says, as fields: the amounts of money it names (with their currency) and what the user asks
for (a small controlled list), in English and Chinese.

An amount counts only with a currency marker next to it ("$1,280.50", "{$20,000.00}" as the CFPB redacts, "RMB 300",
"2000元", "两万五千元", "3.5万元"), so dates, card tails and phone numbers are never read as money.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import lru_cache

from complaints.core.normalize import fold, keyword_pattern


class Demand(StrEnum):
    """What the user asks for; OTHER when nothing on the list is asked for."""

    REFUND = "refund"
    COMPENSATION = "compensation"
    APOLOGY = "apology"
    EXPLANATION = "explanation"
    UNFREEZE = "unfreeze"
    CANCEL = "cancel"
    OTHER = "other"


# In priority order: when a user asks for several things, the most concrete remedy is the demand ("I don't want an
# apology, I want my money back" is a refund).
DEMAND_WORDS: dict[Demand, tuple[str, ...]] = {
    Demand.UNFREEZE: ("unfreeze", "unblock", "unlock my account", "lift the freeze", "lift the hold",
                      "release my funds", "release the funds", "release the hold", "restore my account",
                      "restore access", "reactivate", "解冻", "解封", "解除冻结", "解除限制", "恢复账户", "恢复账号"),
    Demand.REFUND: ("refund", "refunded", "money back", "reimburse", "reimbursed", "return my money",
                    "give back my money", "chargeback", "退款", "退钱", "退还", "退回", "返还", "退费", "还我钱",
                    "把钱退"),
    Demand.COMPENSATION: ("compensate", "compensation", "compensated", "damages", "pay for the loss", "赔偿",
                          "补偿", "赔付", "赔钱", "损失费"),
    Demand.CANCEL: ("cancel", "cancellation", "close my account", "unsubscribe", "terminate", "取消", "注销",
                    "退订", "解约", "关闭自动扣费", "解除绑定"),
    Demand.APOLOGY: ("apology", "apologise", "apologize", "say sorry", "道歉", "赔礼", "致歉"),
    Demand.EXPLANATION: ("explain", "explanation", "clarify", "tell me why", "want to know why", "解释",
                         "给个说法", "说法", "说清楚", "给个交代", "交代"),
}


@lru_cache(maxsize=1)
def _demand_patterns() -> list[tuple[Demand, re.Pattern[str]]]:
    return [(d, p) for d, words in DEMAND_WORDS.items() if (p := keyword_pattern(words)) is not None]


def demands(text: str) -> list[Demand]:
    """Every listed demand the text makes, most concrete first."""
    folded = fold(text).lower()
    return [d for d, pattern in _demand_patterns() if pattern.search(folded)]


def primary_demand(text: str) -> Demand:
    """The demand stored on the complaint: the most concrete one asked for, else OTHER."""
    found = demands(text)
    return found[0] if found else Demand.OTHER


# --- amounts ----------------------------------------------------------------------------------

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "壹": 1, "二": 2, "两": 2, "贰": 2, "三": 3, "叁": 3, "四": 4, "肆": 4,
              "五": 5, "伍": 5, "六": 6, "陆": 6, "七": 7, "柒": 7, "八": 8, "捌": 8, "九": 9, "玖": 9}
_CN_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_CN_SECTIONS = {"万": 10_000, "亿": 100_000_000}
_CN_CHARS = "".join([*_CN_DIGITS, *_CN_UNITS, *_CN_SECTIONS])
_ARABIC = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
# Arabic digits, Chinese numerals or a mix ("3.5万", "1万2千", "两万五千"), starting with a digit or 十 ("十五元"):
# "几千元", "上万元" (some thousands, tens of thousands) name no amount. Atomic: a run of digits can be cut into
# numbers in exponentially many ways, and an order or phone number with no currency after it would try them all
# (22 digits took 1.8 s; a hostile text could stall ingest).
_NUMBER = rf"(?>(?:{_ARABIC}|[{''.join(_CN_DIGITS)}十拾])(?:{_ARABIC}|[{_CN_CHARS}])*)"

# Markers in folded, lower-cased text -> ISO 4217 code. "¥" is the yuan here: the wallet is Chinese.
_PREFIXES = {"us$": "USD", "hk$": "HKD", "$": "USD", "¥": "CNY", "rmb": "CNY", "cny": "CNY", "usd": "USD",
             "hkd": "HKD", "eur": "EUR", "€": "EUR", "gbp": "GBP", "£": "GBP", "人民币": "CNY"}
_SUFFIXES = {"元": "CNY", "块钱": "CNY", "块": "CNY", "人民币": "CNY", "rmb": "CNY", "cny": "CNY", "yuan": "CNY",
             "美元": "USD", "美金": "USD", "usd": "USD", "dollars": "USD", "dollar": "USD", "港币": "HKD",
             "港元": "HKD", "hkd": "HKD", "欧元": "EUR", "eur": "EUR", "euros": "EUR", "英镑": "GBP", "gbp": "GBP"}
_MAX_AMOUNT = Decimal(10) ** 12  # beyond any wallet's money (sources.yaml's max_amount too): a misread
_MULTIPLIERS = {"k": 1000, "thousand": 1000, "m": 1_000_000, "million": 1_000_000, "万": 10_000, "千": 1000}


def _alternatives(words: dict[str, object]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_AMOUNT_RE = re.compile(
    # "$1,280.50", "RMB 300", "USD 45", "$2k", "US$1.2 million"; Latin markers not inside a word.
    rf"(?<![a-z])(?P<pre>{_alternatives(_PREFIXES)})\s?(?P<pnum>{_ARABIC})"
    rf"(?:\s?(?P<mul>{_alternatives(_MULTIPLIERS)})(?![a-z]))?"
    # "2000元", "两万五千元", "3.5万元", "45 USD", "20 dollars".
    # ... starting where a run of digits or numerals starts (each start inside one would rescan the rest of it).
    rf"|(?<![\d{_CN_CHARS}])(?P<snum>{_NUMBER})\s?(?P<suf>{_alternatives(_SUFFIXES)})(?![a-z])"
)


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str
    start: int  # offsets in the folded text, for showing the evidence
    end: int


def parse_number(text: str) -> Decimal:
    """Arabic, Chinese or mixed numerals: "1,280.50", "两万五千", "3.5万", "一千二百三十", "1万2千". ValueError else."""
    total = section = Decimal(0)
    number: Decimal | None = None
    for token in re.findall(rf"{_ARABIC}|[{_CN_CHARS}]|.", text.replace(" ", "")):
        if token in _CN_DIGITS:
            number = Decimal(_CN_DIGITS[token])
        elif token in _CN_UNITS:
            # "十五" is 15: a unit with no digit before it counts once.
            section += (number if number is not None else Decimal(1)) * _CN_UNITS[token]
            number = None
        elif token in _CN_SECTIONS:
            total = (total + section + (number or 0)) * _CN_SECTIONS[token] if token == "亿" else (
                total + (section + (number or 0)) * _CN_SECTIONS[token])
            section, number = Decimal(0), None
        else:
            try:
                number = Decimal(token.replace(",", ""))
            except InvalidOperation as exc:
                raise ValueError(f"not a number: {text[:40]!r}") from exc
    return total + section + (number or 0)


# --- rates ------------------------------------------------------------------------------------

# The rate a fee is charged at: "0.6%", "0.6 per cent", "6‰", "1,000%"; "百分之零点六", "千分之六", "百分之一百",
# "万分之五", "百分之0.6". A Chinese rate is Chinese numerals or Arabic digits, never both: "千分之六10000元" is
# 0.6% of 10000元.
_PER = {"百分之": Decimal(1), "千分之": Decimal("0.1"), "万分之": Decimal("0.01")}
_D = f"[{''.join(_CN_DIGITS)}]"
# One Chinese numeral up to the hundreds (六, 三十, 一百二十, 零点六), not the amount that may follow: 千分之六一万元.
_CN_RATE = rf"(?:{_D}?百(?:{_D}?十)?{_D}?|{_D}?十{_D}?|{_D})?(?:点{_D}+)?"
_MAX_RATE = Decimal(1000)  # percent: beyond it a misread, not a fee
_RATE_RE = re.compile(
    r"(?<![\d.])(?<!\d,)(?P<num>\d+(?:,\d{3})*(?:\.\d+)?)\s?(?P<unit>%|‰|per\s?cent(?![a-z])|per\s?mille(?![a-z]))"
    rf"|(?P<per>{_alternatives(_PER)})\s?(?:(?P<arabic>\d+(?:\.\d+)?)|(?P<cn>{_CN_RATE}))",
    re.IGNORECASE)


def find_rates(text: str) -> list[Decimal]:
    """The rates a text names, in percent (千分之六, 6‰ and 0.6% are all 0.6), in order of appearance."""
    out = []
    for m in _RATE_RE.finditer(fold(text)):
        if m.group("num"):
            value = Decimal(m.group("num").replace(",", ""))
            per_mille = m.group("unit") == "‰" or m.group("unit").lower().endswith("mille")
            rate = value / 10 if per_mille else value
        elif m.group("arabic"):
            rate = Decimal(m.group("arabic")) * _PER[m.group("per")]
        elif m.group("cn"):
            whole, _, frac = m.group("cn").partition("点")
            value = (parse_number(whole) if whole else Decimal(0)) + (
                Decimal("0." + "".join(str(_CN_DIGITS[ch]) for ch in frac)) if frac else 0)
            rate = value * _PER[m.group("per")]
        else:
            continue
        if rate <= _MAX_RATE:
            out.append(rate.normalize())
    return out


def find_amounts(text: str) -> list[Money]:
    """Every amount of money the text names, in order, rounded to cents; zero amounts are dropped."""
    folded = fold(text).lower()
    found = []
    for m in _AMOUNT_RE.finditer(folded):
        if m.group("pre"):
            amount = parse_number(m.group("pnum")) * _MULTIPLIERS.get(m.group("mul") or "", 1)
            currency = _PREFIXES[m.group("pre")]
        else:
            amount, currency = parse_number(m.group("snum")), _SUFFIXES[m.group("suf")]
        if 0 < amount < _MAX_AMOUNT:
            found.append(Money(amount.quantize(Decimal("0.01")), currency, m.start(), m.end()))
    return found


def claimed_amount(text: str) -> Money | None:
    """The amount at stake: the largest the text names (a complaint about a 20,000 withdrawal that mentions a
    25 fee is about 20,000), or None."""
    return max(find_amounts(text), key=lambda money: money.amount, default=None)
