"""Personal data: find phone, ID-card, bank-card, SSN numbers and emails in text; mask them; hash contacts.

Masked copies are what logs, artifacts, exports and reports show. The keyed hash of a contact
lets dedupe match the same person across channels without storing the value in clear there.

Detection works on a normalised copy of the text: fullwidth and other Unicode digits, letters, at signs, dots
and dashes folded to ASCII (NFKC plus the dash and space classes), invisible format characters dropped. Spans
found there are mapped back to the original text, which is masked in place, so nothing else of it changes.
Digit runs (digit groups joined by spaces, dots, dashes or brackets) are read group by group: a run of
contiguous groups is an ID-card number when it passes the GB 11643 checksum and holds a real birth date
(python-stdnum), a bank card when it passes Luhn, a mobile or US phone or SSN when it has their shape.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import logging
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from stdnum import luhn
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from complaints.core.normalize import placeholder, placeholder_number

# The local part starts with no dot, so the full stop of a sentence stays outside it; the domain may be written
# with ideographic full stops (example。com) and ends in a top-level name of letters (or an xn-- one), not the
# next address's local part, so a number or address after a full stop is not part of it, nor is a phone number
# written straight after it (a@b.com13912345678: the masked address keeps its domain).
EMAIL_RE = re.compile(r"(?<![A-Za-z0-9_%+-])(?<![A-Za-z0-9_%+-]\.)([A-Za-z0-9_%+-][A-Za-z0-9._%+-]{0,63})"
                      r"@([A-Za-z0-9-]+(?:[.\u3002\uff61][A-Za-z0-9-]+)*[.\u3002\uff61]"
                      r"(?:[Xx][Nn]--[A-Za-z0-9-]*[A-Za-z]|[A-Za-z]+))"
                      r"(?![A-Za-z0-9_%+-]*@)")
# A whole mainland mobile number, optionally with +86 / 0086 and separators (recipient validation).
PHONE_RE = re.compile(r"(?<!\d)(?:(?:\+|00)86[ -]?)?(1[3-9]\d)[ -]?(\d{4})[ -]?(\d{4})(?!\d)")

# Digit groups and what may join them inside one number: a space, a dot or dash (spaces around allowed), brackets.
_GROUP = r"[0-9]+[Xx]?"  # X: the check character of an ID-card number
_GROUP_RE = re.compile(_GROUP)
_RUN_RE = re.compile(rf"[+(]?{_GROUP}(?:(?: {{0,2}}[.\-] {{0,2}}|[ ()]{{1,3}}){_GROUP})*")
_MOBILE_RE = re.compile(r"(?:0086|86)?(1[3-9][0-9]{9})")
_NANP_RE = re.compile(r"1?([2-9][0-9]{2}[2-9][0-9]{6})")
# A bare 10-digit US number or 9-digit SSN is only personal data next to words saying so.
_PHONE_WORDS = re.compile(
    r"(?:phone|call|tel|mobile|cell|text me|reach me|whatsapp|电话|手机|联系)\W{0,3}[^0-9]{0,12}$", re.IGNORECASE)
_SSN_WORDS = re.compile(r"(?:ssn|social security(?: number| no)?|taxpayer id|itin)\W{0,3}[^0-9]{0,12}$", re.IGNORECASE)
_MIN_DIGITS = 9  # the shortest personal number (SSN); shorter runs are never read
# A masked address keeps its domain, but not a number in it (a@13912345678.com); 163.com and 126.com stay.
_LONG_DIGITS = re.compile(r"[0-9]{5,}")


def _fold_table() -> tuple[dict[int, str], re.Pattern[str]]:
    """Per character: its ASCII reading for matching ('' for invisible format characters); and a class of the
    characters whose reading is not one character long (the text then needs an index map)."""
    table: dict[int, str] = {}
    keep = set("0123456789@.-+()%_ ") | set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    extra = [*range(0x1D400, 0x1D800), *range(0x1FBF0, 0x1FBFA)]  # mathematical letters and digits, segmented digits
    for cp in (*range(0x80, 0x10000), *extra):
        ch = chr(cp)
        cat = unicodedata.category(ch)
        if cat in ("Cs", "Cn", "Co"):
            continue
        digit = unicodedata.decimal(ch, None)
        if digit is not None:
            table[cp] = str(digit)
        elif cat == "Cf":
            table[cp] = ""  # zero-width spaces and joiners, soft hyphen, bidi marks: invisible, so skipped
        elif cat == "Pd" or ch == "\u2212":
            table[cp] = "-"
        elif cat == "Zs":
            table[cp] = " "
        else:
            folded = unicodedata.normalize("NFKC", ch)
            if folded != ch and folded and set(folded) <= keep:
                table[cp] = folded
    uneven = "".join(re.escape(chr(cp)) for cp, v in table.items() if len(v) != 1)
    return table, re.compile(f"[{uneven}]")


_FOLD, _UNEVEN = _fold_table()


def _normalise(text: str) -> tuple[str, list[int] | None]:
    """The text as matched, and for each of its characters the index in `text` (None when they coincide)."""
    if text.isascii():
        return text, None
    if not _UNEVEN.search(text):
        return text.translate(_FOLD), None
    chars: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        folded = _FOLD.get(ord(ch), ch)
        chars.append(folded)
        index.extend([i] * len(folded))
    return "".join(chars), index


@dataclass(frozen=True, order=True)
class Finding:
    """One personal value: its span in the original text, its kind, and the masked form that replaces it."""

    start: int
    end: int
    kind: str
    masked: str


def valid_id_number(value: str) -> bool:
    """Mainland 18-digit resident ID: the GB 11643 checksum of the first 17 and a real birth date. The birth
    place is not checked: stdnum's region table trails new codes, and a real ID must never pass unmasked."""
    value = value.upper()
    if not re.fullmatch(r"[0-9]{17}[0-9X]", value):
        return False
    try:
        return ric.calc_check_digit(value) == value[17] and bool(ric.get_birth_date(value))
    except ValidationError:
        return False


