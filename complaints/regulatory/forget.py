"""Erasure on request: remove or anonymise one person's personal data everywhere, keep every statistic.

A person is named by their customer reference, email address or mobile number. Their complaints are the ones
naming them (that reference, that contact, or its keyed hash) and, following the person key dedupe matches on
(complaints.process.dedupe.identities: the customer reference and the contact key), every complaint sharing a
contact key or a customer reference with those: the same person writing from another channel with the same
email or phone and no customer reference is the same person here too. One hop only: a contact shared with a
further reference is not chased, so one shared family phone does not erase a household.

The complaints are anonymised exactly as the retention purge does it (complaints.regulatory.retention): contact,
customer ref, title, text and raw record go; dates, channel, category, severity, amount, incident and outcome stay,
so counts by category, incidents, returns and reports of past periods do not change. Beyond the complaints, this
also clears: messages to the person (by complaint, keyed contact hash or address) and their .eml copies in the
outbox, their replies (text and contact; a call-back score stays), quarantined rows that quote the person (kept
as rows, so quarantine counts stay), their opt-outs, the evidence files that came with their complaints (rows and
files; a file another person also stored stays for them), and the contact and reference on their transactions of a
transaction feed.

What it cannot erase is listed, not hidden: PDF reports (weekly crisis and lessons reports of the weeks the
complaints fall in, major-event reports of their incidents) already rendered and sent. They show personal data
masked only, yet they are documents outside the database that may mention the person.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from complaints.core import evidence
from complaints.core.models import (
    Complaint,
    InboundMessage,
    MajorEvent,
    Notification,
    OptOut,
    QuarantinedRecord,
    Report,
    Transaction,
    utcnow,
)
from complaints.core.normalize import account_ref, account_refs, placeholder
from complaints.core.pii import contact_key, mask_text, no_one, normalise_contact
from complaints.core.settings import get_settings
from complaints.regulatory.retention import _anonymise, forget_quarantined, remove_eml


@dataclass
class ForgetSummary:
    """What forget erased (counts per kind) and what it could not (documents already out)."""

    complaints: int = 0
    linked_complaints: int = 0  # of `complaints`: found through the person key only (another channel, no reference)
    notifications: int = 0
    replies: int = 0  # their messages to us (email, SMS/push): text and contact cleared, score kept
    eml_files: int = 0
    quarantined: int = 0
    opt_outs: int = 0
    attachments: int = 0  # evidence rows of their complaints
    transactions: int = 0  # transactions of a feed naming them (contact and reference cleared; amounts stay)
    evidence_files: int = 0  # evidence files deleted (a file no other complaint's row names)
    not_erased: list[dict[str, Any]] = field(default_factory=list)  # reports that may mention the person


@dataclass
class _Person:
    ids: list[int]
    direct: set[int]
    keys: set[str]
    refs: set[str]
    contacts: set[str]
    weeks: set[str]
    incidents: set[int]


def _find_person(session: Session, person: str, key: str | None) -> _Person:
    """The person's complaints: those naming them, then those sharing a contact key or reference with these."""
    cols = (Complaint.id, Complaint.contact, Complaint.contact_key, Complaint.customer_ref, Complaint.received_at,
            Complaint.incident_id)
    # A value standing for no one as a contact (13800138000) is looked up as a reference only: messages queued to it
    # before that was known went to strangers.
    contact = None if no_one(person) else person
    named = [Complaint.customer_ref.in_(sorted(account_refs(person)))]
    if contact:  # never "contact IS NULL": every complaint without one
        named.append(Complaint.contact == contact)
    if key:
        named.append(Complaint.contact_key == key)
    seeds = session.execute(select(*cols).where(or_(*named))).all()
    keys = {r.contact_key for r in seeds if r.contact_key} | ({key} if key else set())
    refs = {r.customer_ref for r in seeds if r.customer_ref} | (set() if key else account_refs(person))
    linked = [Complaint.contact_key.in_(sorted(keys))] if keys else []
    if refs:
        linked.append(Complaint.customer_ref.in_(sorted(refs)))
    rows = session.execute(select(*cols).where(or_(*linked)).order_by(Complaint.id)).all() if linked else []
    weeks = set()
    for r in rows:  # a report's week is in the ops timezone: the weeks a day either side may fall in
        for shift in (-1, 0, 1):
            year, week, _ = (r.received_at + timedelta(days=shift)).isocalendar()
            weeks.add(f"{year}-W{week:02d}")
    return _Person(ids=[r.id for r in rows], direct={r.id for r in seeds}, keys=keys, refs=refs,
                   contacts={r.contact for r in rows if r.contact and normalise_contact(r.contact)}
                   | ({contact} if contact else set()),
                   weeks=weeks, incidents={r.incident_id for r in rows if r.incident_id})


def _not_erased(session: Session, who: _Person) -> list[dict[str, Any]]:
    """Reports already rendered that may mention the person: weekly reports of their weeks, major-event reports of
    their incidents."""
    out: list[dict[str, Any]] = []
    if who.weeks:
        out += [{"kind": r.kind, "period": r.period, "language": r.language, "path": r.path}
                for r in session.scalars(select(Report).where(Report.period.in_(sorted(who.weeks)))
                                         .order_by(Report.period, Report.kind, Report.language))]
    if who.incidents:
        out += [{"kind": "major_event", "period": f"incident {m.incident_id}", "language": None, "path": m.report_path}
                for m in session.scalars(select(MajorEvent).where(MajorEvent.incident_id.in_(sorted(who.incidents)),
                                                                  MajorEvent.report_path.is_not(None)))]
    return out


