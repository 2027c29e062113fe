"""Map a connector's raw record to the canonical complaint fields, or say why it cannot be."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from complaints.core.config import IngestLimits, SourceSpec, TransactionSourceSpec
from complaints.core.normalize import account_ref, detect_language, fold, parse_amount, placeholder, text_hash, tidy
from complaints.core.pii import contact_key, mask_contact, national_digits, no_one
from complaints.core.records import BadRecord, IncomingComplaint, RawRecord
from complaints.process.extract import claimed_amount, primary_demand

# Real regulator narratives run past 20,000 characters; beyond this a "complaint" is a pasted dump.
MAX_BODY_CHARS = 50_000
MAX_FIELD_CHARS = {
    "external_id": 200, "currency": 3, "title": 500, "customer_ref": 200,
    "contact": 320, "merchant": 200, "product": 200, "region": 100,
}
DEFAULT_LIMITS = IngestLimits()
_SURROGATE = re.compile("[\ud800-\udfff]")


Mapped = SourceSpec | TransactionSourceSpec  # a spec with `mapping` and `defaults`


def field_value(spec: Mapped, data: dict[str, Any], field: str) -> str | None:
    """First non-empty of the mapped columns ("a|b"), else the configured default; for a person's identifier
    (contact, customer_ref), the first that is not what is typed for none (the next column's phone when the email
    column says 无)."""
    value = raw_field_value(spec, data, field)
    return None if value is None else str(value)


IDENTIFIER_FIELDS = ("contact", "customer_ref")


def _number(value: str) -> str | None:
    """A phone number's national significant digits (no 0086 / +86, no trunk 0: +86 21 6123 4567, 0086 21 61234567
    and 021-61234567 alike), None for a value that is not a number alone."""
    folded = fold(value)
    if len(re.sub(r"\D", "", folded)) < 7 or re.search(r"[^\d\s()+./-]", folded):
        return None
    digits = national_digits(folded)
    if folded.lstrip("( ").startswith("+86") and digits.startswith("86"):  # +86 before a landline
        digits = digits[2:]
    return digits.removeprefix("0")


@lru_cache(maxsize=256)
def _declared(values: tuple[str, ...]) -> tuple[frozenset[str], frozenset[str]]:
    """A source's not_identifiers: as numbers (_number) and as written (folded, upper case)."""
    return (frozenset(n for value in values if (n := _number(value))),
            frozenset(fold(value).upper() for value in values))


def names_no_one(spec: Mapped, field: str, value: str) -> bool:
    """Whether an identifier as typed stands for none: a placeholder (a contact: complaints.core.pii.no_one; a
    reference: complaints.core.normalize.placeholder), or a value the source's sources.yaml `not_identifiers` lists
    (its switchboard number, typed for every caller)."""
    if no_one(value) if field == "contact" else placeholder(value):
        return True
    if not spec.not_identifiers:
        return False
    numbers, written = _declared(tuple(spec.not_identifiers))
    return fold(value).upper() in written or (field == "contact" and _number(value) in numbers)


def raw_field_value(spec: Mapped, data: dict[str, Any], field: str) -> Any:
    """As field_value, but the value as the source typed it (a JSON number stays a number: 1e300 is not "1e+300")."""
    columns = spec.mapping.get(field)
    if columns:
        for column in columns.split("|"):
            value = data.get(column)
            if value is not None and str(value).strip() != "" and not (
                    field in IDENTIFIER_FIELDS and names_no_one(spec, field, str(value))):
                return value
    return spec.defaults.get(field)


def parse_received_at(value: str, spec: Mapped, field: str = "received_at") -> datetime:
    """Parse with the source's date format (or ISO 8601); naive times are in the source's timezone. `field` names
    the field in the error."""
    try:
        return _parse_datetime(value, spec.date_format, spec.timezone)
    except ValueError as exc:
        expected = spec.date_format or "ISO 8601"
        raise ValueError(f"unparseable {field} {value[:40]!r} (expected {expected})") from exc


@lru_cache(maxsize=65_536)
def _parse_datetime(value: str, date_format: str | None, timezone: str) -> datetime:
    # Cached: exports repeat timestamps (minute resolution), and strptime is the costliest step per row.
    text = fold(value)
    if date_format:
        parsed = datetime.strptime(text, date_format)
    else:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(timezone))


def raw_text(rec: RawRecord) -> str:
    """The record as the quarantine keeps it: JSON, lone surrogates (not encodable, so not storable) escaped."""
    return json.dumps(rec.data, ensure_ascii=False, default=str).encode("utf-8", "backslashreplace").decode()


_ID_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def identifier_problem(value: str, field: str, column: str | None, limit: int) -> str | None:
    """Why a record's identifier (external_id, transaction_id, as fold() left it: whitespace already collapsed)
    cannot key it, None if it can: empty, longer than its column once folded (NFKC can lengthen a value), or
    holding a control character (PostgreSQL refuses NUL in text)."""
    if not value:
        return f"missing {field} (column {column!r} is empty)"
    if len(value) > limit:
        return f"{field} too long: {len(value)} characters (limit {limit})"
    if found := _ID_CONTROL_RE.search(value):
        return f"{field} contains a control character ({found.group()!r} at position {found.start()})"
    return None


