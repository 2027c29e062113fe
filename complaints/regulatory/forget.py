"""Erasure on request: remove or anonymise one person's personal data everywhere, keep every statistic.

A person is named by their customer reference, email address or mobile number. Their complaints are
anonymised exactly as the retention purge does it (complaints.regulatory.retention): contact, customer ref,
title, text and raw record go; dates, channel, category, severity, amount, incident and outcome stay, so counts
by category, incidents, returns and reports of past periods do not change. Beyond the complaints, this also clears:
messages to the person (found by complaint, keyed contact hash or address) and their .eml copies in the outbox,
quarantined rows that quote the person (kept as rows, so quarantine counts stay), and their opt-out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from complaints.core.models import Complaint, Notification, OptOut, QuarantinedRecord
from complaints.core.pii import contact_key, mask_text, normalise_contact
from complaints.notify.channels.email import eml_path
from complaints.regulatory.retention import _anonymise


@dataclass
class ForgetSummary:
    complaints: int = 0
    notifications: int = 0
    eml_files: int = 0
    quarantined: int = 0
    opt_outs: int = 0


def _complaint_ids(session: Session, person: str, key: str | None) -> list[int]:
    who = [Complaint.customer_ref == person, Complaint.contact == person]
    if key:
        who.append(Complaint.contact_key == key)
    return list(session.scalars(select(Complaint.id).where(or_(*who)).order_by(Complaint.id)))


def forget(session: Session, person: str, *, pii_key: str, outbox_dir: Path, marker: str,
           dry_run: bool = False) -> ForgetSummary:
    """Anonymise everything stored about `person`; with dry_run, only count it. Idempotent."""
    person = person.strip()
    if not person:
        raise ValueError("name a customer reference, email address or mobile number")
    key = contact_key(person, pii_key)
    ids = _complaint_ids(session, person, key)
    to_person = [Notification.recipient == person]
    if ids:
        to_person.append(Notification.complaint_id.in_(ids))
    if key:
        to_person.append(Notification.contact_key == key)
    messages = session.execute(
        select(Notification.id, Notification.message_id).where(or_(*to_person), Notification.recipient != marker)
    ).all()
    # Quarantined rows are raw source text (JSON). A contact is matched anywhere, as given and normalised; a
    # customer reference only as a whole JSON value, so forgetting "user1" leaves "user12" alone.
    needles = {person, normalise_contact(person) or person} if key else {json.dumps(person, ensure_ascii=False)}
    quoted = list(session.scalars(select(QuarantinedRecord.id).where(
        or_(*(QuarantinedRecord.raw.contains(n, autoescape=True) for n in needles)))))
    summary = ForgetSummary(complaints=len(ids), notifications=len(messages), quarantined=len(quoted))
    if key:
        summary.opt_outs = len(session.scalars(select(OptOut.id).where(OptOut.contact_key == key)).all())
    if dry_run:
        return summary
    if ids:
        _anonymise(session, ids, marker)
    if messages:
        session.execute(update(Notification).where(Notification.id.in_([m.id for m in messages])).values(
            recipient=marker, subject=marker, body_text=marker, body_html=None, contact_key=None, attachments=[]),
            execution_options={"synchronize_session": False})
        for m in messages:
            path = eml_path(outbox_dir, m.message_id)
            if path.is_file():
                path.unlink()
                summary.eml_files += 1
    for q in session.scalars(select(QuarantinedRecord).where(QuarantinedRecord.id.in_(quoted))):
        q.raw, q.reason = marker, mask_text(q.reason).replace(person, marker)
    if key:
        session.execute(delete(OptOut).where(OptOut.contact_key == key))
    session.flush()
    return summary
