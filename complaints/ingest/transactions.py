"""Transaction feeds (sources.yaml kind: transactions): wallet transactions read by the file connector, mapped to
`transactions` rows and stored once per feed and transaction id. A feed that sends a transaction again with another
status or amount updates it (a payment first pending, then failed). Rows that cannot be read go to the quarantine
with the reason, as complaint rows do, and so does a row the database refuses (the batch is stored by halves around
it). The notify stage picks the important ones for a call-back (complaints.notify.transactions)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from complaints.core.config import AppConfig, IngestLimits, TransactionSourceSpec
from complaints.core.db import insert_ignore
from complaints.core.models import Transaction, utcnow
from complaints.core.normalize import account_ref, fold, tidy
from complaints.core.pii import contact_key, mask_contact
from complaints.core.records import BadRecord, RawRecord
from complaints.core.statuses import TransactionStatus, TransactionType
from complaints.ingest.mapping import (
    bounded_amount,
    check_received_at,
    field_value,
    hostile_value,
    identifier_problem,
    parse_received_at,
    raw_field_value,
    raw_text,
)
from complaints.ingest.sources import Batch, Window
from complaints.ingest.store import CHUNK, IngestSummary, map_batch, pull, write_batch

# What feeds commonly write (case-insensitive); a source's type_values / status_values add to or override these.
TYPE_VALUES = {"transfer": TransactionType.transfer, "转账": TransactionType.transfer,
               "withdrawal": TransactionType.withdrawal, "withdraw": TransactionType.withdrawal,
               "提现": TransactionType.withdrawal, "payment": TransactionType.payment, "pay": TransactionType.payment,
               "支付": TransactionType.payment, "消费": TransactionType.payment}
STATUS_VALUES = {"succeeded": TransactionStatus.succeeded, "success": TransactionStatus.succeeded,
                 "completed": TransactionStatus.succeeded, "成功": TransactionStatus.succeeded,
                 "failed": TransactionStatus.failed, "failure": TransactionStatus.failed,
                 "declined": TransactionStatus.failed, "失败": TransactionStatus.failed,
                 "pending": TransactionStatus.pending, "processing": TransactionStatus.pending,
                 "处理中": TransactionStatus.pending}
# Fields a feed may change when it sends a transaction again.
UPDATABLE = ("occurred_at", "customer_ref", "contact", "contact_masked", "contact_key", "type", "amount", "currency",
             "status")
# Who made it: never written again once retention or an erasure removed it (anonymised_at).
PERSON = ("customer_ref", "contact", "contact_masked", "contact_key")
MAX_CHARS = {"transaction_id": 200, "customer_ref": 200, "contact": 320}
_CURRENCY_RE = re.compile(r"[A-Z]{3}")


@dataclass(frozen=True)
class IncomingTransaction:
    source: str
    transaction_id: str
    occurred_at: datetime
    type: TransactionType
    amount: Decimal
    currency: str | None
    status: TransactionStatus
    customer_ref: str | None = None
    contact: str | None = None
    contact_masked: str | None = None
    contact_key: str | None = None
    location: str = ""
    raw: dict[str, Any] = field(default_factory=dict)  # the record as read: quarantined if the database refuses it


def _term(value: str | None, ours: dict[str, Any], theirs: dict[str, Any], other: Any) -> Any:
    key = fold(value or "").lower()
    return {**ours, **{k.lower(): v for k, v in theirs.items()}}.get(key, other)


def map_transaction(spec: TransactionSourceSpec, rec: RawRecord, pii_key: str, limits: IngestLimits,
                    now: datetime | None = None) -> IncomingTransaction | BadRecord:
    """A raw feed record as a transaction, else a BadRecord saying why (ingest's limits apply as to complaints)."""
    def bad(reason: str) -> BadRecord:
        return BadRecord(source=spec.name, location=rec.location, reason=reason, raw=raw_text(rec))

    if rec.error:
        return bad(rec.error)
    if hostile := hostile_value(rec.data, limits):
        return bad(hostile)
    fields = {f: field_value(spec, rec.data, f) for f in spec.mapping.keys() | spec.defaults.keys()}
    transaction_id = fold(fields.get("transaction_id") or "")
    if problem := identifier_problem(transaction_id, "transaction_id", spec.mapping.get("transaction_id"),
                                      MAX_CHARS["transaction_id"]):
        return bad(problem)
    for name in ("occurred_at", "type", "amount"):
        if not (fields.get(name) or "").strip():
            return bad(f"missing {name} (column {spec.mapping.get(name)!r} is empty)")
    # Stored in one form, measured as stored (width folding can lengthen it).
    fields["customer_ref"] = account_ref(fields.get("customer_ref"))
    for name, limit in MAX_CHARS.items():
        if len(fields.get(name) or "") > limit:
            return bad(f"{name} too long: {len(fields.get(name) or '')} characters (limit {limit})")
    try:
        occurred_at = parse_received_at(fields["occurred_at"] or "", spec, "occurred_at")
        amount, named_currency = bounded_amount(raw_field_value(spec, rec.data, "amount"), limits)
    except ValueError as exc:
        return bad(str(exc))
    if implausible := check_received_at(occurred_at, limits, now or utcnow(), "occurred_at"):
        return bad(implausible)
    if amount is None:
        return bad(f"unreadable amount {fields['amount']!r:.40}")
    currency = (tidy(fields.get("currency") or "", single_line=True).upper() or named_currency or None)
    if currency is not None and not _CURRENCY_RE.fullmatch(currency):
        return bad(f"currency {currency[:20]!r} is not an ISO code such as CNY")
    contact = tidy(fields.get("contact") or "", single_line=True) or None
    return IncomingTransaction(
        source=spec.name,
        transaction_id=transaction_id,
        occurred_at=occurred_at,
        type=_term(fields.get("type"), TYPE_VALUES, spec.type_values, TransactionType.other),
        amount=amount,
        currency=currency,
        status=_term(fields.get("status"), STATUS_VALUES, spec.status_values, TransactionStatus.other),
        customer_ref=fields["customer_ref"],
        contact=contact,
        contact_masked=mask_contact(contact) if contact else None,
        contact_key=contact_key(contact, pii_key),
        location=rec.location,
        raw=rec.data,
    )


def store_transactions(session: Session, rows: Iterable[IncomingTransaction], summary: IngestSummary) -> None:
    """Insert new transactions, update those the feed changed (by the feed's transaction id: two feeds may number
    theirs alike), count the unchanged. The rows are one feed's (one batch)."""
    latest = {t.transaction_id: t for t in rows}  # a transaction repeated within one batch: the last copy wins
    if not latest:
        return
    source = next(iter(latest.values())).source
    table = Transaction.__table__
    ids = list(latest)
    existing: dict[str, Any] = {}
    for start in range(0, len(ids), CHUNK):
        found = session.execute(
            select(table.c.id, table.c.transaction_id, table.c.anonymised_at, *(table.c[f] for f in UPDATABLE))
            .where(table.c.source == source, table.c.transaction_id.in_(ids[start : start + CHUNK])))
        existing.update((r.transaction_id, r) for r in found)
    now = utcnow()
    new = [{"transaction_id": t.transaction_id, "source": t.source, **{f: getattr(t, f) for f in UPDATABLE},
            "created_at": now, "updated_at": now} for x, t in latest.items() if x not in existing]
    inserted = len(insert_ignore(session, table, new, returning=(table.c.id,)))
    summary.inserted += inserted
    summary.unchanged += len(new) - inserted  # another run stored them meanwhile
    changes: list[dict[str, Any]] = []
    for x, row in existing.items():
        wanted = {f: getattr(latest[x], f) for f in UPDATABLE}
        if row.anonymised_at is not None:
            summary.anonymised += any(wanted[f] != getattr(row, f) for f in PERSON)
            wanted.update((f, getattr(row, f)) for f in PERSON)
        if any(getattr(row, f) != wanted[f] for f in UPDATABLE):
            changes.append({"_id": row.id, **wanted, "updated_at": now})
    if changes:
        session.execute(update(table).where(table.c.id == bindparam("_id")), changes)
    summary.updated += len(changes)
    summary.unchanged += len(existing) - len(changes)


def ingest_transactions(session: Session, cfg: AppConfig, spec: TransactionSourceSpec, pii_key: str,
                        since: datetime | None = None, until: datetime | None = None) -> IngestSummary:
    """Pull a transaction feed as ingest pulls every source (complaints.ingest.store.pull): batch by batch, each in
    one transaction with the feed's state; with since/until, a backfill of the transactions in [since, until)."""
    window = Window(since, until)
    summary = IngestSummary(source=spec.name)

    def store(batch: Batch) -> list[datetime]:
        goods, bads = map_batch(spec, batch.records, pii_key, window, summary, cfg.sources.limits,
                                mapper=map_transaction, time_of=attrgetter("occurred_at"))
        stored = write_batch(session, goods, bads, summary, store_transactions, attrgetter("transaction_id"))
        return [t.occurred_at for t in stored]

    pull(session, cfg, spec, window, summary, store)
    return summary