def hostile_value(data: dict[str, Any], limits: IngestLimits) -> str | None:
    """Why the raw record cannot be stored as it is (None if it can): a NaN or infinite number (the PostgreSQL
    json column refuses them), nesting deeper than the limit, a lone surrogate (not encodable as UTF-8), or a
    record larger than the limit. Walked iteratively: a deep value must not exhaust the stack here either."""
    size = 0
    stack: list[tuple[str, Any, int]] = [(str(k), v, 1) for k, v in data.items()]
    while stack:
        field, value, depth = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return f"non-finite number {value} in field {field[:60]!r}"
        if isinstance(value, str):
            size += len(value)
            if _SURROGATE.search(value):
                return f"invalid Unicode (lone surrogate) in field {field[:60]!r}"
        elif isinstance(value, dict | list):
            if depth >= limits.max_nesting:
                return f"nested deeper than {limits.max_nesting} levels in field {field[:60]!r}"
            items = value.items() if isinstance(value, dict) else enumerate(value)
            stack.extend((field, v, depth + 1) for _, v in items)
            size += sum(len(str(k)) for k in value) if isinstance(value, dict) else 0
        if size > limits.max_raw_chars:
            return f"record too large: over {limits.max_raw_chars} characters"
    return None


def check_received_at(value: datetime, limits: IngestLimits, now: datetime, field: str = "received_at") -> str | None:
    """Why a received_at (or another time, named by `field`) is implausible (None if it is in the configured
    window)."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError:  # year 1 east of UTC, year 9999 west of it
        return (f"{field} {value.isoformat()[:40]} outside the plausible window "
                f"({limits.received_not_before} to {limits.received_max_future_days} days ahead)")
    earliest = datetime.combine(limits.received_not_before, datetime.min.time(), UTC)
    latest = now + timedelta(days=limits.received_max_future_days)
    if utc < earliest:
        return f"{field} {utc.date()} before {limits.received_not_before} (sources.yaml limits)"
    if utc > latest:
        return f"{field} {utc.date()} more than {limits.received_max_future_days} days in the future"
    return None


def bounded_amount(value: object, limits: IngestLimits) -> tuple[Decimal | None, str | None]:
    """parse_amount, bounded by the limit (the column holds 16 integer digits); ValueError says why not."""
    try:
        amount, currency = parse_amount(value)
    except ArithmeticError:  # decimal's InvalidOperation: more digits than a Decimal holds
        amount, currency = None, None
    else:
        if amount is None or (amount.is_finite() and abs(amount) <= limits.max_amount):
            return amount, currency
    raise ValueError(f"amount {str(amount if amount is not None else value)[:30]} out of range "
                     f"(limit {limits.max_amount:,.0f})")


def map_record(spec: SourceSpec, rec: RawRecord, pii_key: str, limits: IngestLimits = DEFAULT_LIMITS,
               now: datetime | None = None) -> IncomingComplaint | BadRecord:
    """A raw record mapped and validated into an IncomingComplaint, else a BadRecord saying why.
    `now` (default: the clock) bounds received_at in the future."""
    def bad(reason: str) -> BadRecord:
        return BadRecord(source=spec.name, location=rec.location, reason=reason, raw=raw_text(rec))

    if rec.error:
        return bad(rec.error)
    hostile = hostile_value(rec.data, limits)
    if hostile:
        return bad(hostile)
    fields = {f: field_value(spec, rec.data, f) for f in spec.mapping.keys() | spec.defaults.keys()}
    external_id = fold(fields.get("external_id") or "")
    if problem := identifier_problem(external_id, "external_id", spec.mapping.get("external_id"),
                                      MAX_FIELD_CHARS["external_id"]):
        return bad(problem)
    body = tidy(fields.get("body") or "")
    if not body:
        return bad(f"missing body (column {spec.mapping.get('body')!r} is empty)")
    if len(body) > MAX_BODY_CHARS:
        return bad(f"body too long: {len(body)} characters (limit {MAX_BODY_CHARS})")
    # Stored in one form, measured as stored (width folding can lengthen it).
    fields["customer_ref"] = account_ref(fields.get("customer_ref"))
    for name, limit in MAX_FIELD_CHARS.items():
        value = fields.get(name)
        if value and len(value) > limit:
            return bad(f"{name} too long: {len(value)} characters (limit {limit})")
    if not fields.get("received_at"):
        return bad(f"missing received_at (column {spec.mapping.get('received_at')!r} is empty)")
    try:
        received_at = parse_received_at(fields["received_at"] or "", spec)
        amount, currency = bounded_amount(raw_field_value(spec, rec.data, "amount"), limits)
    except ValueError as exc:
        return bad(str(exc))
    implausible = check_received_at(received_at, limits, now or datetime.now(UTC))
    if implausible:
        return bad(implausible)

    def clean(name: str) -> str | None:
        # Single-line: no field but the body can smuggle a line break into an email header.
        value = fields.get(name)
        return tidy(value, single_line=True) or None if value is not None else None

    title = clean("title")
    contact = clean("contact")
    text = f"{title or ''} {body}"
    language = clean("language") or detect_language(text)
    if amount is None and (named := claimed_amount(text)) and abs(named.amount) <= limits.max_amount:
        # No amount column, or an empty one: the amount the text names ("My withdrawal of {$20,000.00}").
        amount, currency = named.amount, named.currency
    return IncomingComplaint(
        source=spec.name,
        external_id=external_id,
        received_at=received_at,
        channel=clean("channel") or spec.channel,
        body=body,
        text_hash=text_hash(body),
        language="zh" if language.lower().startswith("zh") else "en",
        customer_ref=fields["customer_ref"],
        contact=contact,
        contact_masked=mask_contact(contact) if contact else None,
        contact_key=contact_key(contact, pii_key),
        title=title,
        amount=amount,
        currency=(clean("currency") or currency or ("CNY" if language == "zh" else None)) if amount else None,
        demand=primary_demand(text).value,
        merchant=clean("merchant"),
        product=clean("product"),
        region=clean("region"),
        raw=rec.data,
        location=rec.location,
        files=rec.files,
    )