def luhn_ok(digits: str) -> bool:
    """True when the digits pass the Luhn check, as bank-card numbers do."""
    return digits.isdigit() and luhn.is_valid(digits)


def _mask_mobile(digits: str) -> str:
    return f"{digits[:3]}****{digits[-4:]}"


def _card_grouping(sizes: list[int]) -> bool:
    """Groups as card numbers are written: fours (the last one up to four), Amex's 4-6-5, Diners' 4-6-4, or
    UnionPay's 6-13; a mobile after a card-like prefix (0001 0086 13900000000) is not one."""
    return (all(size == 4 for size in sizes[:-1]) and sizes[-1] <= 4) or sizes in ([4, 6, 5], [4, 6, 4], [6, 13])


def _phone(groups: list[str], seps: list[str], lead: str, context: tuple[str, ...]) -> str | None:
    """Masked form of a mainland mobile or US phone number written as these groups, else None. Groups are as
    phones are written (3 digits or more each, or one digit each); a US number needs more than spaces to say it is
    one (brackets, dashes, dots, a leading +) or a word such as "call" before it, as 250 300 1000 may be amounts."""
    digits = "".join(groups)
    body = groups[1:] if len(groups) > 1 and groups[0] in ("1", "86", "0086") else groups
    if not (all(len(g) >= 3 for g in body) or all(len(g) == 1 for g in body)):
        return None  # 192.168.10.100 and 13.5.2026 12:00 are no phones
    nanp = _NANP_RE.fullmatch(digits)
    us = nanp is not None and (any(s != " " for s in seps) or lead in ("+", "(")
                               or any(_PHONE_WORDS.search(c) for c in context))
    mobile = _MOBILE_RE.fullmatch(digits)
    if mobile and not (us and groups[0] == "1"):  # +1 415 555 0199 is American, though 141... is a mobile prefix
        return _mask_mobile(mobile.group(1))
    return _mask_mobile(nanp.group(1)) if us and nanp else None