def _quarantine_needles(person: str, key: str | None, who: _Person) -> set[str]:
    """Quarantined rows are raw source text (JSON), matched in lower case without spaces (the reference is stored
    in one form, account_ref; the row keeps it as typed, " w607075546 "). A contact is matched anywhere, as given
    and normalised; a customer reference only as a whole JSON value, so forgetting "user1" leaves "user12" alone, and
    not one that stands for no one as a contact (13800138000: strangers' rows hold it as their phone)."""
    contacts = {c for c in who.contacts if c != person or key}
    needles = {n for c in contacts for n in (c, normalise_contact(c) or c)}
    refs = {json.dumps(r, ensure_ascii=False) for r in who.refs if not no_one(r)}
    return {n.lower().replace(" ", "") for n in needles | refs}


def forget(session: Session, person: str, *, pii_key: str, outbox_dir: Path, marker: str,
           dry_run: bool = False, evidence_dir: Path | None = None) -> ForgetSummary:
    """Anonymise everything stored about `person` across channels; with dry_run, only count it. Idempotent.
    Evidence files are deleted from `evidence_dir` (default: the settings' evidence folder)."""
    person = person.strip()
    key = contact_key(person, pii_key)
    if not key and not account_ref(person):
        if placeholder(person):  # N/A, 暂无: what strangers typed for none
            raise ValueError(f"{mask_text(person)!r} is what people type for none (a placeholder), no one person's: "
                             "name a customer reference, email address or mobile number")
        raise ValueError("name a customer reference, email address or mobile number")  # blank or invisible only
    who = _find_person(session, person, key)
    keys = who.keys | {k for k in (contact_key(c, pii_key) for c in who.contacts) if k}
    to_person = [Notification.recipient.in_(sorted(who.contacts))]
    if who.ids:
        to_person.append(Notification.complaint_id.in_(who.ids))
    if keys:
        to_person.append(Notification.contact_key.in_(sorted(keys)))
    messages = session.execute(
        select(Notification.id, Notification.message_id).where(or_(*to_person), Notification.recipient != marker)
    ).all()
    quoted = list(session.scalars(select(QuarantinedRecord.id).where(and_(
        QuarantinedRecord.raw != marker,
        or_(*(func.replace(func.lower(QuarantinedRecord.raw), " ", "").contains(n, autoescape=True)
              for n in _quarantine_needles(person, key, who)))))))
    summary = ForgetSummary(complaints=len(who.ids), linked_complaints=len(set(who.ids) - who.direct),
                            notifications=len(messages), quarantined=len(quoted),
                            not_erased=_not_erased(session, who))
    if keys:
        summary.opt_outs = len(session.scalars(select(OptOut.id).where(OptOut.contact_key.in_(sorted(keys)))).all())
    theirs = [c for c in (Transaction.contact_key.in_(sorted(keys)) if keys else None,
                          Transaction.customer_ref.in_(sorted(who.refs)) if who.refs else None) if c is not None]
    transactions = list(session.scalars(select(Transaction.id).where(or_(*theirs)))) if theirs else []
    summary.transactions = len(transactions)
    from_person = [c for c in (InboundMessage.complaint_id.in_(who.ids) if who.ids else None,
                               InboundMessage.contact_key.in_(sorted(keys)) if keys else None,
                               InboundMessage.transaction_id.in_(transactions) if transactions else None)
                   if c is not None]
    replies = list(session.scalars(select(InboundMessage.id).where(
        or_(*from_person), or_(InboundMessage.contact_key.is_not(None), InboundMessage.body_masked != marker)
    ))) if from_person else []
    summary.replies = len(replies)
    evidence_root = evidence_dir or get_settings().evidence_path
    now = utcnow()
    if dry_run:
        summary.attachments, summary.evidence_files = evidence.erase(session, who.ids, evidence_root, dry_run=True)
        return summary
    if who.ids:
        summary.attachments, summary.evidence_files = _anonymise(session, who.ids, marker, now, evidence_root)
    if messages:
        session.execute(update(Notification).where(Notification.id.in_([m.id for m in messages])).values(
            recipient=marker, subject=marker, body_text=marker, body_html=None, contact_key=None, attachments=[]),
            execution_options={"synchronize_session": False})
        summary.eml_files = remove_eml(outbox_dir, (m.message_id for m in messages))
    if replies:
        session.execute(update(InboundMessage).where(InboundMessage.id.in_(replies)).values(
            body_masked=marker, contact_key=None), execution_options={"synchronize_session": False})
    if quoted:
        forget_quarantined(session, quoted, marker, who.contacts | who.refs)
    if keys:
        session.execute(delete(OptOut).where(OptOut.contact_key.in_(sorted(keys))))
    if transactions:
        session.execute(update(Transaction).where(Transaction.id.in_(transactions)).values(
            contact=None, contact_masked=None, contact_key=None, customer_ref=None, anonymised_at=now),
            execution_options={"synchronize_session": False})
    session.flush()
    return summary
