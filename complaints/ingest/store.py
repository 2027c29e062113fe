"""Ingest: store mapped complaints and quarantined rows, idempotently, one transaction per connector batch."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, column, insert, select, text, update
from sqlalchemy import exc as sa_exc
from sqlalchemy import table as table_clause
from sqlalchemy.orm import Session

from complaints.core.bulk import copy_rows_stage
from complaints.core.config import AppConfig, IngestLimits, SourceBase, SourceSpec, TransactionSourceSpec
from complaints.core.db import insert_ignore
from complaints.core.errors import can_heal
from complaints.core.evidence import link_files
from complaints.core.isolate import isolate
from complaints.core.models import Complaint, ComplaintEvent, QuarantinedRecord, Source, utcnow
from complaints.core.pii import mask_text
from complaints.core.records import BadRecord, IncomingComplaint, IncomingFile, RawRecord
from complaints.core.settings import get_settings
from complaints.ingest.mapping import map_record, raw_text
from complaints.ingest.sources import Batch, Connector, FileConnector, Window, connector_for, preset_spec
from complaints.notify.replies import divert_replies

# Fields a source may change after first delivery; a change is recorded in the complaint's history.
UPDATABLE = ("received_at", "channel", "customer_ref", "contact", "contact_masked", "contact_key", "title",
             "body", "text_hash", "amount", "currency", "demand", "merchant", "product", "region", "language")
CHUNK = 1000


@dataclass
class IngestSummary:
    source: str
    batches: int = 0
    skipped: int = 0  # files (or other units) unchanged since the last run
    records: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    # Re-read records of complaints (transactions: of people) that retention or an erasure anonymised: left so,
    # their personal data is not stored again.
    anonymised: int = 0
    quarantined: int = 0
    outside_window: int = 0
    resolved: int = 0  # quarantined rows of earlier runs whose location now gave a stored complaint
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    replies: int = 0  # mail replies recorded on their complaints (complaints.notify.replies), not ingested
    attachments_stored: int = 0  # files newly linked to their complaints as evidence
    attachments_rejected: int = 0  # files recorded as rejected (type, size, count, unreadable); complaints stored
    attachment_reasons: dict[str, int] = field(default_factory=dict)
    # Why this run's output cannot be trusted although it completed (most rows quarantined, no file found).
    degraded: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _source_row(session: Session, spec: SourceBase) -> Source:
    insert_ignore(session, Source, [{"name": spec.name, "kind": spec.kind, "state": {}}])
    return session.execute(select(Source).where(Source.name == spec.name)).scalar_one()


def quarantine_fingerprint(raw: str) -> str:
    """The quarantine's unique key (with the source) for a raw record."""
    return hashlib.sha256(raw.encode()).hexdigest()