def _classify(groups: list[str], seps: list[str], lead: str, context: tuple[str, ...]) -> tuple[str, str] | None:
    """(kind, masked) of the number written as these contiguous groups, or None if it is no personal number."""
    digits = "".join(groups)
    n = len(digits)
    if n == 18 and valid_id_number(digits):
        return "id_number", f"{digits[:3]}{'*' * 11}{digits[-4:].upper()}"
    if not digits.isdigit():
        return None
    sizes = [len(g) for g in groups]
    if 13 <= n <= 19 and luhn_ok(digits) and (len(groups) == 1 or _card_grouping(sizes)):
        return "bank_card", f"{digits[:4]} **** **** {digits[-4:]}"
    if n == 9 and ((sizes == [3, 2, 4] and len(set(seps)) == 1 and seps[0] in "- ")
                   or (len(groups) == 1 and any(_SSN_WORDS.search(c) for c in context))):
        return "ssn", f"***-**-{digits[-4:]}"
    phone = _phone(groups, seps, lead, context)
    return ("phone", phone) if phone else None


def _readings(norm: str, blanked: str, run: re.Match[str]) -> Iterator[tuple[int, int, str, int, int, str]]:
    """Every personal reading of contiguous groups of one digit run (found in `blanked`, norm with the addresses
    found blanked out): (rank, -digits, kind, start, end, masked)."""
    groups = list(_GROUP_RE.finditer(norm, run.start(), run.end()))
    texts = [g.group() for g in groups]
    seps = [norm[a.end():b.start()].strip() or " " for a, b in itertools.pairwise(groups)]
    for i in range(len(groups)):
        lead = norm[run.start()] if i == 0 and not norm[run.start()].isdigit() else ""
        if lead == "(" and not (seps and seps[0].startswith(")")):
            lead = ""  # a bracket opening the sentence, not an area code's
        start = groups[i].start() - len(lead)
        # The words before it, as written and with the addresses found blanked ("tel a1@b.com 4155550199").
        context = tuple(text[max(0, start - 40):start] for text in (norm, blanked))
        length = 0
        for j in range(i, len(groups)):
            length += len(texts[j])
            if length > 19:
                break
            part = texts[i:j + 1]
            hit = _classify(part, seps[i:j], lead, context) if length >= _MIN_DIGITS else None
            end = groups[j].end()
            if hit is None and part[-1][-1] in "Xx":  # 13912345678x: the x is a letter after the number
                part[-1], end = part[-1][:-1], end - 1
                hit = _classify(part, seps[i:j], lead, context) if length > _MIN_DIGITS else None
            if hit:
                yield 0 if hit[0] in ("id_number", "bank_card") else 1, -length, hit[0], start, end, hit[1]


def _inside_token(norm: str, start: int, end: int) -> bool:
    """Digits with a Latin letter right before and right after them are part of an identifier (a hex hash, a
    run id: c18100564509c364), not a number someone wrote."""
    return start > 0 and end < len(norm) and norm[start - 1].isascii() and norm[start - 1].isalpha() \
        and norm[end].isascii() and norm[end].isalpha()


def _numbers(norm: str, taken: list[tuple[int, int]]) -> Iterator[tuple[str, int, int, str]]:
    """Personal numbers in the normalised text: (kind, start, end, masked), none overlapping `taken` or each other.
    In a run of groups the longest checksummed reading wins, then the longest by shape. Runs are found with the
    taken spans blanked out: "(200) 200-0000(0a@0.com" is a phone, then an address, not one run ending in a
    letter (an identifier's digits); the words before a number are read both ways."""
    chars = list(norm)
    for s, e in taken:
        chars[s:e] = "#" * (e - s)
    blanked = "".join(chars)
    for run in _RUN_RE.finditer(blanked):
        if sum(ch.isdigit() for ch in run.group()) < _MIN_DIGITS or _inside_token(blanked, run.start(), run.end()):
            continue
        chosen: list[tuple[int, int]] = []
        for _rank, _length, kind, start, end, masked in sorted(_readings(norm, blanked, run)):
            if not any(start < e and s < end for s, e in chosen + taken):
                chosen.append((start, end))
                yield kind, start, end, masked


