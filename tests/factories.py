"""Test data builders: complaints as the ingest stage would store them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from complaints.core.models import Complaint
from complaints.core.normalize import detect_language, fold, text_hash
from complaints.core.pii import contact_key, mask_text

T0 = datetime(2026, 11, 16, 1, 0, tzinfo=UTC)  # Monday 09:00 Asia/Shanghai
_ids = itertools.count(1)


def complaint(
    session: Session,
    body: str,
    *,
    at: datetime = T0,
    contact: str | None = None,
    channel: str = "app",
    source: str | None = None,
    amount: str | None = None,
    merchant: str | None = None,
    title: str | None = None,
    **extra: Any,
) -> Complaint:
    c = Complaint(
        source=source or channel,
        external_id=f"X{next(_ids)}",
        received_at=at,
        channel=channel,
        contact=contact,
        contact_masked=mask_text(contact) if contact else None,
        contact_key=contact_key(contact, "test-key"),
        title=title,
        body=fold(body),
        text_hash=text_hash(body),
        language=detect_language(body),
        amount=Decimal(amount) if amount else None,
        merchant=merchant,
        raw={},
        channels=[channel],
        first_seen_at=at,
        last_seen_at=at,
        **extra,
    )
    session.add(c)
    session.flush()
    return c
