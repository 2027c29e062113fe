"""Ingest: store mapped complaints and quarantined rows, idempotently, one transaction per file."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from complaints.config import AppConfig, SourceSpec
from complaints.db import insert_ignore
from complaints.mapping import map_record
from complaints.models import Complaint, ComplaintEvent, QuarantinedRecord, Source, utcnow
from complaints.records import BadRecord, IncomingComplaint
from complaints.sources import read_files, source_files
from complaints.sources.cfpb import preset_spec

# Fields a source may change after first delivery; a change is recorded in the complaint's history.
UPDATABLE = ("received_at", "channel", "customer_ref", "contact", "contact_masked", "contact_key", "title",
             "body", "text_hash", "amount", "currency", "merchant", "product", "region", "language")
CHUNK = 1000


@dataclass
class IngestSummary:
    source: str
    files_read: int = 0
    files_skipped: int = 0
    records: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    outside_window: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def effective_spec(spec: SourceSpec) -> SourceSpec:
    return preset_spec(spec) if spec.kind == "cfpb" else spec


def _source_row(session: Session, spec: SourceSpec) -> Source:
    insert_ignore(session, Source, [{"name": spec.name, "kind": spec.kind, "state": {}}])
    return session.execute(select(Source).where(Source.name == spec.name)).scalar_one()


def _quarantine(session: Session, bads: list[BadRecord]) -> None:
    rows = [
        {
            "source": b.source,
            "location": b.location[:500],
            "reason": b.reason,
            "raw": b.raw,
            # The same bad row read again (re-run, grown file) is not quarantined twice.
            "fingerprint": hashlib.sha256(f"{b.reason}\x00{b.raw}".encode()).hexdigest(),
        }
        for b in bads
    ]
    insert_ignore(session, QuarantinedRecord, rows)


def _row(c: IncomingComplaint, now: datetime) -> dict[str, Any]:
    data = {k: getattr(c, k) for k in ("source", "external_id", "raw", *UPDATABLE)}
    return data | {
        "status": "new",
        "channels": [c.channel],
        "first_seen_at": c.received_at,
        "last_seen_at": c.received_at,
        "severity_reasons": [],
        "created_at": now,
        "updated_at": now,
    }


def store_batch(session: Session, goods: Iterable[IncomingComplaint], summary: IngestSummary) -> None:
    """Insert new complaints, update changed ones (with history), count unchanged ones."""
    latest: dict[str, IncomingComplaint] = {}
    for c in goods:
        latest[c.external_id] = c  # a record repeated within one file: the last copy wins
    items = list(latest.values())
    now = utcnow()
    for start in range(0, len(items), CHUNK):
        chunk = items[start : start + CHUNK]
        existing = {
            row.external_id: row
            for row in session.execute(
                select(Complaint).where(
                    Complaint.source == chunk[0].source,
                    Complaint.external_id.in_([c.external_id for c in chunk]),
                )
            ).scalars()
        }
        new = [c for c in chunk if c.external_id not in existing]
        inserted = insert_ignore(session, Complaint, [_row(c, now) for c in new], returning=(Complaint.id,))
        summary.inserted += len(inserted)
        # Rows another run inserted between our SELECT and INSERT count as unchanged.
        summary.unchanged += len(new) - len(inserted)
        insert_ignore(
            session,
            ComplaintEvent,
            [{"complaint_id": r.id, "at": now, "kind": "received", "to_status": "new", "detail": {}} for r in inserted],
        )
        for c in chunk:
            row = existing.get(c.external_id)
            if row is None:
                continue
            changed = [f for f in UPDATABLE if getattr(row, f) != getattr(c, f)]
            if not changed:
                summary.unchanged += 1
                continue
            for f in changed:
                setattr(row, f, getattr(c, f))
            row.raw = c.raw
            if {"body", "title", "amount", "channel"} & set(changed):
                row.processed_at = None  # re-classify what the source changed
            row.events.append(ComplaintEvent(at=now, kind="source_update", detail={"changed": changed}))
            summary.updated += 1


def ingest_source(
    session: Session,
    cfg: AppConfig,
    spec: SourceSpec,
    pii_key: str,
    since: datetime | None = None,
    until: datetime | None = None,
) -> IngestSummary:
    """Pull one source. With since/until it is a backfill: every file is re-read, only complaints
    received in [since, until) are stored, and the live watermark and file state do not move."""
    spec = effective_spec(spec)
    backfill = since is not None or until is not None
    summary = IngestSummary(source=spec.name)
    source = _source_row(session, spec)
    session.commit()
    seen: dict[str, str] = {} if backfill else dict(source.state.get("files", {}))
    for batch in read_files(spec, cfg.directory, seen):
        summary.files_read += 1
        goods: list[IncomingComplaint] = []
        bads: list[BadRecord] = []
        for rec in batch.records:
            mapped = map_record(spec, rec, pii_key)
            if isinstance(mapped, BadRecord):
                bads.append(mapped)
                summary.quarantine_reasons[_reason_kind(mapped.reason)] = (
                    summary.quarantine_reasons.get(_reason_kind(mapped.reason), 0) + 1
                )
            elif (since and mapped.received_at < since) or (until and mapped.received_at >= until):
                summary.outside_window += 1
            else:
                goods.append(mapped)
        summary.records += len(batch.records)
        summary.quarantined += len(bads)
        _quarantine(session, bads)
        store_batch(session, goods, summary)
        if not backfill:
            # Recorded in the same transaction as the rows: a crash re-reads the whole file, harmlessly.
            source.state = {**source.state, "files": {**source.state.get("files", {}), str(batch.path): batch.sha256}}
            newest = max((g.received_at for g in goods), default=None)
            if newest and (source.watermark is None or newest.isoformat() > source.watermark):
                source.watermark = newest.isoformat()
        source.last_run_at = utcnow()
        session.commit()
    if not backfill:
        summary.files_skipped = len(source_files(spec, cfg.directory)) - summary.files_read
    return summary


def _reason_kind(reason: str) -> str:
    """Group reasons for counts ("unparseable received_at '...'" -> "unparseable received_at")."""
    return reason.split(" '")[0].split(" (")[0].split(":")[0][:60]