def find(text: str | None) -> list[Finding]:
    """Every personal value in the text, in order of position, with spans in the original text."""
    if not text:
        return []
    norm, index = _normalise(text)
    hits = [("email", m.start(), m.end(), f"{m.group(1)[0]}***@{_LONG_DIGITS.sub('***', m.group(2))}")
            for m in EMAIL_RE.finditer(norm)]
    hits += list(_numbers(norm, [(s, e) for _, s, e, _ in hits]))
    if index is None:
        return sorted(Finding(s, e, k, m) for k, s, e, m in hits)
    return sorted(Finding(index[s], index[e - 1] + 1, k, m) for k, s, e, m in hits)


def mask_text(text: str | None) -> str:
    """Mask every email, ID-card, bank-card, mobile and US phone and SSN number in free text."""
    if not text:
        return text or ""
    out, pos = [], 0
    for f in find(text):
        out += [text[pos:f.start], f.masked]
        pos = f.end
    out.append(text[pos:])
    return "".join(out)


def mask_contact(value: str | None) -> str | None:
    """The masked form of a value known to be a contact: as mask_text masks it, or, when mask_text sees nothing
    personal in it (a bare 10-digit US number, a non-ASCII address), its ends only."""
    if not value:
        return value
    masked = mask_text(value)
    if masked != value:
        return masked
    kept = value.strip()
    return f"{kept[:2]}***{kept[-2:]}" if len(kept) > 6 else "***"


def find_pii(text: str) -> dict[str, int]:
    """Counts of each kind of personal data found in text."""
    counts = dict.fromkeys(("email", "phone", "id_number", "bank_card", "ssn"), 0)
    for f in find(text):
        counts[f.kind] += 1
    return counts


def normalise_contact(value: str) -> str | None:
    """Canonical form of an email address (or of a value with an at sign: it stands for one) or a phone number, or
    None if it is neither or stands for no one (no_one)."""
    value = unicodedata.normalize("NFKC", value).strip()
    if no_one(value):
        return None
    if "@" in value:  # an address, or what stands for one: never its digits alone (x@y.com1234567, z@w.org1234567)
        return value.lower()
    digits = national_digits(value)
    return digits if len(digits) >= 7 else None


def national_digits(value: str) -> str:
    """A phone number's digits without 0086, or 86 before a mobile's eleven."""
    digits = re.sub(r"\D", "", value)
    if digits.startswith("0086"):
        return digits[4:]
    return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits


# A masked value: 138****1234, 138*1234, 138xxxx1234, 138××××1234, z***@qq.com (not 61234567x89, an extension).
_MASKED_RE = re.compile(r"\*\*|\d(?:[*×#]+|[xX]{2,})\d")


def no_one(contact: str) -> bool:
    """Whether a contact as typed stands for no one: a placeholder (N/A, none@qq.com), a masked number or address
    (138****1234, z***@qq.com: many people's), or a number that is one however it is written (00000000000,
    tel:13800138000: placeholder_number)."""
    value = unicodedata.normalize("NFKC", contact).strip()
    if not value:
        return False
    if placeholder(value) or _MASKED_RE.search(value):
        return True
    digits = national_digits(value)
    return "@" not in value and len(digits) >= 7 and placeholder_number(digits)


def contact_key(value: str | None, secret: str) -> str | None:
    """Keyed hash of a normalised contact: matches a person across channels, reveals nothing."""
    if not value:
        return None
    norm = normalise_contact(value)
    if norm is None:
        return None
    return hmac.new(secret.encode(), norm.encode(), hashlib.sha256).hexdigest()[:32]


def is_email(value: str | None) -> bool:
    """True when the value, stripped, is a whole email address."""
    return bool(value) and EMAIL_RE.fullmatch(value.strip()) is not None  # type: ignore[union-attr]


class MaskingFilter(logging.Filter):
    """Logging filter that masks personal data in every record it passes: the message, and the traceback and stack
    a handler would print (a database error quotes the row it refused)."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            # Formatters print exc_text when it is set instead of formatting exc_info again.
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


def install_log_masking(*logger_names: str) -> None:
    """Attach the masking filter to the handlers of the given loggers (root by default)."""
    names = logger_names or ("",)
    filt = MaskingFilter()
    for name in names:
        logger = logging.getLogger(name)
        for handler in logger.handlers:
            if not any(isinstance(f, MaskingFilter) for f in handler.filters):
                handler.addFilter(filt)
