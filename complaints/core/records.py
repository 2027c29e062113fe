"""Plain records passed between stages, before they become database rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class RawRecord:
    """One record as a connector read it: column -> value, and where it came from."""

    location: str  # e.g. "hotline_2026-11-16.csv:line 12"
    data: dict[str, Any]
    # Set when the connector could not even decode the record (broken JSON line, bad bytes).
    error: str | None = None


@dataclass(frozen=True)
class IncomingComplaint:
    """A record mapped to the canonical fields and normalised, ready to store."""

    source: str
    external_id: str
    received_at: datetime
    channel: str
    body: str
    text_hash: str
    language: str
    customer_ref: str | None = None
    contact: str | None = None
    contact_masked: str | None = None
    contact_key: str | None = None
    title: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    demand: str | None = None
    merchant: str | None = None
    product: str | None = None
    region: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    location: str = ""  # the RawRecord's: where a refused record is quarantined, and what it resolves


@dataclass(frozen=True)
class BadRecord:
    """A record that goes to the quarantine, with the reason in words ops can act on."""

    source: str
    location: str
    reason: str
    raw: str
