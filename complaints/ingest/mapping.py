"""Map a connector's raw record to the canonical complaint fields, or say why it cannot be."""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from complaints.core.config import SourceSpec
from complaints.core.normalize import detect_language, fold, parse_amount, text_hash, tidy
from complaints.core.pii import contact_key, mask_text
from complaints.core.records import BadRecord, IncomingComplaint, RawRecord
from complaints.process.extract import claimed_amount, primary_demand

# Real regulator narratives run past 20,000 characters; beyond this a "complaint" is a pasted dump.
MAX_BODY_CHARS = 50_000
MAX_FIELD_CHARS = {
    "external_id": 200, "currency": 3, "title": 500, "customer_ref": 200,
    "contact": 320, "merchant": 200, "product": 200, "region": 100,
}


def _value(spec: SourceSpec, data: dict[str, Any], field: str) -> str | None:
    """First non-empty of the mapped columns ("a|b"), else the configured default."""
    columns = spec.mapping.get(field)
    if columns:
        for column in columns.split("|"):
            value = data.get(column)
            if value is not None and str(value).strip() != "":
                return str(value)
    return spec.defaults.get(field)


def parse_received_at(value: str, spec: SourceSpec) -> datetime:
    """Parse with the source's date format (or ISO 8601); naive times are in the source's timezone."""
    try:
        return _parse_datetime(value, spec.date_format, spec.timezone)
    except ValueError as exc:
        expected = spec.date_format or "ISO 8601"
        raise ValueError(f"unparseable received_at {value[:40]!r} (expected {expected})") from exc


@lru_cache(maxsize=65_536)
def _parse_datetime(value: str, date_format: str | None, timezone: str) -> datetime:
    # Cached: exports repeat timestamps (minute resolution), and strptime is the costliest step per row.
    text = fold(value)
    if date_format:
        parsed = datetime.strptime(text, date_format)
    else:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(timezone))


def _raw_text(rec: RawRecord) -> str:
    return json.dumps(rec.data, ensure_ascii=False, default=str)


def map_record(spec: SourceSpec, rec: RawRecord, pii_key: str) -> IncomingComplaint | BadRecord:
    """A raw record mapped and validated into an IncomingComplaint, else a BadRecord saying why."""
    def bad(reason: str) -> BadRecord:
        return BadRecord(source=spec.name, location=rec.location, reason=reason, raw=_raw_text(rec))

    if rec.error:
        return bad(rec.error)
    fields = {f: _value(spec, rec.data, f) for f in spec.mapping.keys() | spec.defaults.keys()}
    external_id = fold(fields.get("external_id") or "")
    if not external_id:
        return bad(f"missing external_id (column {spec.mapping.get('external_id')!r} is empty)")
    body = tidy(fields.get("body") or "")
    if not body:
        return bad(f"missing body (column {spec.mapping.get('body')!r} is empty)")
    if len(body) > MAX_BODY_CHARS:
        return bad(f"body too long: {len(body)} characters (limit {MAX_BODY_CHARS})")
    for name, limit in MAX_FIELD_CHARS.items():
        value = fields.get(name)
        if value and len(value) > limit:
            return bad(f"{name} too long: {len(value)} characters (limit {limit})")
    if not fields.get("received_at"):
        return bad(f"missing received_at (column {spec.mapping.get('received_at')!r} is empty)")
    try:
        received_at = parse_received_at(fields["received_at"] or "", spec)
        amount, currency = parse_amount(fields.get("amount"))
    except ValueError as exc:
        return bad(str(exc))

    def clean(name: str) -> str | None:
        # Single-line: no field but the body can smuggle a line break into an email header.
        value = fields.get(name)
        return tidy(value, single_line=True) or None if value is not None else None

    title = clean("title")
    contact = clean("contact")
    text = f"{title or ''} {body}"
    language = clean("language") or detect_language(text)
    if amount is None and (named := claimed_amount(text)):
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
        customer_ref=clean("customer_ref"),
        contact=contact,
        contact_masked=mask_text(contact) if contact else None,
        contact_key=contact_key(contact, pii_key),
        title=title,
        amount=amount,
        currency=(clean("currency") or currency or ("CNY" if language == "zh" else None)) if amount else None,
        demand=primary_demand(text).value,
        merchant=clean("merchant"),
        product=clean("product"),
        region=clean("region"),
        raw=rec.data,
    )
