"""Plain records passed between stages, before they become database rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from complaints.core.statuses import AttachmentRejection


@dataclass(frozen=True)
class IncomingFile:
    """A file that came with a record (a mail attachment, a file in an API record), before it is checked and
    stored (complaints.core.evidence). The name is the sender's, untrusted: a label, never a path."""

    name: str | None
    declared_type: str | None
    content: bytes | None  # None: not read (undecodable, or too large to decode), with the problem
    size: int  # bytes: of the content, or as estimated from its encoding when it was not decoded
    problem: str | None = None
    problem_code: AttachmentRejection | None = None

    @classmethod
    def undecoded(cls, name: str | None, declared: str | None, base64_text: str,
                  max_bytes: int | None) -> IncomingFile | None:
        """The file as too large, left encoded, when its base64 text already shows it is over `max_bytes`; None
        when it should be decoded. A connector checks this first, so a huge attachment is never decoded in memory.
        Line breaks and spaces carry no data, nor does the padding."""
        if max_bytes is None:
            return None
        chars = len(base64_text) - sum(base64_text.count(ch) for ch in " \t\r\n")
        size = chars * 3 // 4 - base64_text.rstrip()[-2:].count("=")
        if size <= max_bytes:
            return None
        return cls(name, declared, None, size, f"about {size} bytes, over {max_bytes} per file",
                   AttachmentRejection.size)


@dataclass(frozen=True)
class RawRecord:
    """One record as a connector read it: column -> value, and where it came from."""

    location: str  # e.g. "hotline_2026-11-16.csv:line 12"
    data: dict[str, Any]
    # Set when the connector could not even decode the record (broken JSON line, bad bytes).
    error: str | None = None
    # Files that came with it; kept out of `data`, which is stored as the complaint's raw record.
    files: tuple[IncomingFile, ...] = ()


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
    files: tuple[IncomingFile, ...] = ()  # evidence that came with it (the RawRecord's)


@dataclass(frozen=True)
class BadRecord:
    """A record that goes to the quarantine, with the reason in words ops can act on."""

    source: str
    location: str
    reason: str
    raw: str