def quarantine(session: Session, bads: list[BadRecord]) -> None:
    """Keep the records that could not be read, with the reason (once per source and content)."""
    rows = [
        {
            "source": b.source,
            "location": b.location[:500],
            "reason": b.reason,
            "raw": b.raw,
            # The same bad row read again (re-run, grown file, a replay that changed its reason) is not
            # quarantined twice: the fingerprint is its content, not the reason.
            "fingerprint": quarantine_fingerprint(b.raw),
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


def _existing(session: Session, source: str, external_ids: list[str]) -> dict[str, Any]:
    t = Complaint.__table__
    found: dict[str, Any] = {}
    for start in range(0, len(external_ids), CHUNK):
        stmt = select(*_compared(t)).where(t.c.source == source,
                                          t.c.external_id.in_(external_ids[start : start + CHUNK]))
        found.update((row.external_id, row) for row in session.execute(stmt))
    return found


def _compared(t: Any) -> list[Any]:
    return [t.c.id, t.c.external_id, t.c.processed_at, t.c.anonymised_at, *(t.c[f] for f in UPDATABLE)]


def _store_new(session: Session, rows: list[dict[str, Any]], now: datetime) -> tuple[dict[str, Any], int]:
    """Insert rows not yet stored (ON CONFLICT DO NOTHING) with their "received" event.

    Returns the stored versions of the rows that already existed, and how many rows were inserted."""
    if session.get_bind().dialect.name == "postgresql":
        return _store_new_pg(session, rows, now)
    existing = _existing(session, rows[0]["source"], [r["external_id"] for r in rows])
    t = Complaint.__table__
    # Core table, not the ORM entity: the ORM splits executemany by which values are None.
    ids = insert_ignore(session, t, [r for r in rows if r["external_id"] not in existing], returning=(t.c.id,))
    events = [{"complaint_id": r.id, "at": now, "kind": "received", "to_status": "new", "detail": {}} for r in ids]
    insert_ignore(session, ComplaintEvent.__table__, events)
    return existing, len(ids)


def _store_new_pg(session: Session, rows: list[dict[str, Any]], now: datetime) -> tuple[dict[str, Any], int]:
    """COPY the batch into a temporary table, read the stored versions by a join, then one INSERT ... SELECT
    ... ON CONFLICT DO NOTHING that also writes the events of the rows it inserted. (executemany with
    RETURNING spends its time in psycopg splitting multi-thousand-parameter statements.)"""
    table = Complaint.__table__
    stage_name, cols = copy_rows_stage(session, table, rows)
    col_list = ", ".join(cols)
    stage = table_clause(stage_name, column("source"), column("external_id"))
    known = select(*_compared(table)).join(
        stage, (table.c.source == stage.c.source) & (table.c.external_id == stage.c.external_id)
    )
    existing = {row.external_id: row for row in session.execute(known)}
    result = session.connection().execute(
        text(
            f"WITH ins AS (INSERT INTO complaints ({col_list}) SELECT {col_list} FROM {stage_name} "
            "ON CONFLICT DO NOTHING RETURNING id) "
            "INSERT INTO complaint_events (complaint_id, at, kind, to_status, detail) "
            "SELECT id, :now, 'received', 'new', '{}' FROM ins"
        ),
        {"now": now},
    )
    return existing, result.rowcount


def store_batch(session: Session, goods: Iterable[IncomingComplaint], summary: IngestSummary) -> None:
    """Insert new complaints, update changed ones (with history), count unchanged ones."""
    latest: dict[str, IncomingComplaint] = {}
    for c in goods:
        latest[c.external_id] = c  # a record repeated within one batch: the last copy wins
    if not latest:
        return
    now = utcnow()
    existing, inserted = _store_new(session, [_row(c, now) for c in latest.values()], now)
    summary.inserted += inserted
    # Rows another run inserted between our SELECT and INSERT count as unchanged.
    summary.unchanged += len(latest) - len(existing) - inserted
    updates: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for external_id, row in existing.items():
        if row.anonymised_at is not None:
            summary.anonymised += 1
            continue
        c = latest[external_id]
        changed = [f for f in UPDATABLE if getattr(row, f) != getattr(c, f)]
        if not changed:
            summary.unchanged += 1
            continue
        # Re-classify what the source changed.
        reset = bool({"body", "title", "amount", "channel"} & set(changed))
        updates.append({"_id": row.id, **{f: getattr(c, f) for f in UPDATABLE}, "raw": c.raw, "updated_at": now,
                        "processed_at": None if reset else row.processed_at})
        events.append({"complaint_id": row.id, "at": now, "kind": "source_update", "detail": {"changed": changed}})
    if updates:
        t = Complaint.__table__
        session.execute(update(t).where(t.c.id == bindparam("_id")), updates)
        session.execute(insert(ComplaintEvent.__table__), events)
    summary.updated += len(updates)


def map_batch(spec: Any, records: Iterable[RawRecord], pii_key: str, window: Window,
              summary: IngestSummary, limits: IngestLimits | None = None, *,
              mapper: Callable[..., Any] = map_record,
              time_of: Callable[[Any], datetime] = attrgetter("received_at")) -> tuple[list[Any], list[BadRecord]]:
    """Map records (complaints by default; `mapper` maps another kind, e.g. transactions); count bad ones by reason
    and drop those whose time (`time_of`: a complaint's received_at) falls outside a backfill window."""
    goods: list[Any] = []
    bads: list[BadRecord] = []
    now = utcnow()
    for rec in records:
        summary.records += 1
        mapped = mapper(spec, rec, pii_key, limits or IngestLimits(), now)
        if isinstance(mapped, BadRecord):
            bads.append(mapped)
            continue
        at = time_of(mapped)
        if (window.since and at < window.since) or (window.until and at >= window.until):
            summary.outside_window += 1
        else:
            goods.append(mapped)
    _count_quarantined(summary, bads)
    return goods, bads


def _count_quarantined(summary: IngestSummary, bads: list[BadRecord]) -> None:
    for bad in bads:
        kind = _reason_kind(bad.reason)
        summary.quarantine_reasons[kind] = summary.quarantine_reasons.get(kind, 0) + 1
    summary.quarantined += len(bads)


# Errors a record's values can cause when written; anything else (a dropped connection, a locked database) is
# the database's, and fails the batch so the task can retry it.
_VALUE_ERRORS = (ValueError, TypeError, OverflowError, UnicodeError)


def _refused(error: BaseException) -> bool:
    """Whether the database (or the driver) refused the values written, rather than failed to take them (an error
    that can heal: complaints.core.errors)."""
    if isinstance(error, sa_exc.DBAPIError):
        return not can_heal(error)
    return isinstance(error, (sa_exc.StatementError, *_VALUE_ERRORS))


def _refusal_reason(error: BaseException) -> str:
    cause = getattr(error, "orig", None) or error
    first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]  # DETAIL lines quote the row's values
    return f"database refused the record: {mask_text(first)[:200]}"


_COUNTS = ("inserted", "updated", "unchanged", "anonymised")


def _refusal_of(session: Session, summary: IngestSummary, write: Callable[[], None]) -> BaseException | None:
    """Run a write; when the database refuses it, roll back, put the counts back and return the refusal."""
    before = {k: getattr(summary, k) for k in _COUNTS}
    try:
        write()
    except Exception as exc:
        if not _refused(exc):
            raise
        session.rollback()
        for k, v in before.items():
            setattr(summary, k, v)
        return exc
    return None


def write_batch(session: Session, goods: list[Any], bads: list[BadRecord], summary: IngestSummary,
                store_rows: Callable[[Session, list[Any], IngestSummary], None], key: Callable[[Any], str],
                after_rollback: Callable[[], None] | None = None) -> list[Any]:
    """Quarantine a batch's bad records and store its good ones (complaints, or another kind through `store_rows`)
    in the batch's transaction; the good ones stored. When the database refuses the batch, it is stored by halves,
    each half in its own transaction, down to the single records it refuses (complaints.core.isolate), which are
    quarantined with the database's reason: one record never blocks the others. `after_rollback` redoes what the
    rollback undid (it must be idempotent), committed before the halves are tried, so their rollbacks keep it. If the
    database refuses every record of several, the fault is not in a record: the error is raised."""
    def write() -> None:
        quarantine(session, bads)
        store_rows(session, goods, summary)

    if _refusal_of(session, summary, write) is None:
        return goods
    if after_rollback is not None:
        after_rollback()
        session.commit()
    latest = list({key(g): g for g in goods}.values())

    def attempt(part: list[Any]) -> BaseException | None:
        def write_part() -> None:
            store_rows(session, part, summary)
            session.commit()

        return _refusal_of(session, summary, write_part)

    refused = [BadRecord(g.source, g.location, _refusal_reason(exc), raw_text(RawRecord(g.location, g.raw)))
               for g, exc in isolate(latest, attempt)]
    _count_quarantined(summary, refused)
    quarantine(session, bads + refused)
    refused_at = {r.location for r in refused}
    return [g for g in goods if g.location not in refused_at]


def _link_files(session: Session, source: str, goods: list[IncomingComplaint], root: Path, cfg: AppConfig,
                summary: IngestSummary) -> None:
    """Check, store and link the files that came with the batch's complaints (complaints.core.evidence)."""
    latest = {g.external_id: g.files for g in goods}  # a record repeated within the batch: the last copy wins
    wanted = [x for x, files in latest.items() if files]
    by_complaint: dict[int, tuple[IncomingFile, ...]] = {}
    t = Complaint.__table__
    for start in range(0, len(wanted), CHUNK):
        rows = session.execute(select(t.c.id, t.c.external_id).where(  # an anonymised one's files were erased
            t.c.source == source, t.c.external_id.in_(wanted[start : start + CHUNK]), t.c.anonymised_at.is_(None)))
        by_complaint.update((row.id, latest[row.external_id]) for row in rows)
    counts = link_files(session, by_complaint, root, cfg.sources.attachments)
    summary.attachments_stored += counts.stored
    summary.attachments_rejected += counts.rejected
    for reason, n in counts.reasons.items():
        summary.attachment_reasons[reason] = summary.attachment_reasons.get(reason, 0) + n


def pull(session: Session, cfg: AppConfig, spec: SourceBase, window: Window, summary: IngestSummary,
         store: Callable[[Batch], list[datetime]]) -> None:
    """The loop every source kind shares: each batch of the connector is stored by `store` (which returns the times
    of what it stored) and committed in one transaction with the source state it reaches and the watermark; then
    the summary's skipped units and degraded reason."""
    connector = connector_for(spec, cfg.directory, cfg.sources.attachments.max_file_bytes)
    source = _source_row(session, spec)
    known_files = len(source.state.get("files", {})) if isinstance(source.state, dict) else 0
    session.commit()
    for batch in connector.batches({} if window.backfill else dict(source.state), window):
        summary.batches += 1
        stored = store(batch)
        if not window.backfill:
            # Stored in the same transaction as the rows: a crash re-reads this batch, harmlessly.
            source.state = batch.state
            newest = max(stored, default=None)
            if newest and (source.watermark is None or newest > datetime.fromisoformat(source.watermark)):
                source.watermark = newest.astimezone(UTC).isoformat()
        source.last_run_at = utcnow()
        session.commit()
        if batch.after_commit is not None:
            batch.after_commit()
    summary.skipped = connector.skipped
    summary.degraded = _degraded(summary, cfg.sources.limits, connector, spec, known_files)


def ingest_source(
    session: Session,
    cfg: AppConfig,
    spec: SourceSpec | TransactionSourceSpec,
    pii_key: str,
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    evidence_dir: Path | None = None,
) -> IngestSummary:
    """Pull one source batch by batch, each batch in its own transaction with the source state it reaches.

    With since/until it is a backfill: the connector re-reads from the start (or asks its channel for the
    window), only complaints received in [since, until) are stored, and the live state does not move.
    A record the database refuses is quarantined (see write_batch); the summary says when the run is
    degraded (most records quarantined, or a file source whose path matches no file). Files that came with the
    complaints go to `evidence_dir` (default: the settings' evidence folder). A transaction feed is stored by
    complaints.ingest.transactions."""
    if isinstance(spec, TransactionSourceSpec):
        from complaints.ingest.transactions import ingest_transactions  # it builds on this module

        return ingest_transactions(session, cfg, spec, pii_key, since, until)
    window = Window(since, until)
    spec = preset_spec(spec)
    limits = cfg.sources.limits
    summary = IngestSummary(source=spec.name)
    open_rows = _has_open_quarantine(session, spec.name)

    def store(batch: Batch) -> list[datetime]:
        records = batch.records
        if spec.kind == "imap":  # users' replies to our mails go on their complaints, not in as new ones
            records, replies = divert_replies(session, records, pii_key)
            summary.replies += replies
        goods, bads = map_batch(spec, records, pii_key, window, summary, limits)

        # The rollback of a refused batch undid the replies recorded: again, with the first half.
        redo = (lambda: divert_replies(session, batch.records, pii_key)) if spec.kind == "imap" else None
        goods = write_batch(session, goods, bads, summary, store_batch, attrgetter("external_id"), redo)
        if any(g.files for g in goods):
            _link_files(session, spec.name, goods, evidence_dir or get_settings().evidence_path, cfg, summary)
        if open_rows:
            summary.resolved += _resolve_quarantine(session, spec.name, [g.location for g in goods])
        return [g.received_at for g in goods]

    pull(session, cfg, spec, window, summary, store)
    return summary


def _degraded(summary: IngestSummary, limits: IngestLimits, connector: Connector, spec: SourceBase,
              known_files: int) -> str:
    """Why the run completed but its output cannot be trusted, or ""."""
    lost = isinstance(connector, FileConnector) and connector.matched == 0
    if lost and (known_files or not connector.waiting_folder):
        before = f" (it matched {known_files} file(s) before)" if known_files else ""
        return f"path {getattr(spec, 'path', '')!r} matches no file{before}"
    if summary.records >= limits.degraded_min_records and (
            summary.quarantined > limits.degraded_quarantine_share * summary.records):
        top, n = max(summary.quarantine_reasons.items(), key=lambda kv: kv[1])
        return (f"{summary.quarantined} of {summary.records} records quarantined "
                f"(most: {top!r} x{n}; see `complaints quarantine list --source {spec.name}`)")
    return ""


def _has_open_quarantine(session: Session, source: str) -> bool:
    q = QuarantinedRecord
    return session.execute(select(q.id).where(q.source == source, q.replayed_at.is_(None)).limit(1)).first() is not None


def _resolve_quarantine(session: Session, source: str, locations: list[str]) -> int:
    """Mark resolved the open quarantine rows at locations that now gave a stored complaint: a line that was cut
    off while being written and later completed, a row corrected in place."""
    q = QuarantinedRecord.__table__
    resolved = 0
    for start in range(0, len(locations), CHUNK):
        chunk = [loc[:500] for loc in locations[start : start + CHUNK] if loc]
        if chunk:
            resolved += session.execute(
                update(q).where(q.c.source == source, q.c.replayed_at.is_(None), q.c.location.in_(chunk))
                .values(replayed_at=utcnow())).rowcount
    return resolved


def _reason_kind(reason: str) -> str:
    """Group reasons for counts ("unparseable received_at '...'" -> "unparseable received_at")."""
    return reason.split(" '")[0].split(" (")[0].split(":")[0][:60]



@dataclass
class ReplaySummary:
    replayed: int = 0
    still_bad: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


def replay_quarantine(session: Session, cfg: AppConfig, pii_key: str, source: str | None = None) -> ReplaySummary:
    """Map quarantined records again with the current configuration. Those that now map are stored
    (idempotently) and marked replayed; the others stay, with the reason the current mapping gives."""
    result = ReplaySummary()
    # Records retention removed (complaints.regulatory.retention) are gone: nothing to map again.
    stmt = select(QuarantinedRecord).where(QuarantinedRecord.replayed_at.is_(None),
                                           QuarantinedRecord.raw != cfg.retention.purged_marker)
    if source:
        stmt = stmt.where(QuarantinedRecord.source == source)
    known = {s.name: preset_spec(s) for s in cfg.sources.sources}
    last_id = 0
    while True:
        chunk = session.execute(
            stmt.where(QuarantinedRecord.id > last_id).order_by(QuarantinedRecord.id).limit(CHUNK)
        ).scalars().all()
        if not chunk:
            return result
        last_id = chunk[-1].id
        goods: dict[str, list[tuple[QuarantinedRecord, Any]]] = {}
        for q in chunk:
            spec = known.get(q.source)
            if spec is None:
                continue  # a source no longer configured: nothing to map it with
            mapped = _mapper(spec)(spec, _replayable(q), pii_key, cfg.sources.limits)
            if isinstance(mapped, BadRecord):
                q.reason = mapped.reason
                result.still_bad += 1
            else:
                goods.setdefault(q.source, []).append((q, mapped))
        now = utcnow()
        for name, pairs in goods.items():
            summary = IngestSummary(source=name)
            _storer(known[name])(session, [c for _, c in pairs], summary)
            result.inserted += summary.inserted
            result.updated += summary.updated
            result.unchanged += summary.unchanged
            for q, _ in pairs:
                q.replayed_at = now
            result.replayed += len(pairs)
        session.commit()


def _mapper(spec: SourceBase) -> Callable[..., Any]:
    """How a source's records are mapped: complaints, or a transaction feed's transactions."""
    if isinstance(spec, TransactionSourceSpec):
        from complaints.ingest.transactions import map_transaction

        return map_transaction
    return map_record


def _storer(spec: SourceBase) -> Callable[[Session, list[Any], IngestSummary], None]:
    if isinstance(spec, TransactionSourceSpec):
        from complaints.ingest.transactions import store_transactions

        return store_transactions
    return store_batch


def _replayable(q: QuarantinedRecord) -> RawRecord:
    """The quarantined raw record. One the connector could not read (bad bytes, a broken line) keeps its
    reason: no mapping can fix it, only a corrected re-delivery of the file."""
    try:
        data = json.loads(q.raw)
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict) or set(data) == {"_raw"} or "\ufffd" in q.raw:
        return RawRecord(q.location, {"_raw": q.raw}, q.reason)
    return RawRecord(q.location, data)
