"""Retention: complaint records are kept at least `keep_years` (config/retention.yaml) after closure, or after the
complaint was last seen when it never closed, then anonymised unless a legal hold applies.

Anonymised, not deleted: the personal data goes (contact, customer ref, text, raw record, message bodies and
recipients and the outbox's .eml copies, call-back comments, free text of the decision, the evidence files that
came with it and their rows),
the row stays with its dates, channel, category,
severity, amount and outcome. Every count, regulator return and report figure of a past period therefore stays
the same, and nothing that refers to the complaint (incidents, plans, clocks, duplicates) is left dangling.

Transactions of a transaction feed (kept for call-backs after important ones) are personal data too: `keep_years`
after they occurred, who made them goes (contact, customer ref), the call-back message about them keeps its row
with recipient, subject and text replaced by the marker (its .eml copy deleted), and the reply keeps its score and
time window, not its text; type, amount, status and dates stay. A person with a held complaint keeps theirs.

Quarantined source rows (records that could not be read, kept with the reason) hold the record as it came, personal
data included: `keep_years` after they were quarantined the record goes and the reason is masked; the row stays, so
quarantine counts stay, and a re-read of the same bad record is still known and not quarantined again.

Anonymised complaints and transactions are marked (`anonymised_at`): a re-read of their source record (a backfill)
changes nothing on them (complaints.ingest), so what was removed does not come back.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Select, case, func, or_, select, update
from sqlalchemy.orm import Session

from complaints.core import evidence
from complaints.core.bulk import in_conditions
from complaints.core.config import AppConfig
from complaints.core.db import insert_ignore
from complaints.core.models import (
    CallbackResult,
    Complaint,
    ComplaintEvent,
    ComplaintOutcome,
    InboundMessage,
    LegalHold,
    Notification,
    QuarantinedRecord,
    RetentionPurge,
    Transaction,
)
from complaints.core.pii import mask_text
from complaints.core.settings import get_settings
from complaints.notify.channels.email import eml_path
from complaints.regulatory.outcomes import closed_at_column, with_closure


class HoldError(ValueError):
    """A hold action that is not allowed."""


@dataclass
class PurgeSummary:
    cutoff: datetime
    eligible: int = 0
    held: int = 0
    anonymised: list[int] = field(default_factory=list)
    attachments: int = 0  # evidence rows erased with them
    evidence_files: int = 0  # evidence files deleted (those no other complaint's row names)
    transactions: int = 0  # transactions past the period whose person was removed (dry run: would be)
    quarantined: int = 0  # quarantined source records past the period, removed (dry run: would be)
    eml_files: int = 0  # outbox copies (.eml) of their messages deleted (dry run: that would be)


def cutoff(now: datetime, years: int) -> datetime:
    """The same date and time `years` earlier (28 February for 29 February)."""
    try:
        return now.replace(year=now.year - years)
    except ValueError:  # 29 February
        return now.replace(year=now.year - years, day=28)


def _held() -> Any:
    """Whether a complaint is under an active legal hold: a hold on a complaint also covers its duplicates; one on
    an incident covers its members."""
    active = LegalHold.released_at.is_(None)
    held_complaints = select(LegalHold.complaint_id).where(active, LegalHold.complaint_id.is_not(None))
    held_incidents = select(LegalHold.incident_id).where(active, LegalHold.incident_id.is_not(None))
    return or_(Complaint.id.in_(held_complaints), Complaint.duplicate_of_id.in_(held_complaints),
               Complaint.incident_id.in_(held_incidents))


def _candidates(now: datetime, years: int) -> Select[Any]:
    """(id, basis, held) of every complaint past its retention period and not anonymised yet."""
    basis = func.coalesce(closed_at_column(), Complaint.last_seen_at)
    held = _held()
    return (
        with_closure(select(Complaint.id, basis.label("basis"), held.label("held")))
        .where(basis < cutoff(now, years), Complaint.id.not_in(select(RetentionPurge.complaint_id)))
        .order_by(Complaint.id)
    )


def purge(session: Session, cfg: AppConfig, now: datetime, *, dry_run: bool = False,
          evidence_dir: Path | None = None, outbox_dir: Path | None = None) -> PurgeSummary:
    """Anonymise every complaint past its retention period and not held. Idempotent: the retention_purges
    unique key records each complaint once, and only the run that recorded it anonymises it. Their evidence files
    go from `evidence_dir` (default: the settings' evidence folder), the .eml copies of their messages (and of the
    old transactions' call-backs) from `outbox_dir` (default: the settings' outbox folder)."""
    rcfg = cfg.retention
    summary = PurgeSummary(cutoff=cutoff(now, rcfg.keep_years))
    rows = session.execute(_candidates(now, rcfg.keep_years)).all()
    summary.eligible = len(rows)
    summary.held = sum(bool(r.held) for r in rows)
    due = [r for r in rows if not r.held]
    # A held complaint's person keeps their transactions too (the hold may be about one of them).
    held_keys = select(Complaint.contact_key).where(_held(), Complaint.contact_key.is_not(None))
    held_refs = select(Complaint.customer_ref).where(_held(), Complaint.customer_ref.is_not(None))
    old_transactions = list(session.scalars(select(Transaction.id).where(
        Transaction.occurred_at < summary.cutoff,
        or_(Transaction.contact.is_not(None), Transaction.contact_key.is_not(None),
            Transaction.customer_ref.is_not(None)),
        or_(Transaction.contact_key.is_(None), Transaction.contact_key.not_in(held_keys)),
        or_(Transaction.customer_ref.is_(None), Transaction.customer_ref.not_in(held_refs)),
    ).order_by(Transaction.id)))
    summary.transactions = len(old_transactions)
    old_quarantine = list(session.scalars(select(QuarantinedRecord.id).where(
        QuarantinedRecord.created_at < summary.cutoff, QuarantinedRecord.raw != rcfg.purged_marker)
        .order_by(QuarantinedRecord.id)))
    summary.quarantined = len(old_quarantine)
    outbox = outbox_dir or get_settings().outbox_path
    if dry_run:
        summary.eml_files = remove_eml(outbox, _message_ids(session, Notification.transaction_id, old_transactions)
                                       + _message_ids(session, Notification.complaint_id, [r.id for r in due]),
                                       dry_run=True)
        return summary
    for start in range(0, len(old_transactions), rcfg.batch_size):
        batch_ids = old_transactions[start : start + rcfg.batch_size]
        summary.eml_files += remove_eml(outbox, _message_ids(session, Notification.transaction_id, batch_ids))
        _forget_transactions(session, batch_ids, rcfg.purged_marker, now)
    for start in range(0, len(old_quarantine), rcfg.batch_size):
        forget_quarantined(session, old_quarantine[start : start + rcfg.batch_size], rcfg.purged_marker)
    for start in range(0, len(due), rcfg.batch_size):
        batch = due[start : start + rcfg.batch_size]
        mine = insert_ignore(session, RetentionPurge, [{"complaint_id": r.id, "purged_at": now, "basis_at": r.basis}
                                                       for r in batch], returning=(RetentionPurge.complaint_id,))
        ids = [m.complaint_id for m in mine]
        if ids:
            summary.eml_files += remove_eml(outbox, _message_ids(session, Notification.complaint_id, ids))
            rows, files = _anonymise(session, ids, rcfg.purged_marker, now,
                                     evidence_dir or get_settings().evidence_path)
            summary.anonymised += ids
            summary.attachments += rows
            summary.evidence_files += files
    session.flush()
    return summary


def _anonymise(session: Session, ids: list[int], marker: str, now: datetime,
               evidence_root: Path) -> tuple[int, int]:
    """Remove the personal data of these complaints (see the module); (evidence rows, evidence files) erased."""
    session.execute(update(Complaint).where(Complaint.id.in_(ids)).values(
        contact=None, contact_masked=None, contact_key=None, customer_ref=None, title=None, body=marker,
        text_hash=marker, raw={}, anonymised_at=now,
        # A held complaint's reason can quote its text (masked, yet the text): the hold stays, the quote goes.
        held_reason=case((Complaint.held_reason.is_(None), None), else_=marker)),
        execution_options={"synchronize_session": False})
    session.execute(update(Notification).where(Notification.complaint_id.in_(ids)).values(
        recipient=marker, subject=marker, body_text=marker, body_html=None, contact_key=None, attachments=[]),
        execution_options={"synchronize_session": False})
    # The user's replies: the words go (masked is still their words), the score and chosen time window stay.
    session.execute(update(InboundMessage).where(InboundMessage.complaint_id.in_(ids)).values(
        body_masked=marker, contact_key=None), execution_options={"synchronize_session": False})
    session.execute(update(CallbackResult).where(CallbackResult.complaint_id.in_(ids)).values(comment=None),
                    execution_options={"synchronize_session": False})
    session.execute(update(ComplaintEvent).where(ComplaintEvent.complaint_id.in_(ids)).values(detail={}),
                    execution_options={"synchronize_session": False})
    # The decision stays (returns count it); its free text may quote the complainant, so it is masked.
    for o in session.execute(select(ComplaintOutcome).where(ComplaintOutcome.complaint_id.in_(ids))).scalars():
        o.investigation, o.basis, o.steps_taken = (mask_text(v) if v else v
                                                   for v in (o.investigation, o.basis, o.steps_taken))
    # Evidence is the person's own documents (statements, ID photos): deleted, not anonymised.
    return evidence.erase(session, ids, evidence_root)


def remove_eml(outbox_dir: Path, message_ids: Iterable[str], *, dry_run: bool = False) -> int:
    """Delete the outbox copies (.eml, complaints.notify.channels.email.EmlSender) of these messages; how many
    there were (dry_run: count them only). Before the caller commits, as with evidence files: a run that then fails
    leaves the rows for the next run, the files gone."""
    removed = 0
    for message_id in message_ids:
        path = eml_path(outbox_dir, message_id)
        if dry_run:
            removed += path.is_file()
            continue
        try:
            path.unlink()
        except FileNotFoundError:  # none written (sent by SMTP), or another run (forget) deleted it just now
            continue
        removed += 1
    return removed


def _message_ids(session: Session, column: Any, ids: Iterable[int]) -> list[str]:
    """The Message-IDs of the messages whose `column` (their complaint or transaction) is one of ids."""
    return [m for condition in in_conditions(session, column, ids)
            for m in session.scalars(select(Notification.message_id).where(condition))]


def _forget_transactions(session: Session, ids: list[int], marker: str, now: datetime) -> None:
    """Remove who made these transactions, and the call-back messages about them and their replies."""
    session.execute(update(Transaction).where(Transaction.id.in_(ids)).values(
        contact=None, contact_masked=None, contact_key=None, customer_ref=None, anonymised_at=now),
        execution_options={"synchronize_session": False})
    session.execute(update(Notification).where(Notification.transaction_id.in_(ids)).values(
        recipient=marker, subject=marker, body_text=marker, body_html=None, contact_key=None, attachments=[]),
        execution_options={"synchronize_session": False})
    session.execute(update(InboundMessage).where(InboundMessage.transaction_id.in_(ids)).values(
        body_masked=marker, contact_key=None), execution_options={"synchronize_session": False})


def forget_quarantined(session: Session, ids: list[int], marker: str, names: Collection[str] = ()) -> None:
    """Remove the records of these quarantine rows; their reasons are masked (and `names`, values that identify a
    person there, replaced by the marker). The rows stay, with their fingerprints."""
    for q in session.scalars(select(QuarantinedRecord).where(QuarantinedRecord.id.in_(ids))):
        reason = mask_text(q.reason)
        for value in names:
            reason = reason.replace(value, marker)
        q.raw, q.reason = marker, reason


# --- legal holds ------------------------------------------------------------------------------


def place_hold(session: Session, *, reason: str, by: str, now: datetime, complaint_id: int | None = None,
               incident_id: int | None = None) -> LegalHold:
    """Hold one complaint or incident from anonymisation; a reason is required and purged complaints are refused."""
    if (complaint_id is None) == (incident_id is None):
        raise HoldError("a hold is on exactly one complaint or one incident")
    if not reason.strip():
        raise HoldError("a hold needs a reason (case, authority, reference)")
    if complaint_id is not None and session.execute(
            select(RetentionPurge.id).where(RetentionPurge.complaint_id == complaint_id)).first():
        raise HoldError(f"complaint {complaint_id} was already anonymised")
    hold = LegalHold(complaint_id=complaint_id, incident_id=incident_id, reason=reason, placed_by=by, placed_at=now)
    session.add(hold)
    session.flush()
    return hold


def release_hold(session: Session, hold_id: int, *, now: datetime) -> LegalHold:
    """Release an active hold, so retention applies again."""
    hold = session.get(LegalHold, hold_id)
    if hold is None or hold.released_at is not None:
        raise HoldError(f"no active hold {hold_id}")
    hold.released_at = now
    return hold
