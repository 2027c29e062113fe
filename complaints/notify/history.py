"""One customer's history across channels: every complaint, every message both ways, the files that came with it
(name, type, size, hash: never their contents), outcomes and call-back scores, masked. Found by customer ref, email
or phone: the keyed contact hash (the person key) joins the channels, and the complaints of a customer ref bring in
their contacts' other complaints."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from complaints.core.models import (
    CallbackResult,
    Complaint,
    ComplaintAttachment,
    ComplaintOutcome,
    InboundMessage,
    Notification,
)
from complaints.core.normalize import account_refs
from complaints.core.pii import contact_key, mask_text
from complaints.notify.outbox import ticket_number

EXCERPT = 160
HASH_PREFIX = 12
# Markdown that would make a file name a link, an image, a heading or a table cell where the history is rendered.
_MARKDOWN_RE = re.compile(r"([\\`*_{}\[\]()<>#+!|~])")
# What GitHub-flavoured markdown links by itself (a bare URL, www.): the ':' or '.' escaped breaks the autolink.
_AUTOLINK_RE = re.compile(r"(?i)\b(https?|ftp|mailto|javascript|data|file)(:)|\b(www)(\.)")


def md_escape(text: str) -> str:
    """User text as literal markdown: its markup characters backslash-escaped, bare links made plain text."""
    text = _MARKDOWN_RE.sub(r"\\\1", text)
    return _AUTOLINK_RE.sub(lambda m: f"{m.group(1) or m.group(3)}\\{m.group(2) or m.group(4)}", text)


@dataclass(frozen=True)
class Message:
    at: datetime
    direction: str  # out | in
    channel: str  # email | webhook
    kind: str  # acknowledgement, progress, resolution, callback, ... | reply
    text: str  # masked: the subject of what we sent, the reply's text
    status: str = ""  # delivery status of what we sent
    score: int | None = None


@dataclass(frozen=True)
class Attachment:
    name: str  # masked (a file name can be a phone number)
    type: str  # the sniffed type, else the declared one
    size: int
    hash_prefix: str  # of the stored file's SHA-256; "" for a file that could not be read
    rejected: str | None  # the reason, when it was not stored


@dataclass
class ComplaintHistory:
    ticket: str
    received_at: datetime
    channel: str
    contact: str | None  # masked
    category: str | None
    severity: str | None
    status: str
    amount: Decimal | None
    currency: str | None
    demand: str | None
    owner: str | None
    excerpt: str  # masked
    duplicate_of: str | None
    outcome: str | None = None  # "upheld, monetary 800.00 CNY, root cause system_fault"
    score: int | None = None  # the call-back's
    messages: list[Message] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)


def person_complaints(session: Session, key: str, pii_key: str) -> list[Complaint]:
    """The complaints of one person: by the key as customer ref, or as an email or phone (its keyed hash), plus
    every complaint of the contacts those complaints were sent from."""
    ck = contact_key(key, pii_key)
    named = [Complaint.customer_ref.in_(sorted(refs))] if (refs := account_refs(key)) else []
    if ck:
        named.append(Complaint.contact_key == ck)
    if not named:  # blank: it names no one (customer_ref IS NULL would be everyone without one)
        return []
    return _with_their_others(session, list(session.execute(select(Complaint).where(or_(*named))).scalars()))


def _with_their_others(session: Session, found: list[Complaint]) -> list[Complaint]:
    """These complaints and every other one sharing a contact key or a customer ref with them, oldest first."""
    keys = {c.contact_key for c in found if c.contact_key}
    refs = {c.customer_ref for c in found if c.customer_ref}
    if keys or refs:
        found = list(session.execute(
            select(Complaint).where(or_(Complaint.contact_key.in_(keys), Complaint.customer_ref.in_(refs)))
        ).scalars())
    return sorted(found, key=lambda c: (c.received_at, c.id))


def _outcome(o: ComplaintOutcome) -> str:
    parts = [o.outcome, o.relief]
    if o.redress_amount:
        parts.append(f"{o.redress_amount:,.2f} {o.redress_currency or ''}".strip())
    if o.root_cause:
        parts.append(f"root cause {o.root_cause}")
    return ", ".join(parts)


def customer_history(session: Session, key: str, pii_key: str) -> list[ComplaintHistory]:
    """Every complaint of the person with its messages (both directions, in time order), outcome and score."""
    return _histories(session, person_complaints(session, key, pii_key))


def complainant_history(session: Session, complaint_id: int) -> tuple[str, list[ComplaintHistory]]:
    """The history of the person who made this complaint (the review of its plan shows it), with a masked label for
    them (customer ref, else contact, else the ticket); no complaints when there is no such complaint."""
    complaint = session.get(Complaint, complaint_id)
    if complaint is None:
        return ticket_number(complaint_id), []
    label = mask_text(complaint.customer_ref) or complaint.contact_masked or ticket_number(complaint_id)
    return label, _histories(session, _with_their_others(session, [complaint]))


def _histories(session: Session, complaints: list[Complaint]) -> list[ComplaintHistory]:
    ids = [c.id for c in complaints]
    outcomes = {o.complaint_id: o for o in session.execute(
        select(ComplaintOutcome).where(ComplaintOutcome.complaint_id.in_(ids))).scalars()}
    scores = dict(session.execute(
        select(CallbackResult.complaint_id, CallbackResult.score).where(CallbackResult.complaint_id.in_(ids))).all())
    messages: dict[int, list[Message]] = {i: [] for i in ids}
    for n in session.execute(select(Notification).where(Notification.complaint_id.in_(ids))).scalars():
        if n.contact_key is None:
            continue  # staff mail about the complaint (escalations) is not part of the conversation
        messages[n.complaint_id or 0].append(Message(n.sent_at or n.created_at, "out", n.channel, n.kind,
                                                     mask_text(n.subject), n.status))
    for m in session.execute(select(InboundMessage).where(InboundMessage.complaint_id.in_(ids))).scalars():
        messages[m.complaint_id].append(Message(m.received_at, "in", m.channel, "reply", m.body_masked, score=m.score))
    files: dict[int, list[Attachment]] = {i: [] for i in ids}
    for a in session.execute(select(ComplaintAttachment).where(ComplaintAttachment.complaint_id.in_(ids))
                             .order_by(ComplaintAttachment.id)).scalars():
        files[a.complaint_id].append(Attachment(mask_text(a.file_name), a.sniffed_type or a.declared_type or "unknown",
                                                a.size_bytes, (a.sha256 or "")[:HASH_PREFIX], a.reason))
    out = []
    for c in complaints:
        o = outcomes.get(c.id)
        out.append(ComplaintHistory(
            ticket=ticket_number(c.id), received_at=c.received_at, channel=c.channel, contact=c.contact_masked,
            category=c.category, severity=c.severity, status=c.status, amount=c.amount, currency=c.currency,
            demand=c.demand, owner=c.owner, excerpt=mask_text(" ".join(f"{c.title or ''} {c.body}".split()))[:EXCERPT],
            duplicate_of=ticket_number(c.duplicate_of_id) if c.duplicate_of_id else None,
            outcome=_outcome(o) if o else None, score=scores.get(c.id),
            messages=sorted(messages[c.id], key=lambda m: m.at), attachments=files[c.id]))
    return out


def history_markdown(key_masked: str, history: list[ComplaintHistory]) -> str:
    """The history as markdown (the CLI prints it; review flows can publish it as an artifact)."""
    # Everything a user or a contact wrote is escaped: the artifact is rendered by the Prefect UI, where a link or an
    # image in a complaint's text would be clickable or fetched.
    lines = [f"# Customer {md_escape(key_masked)}: {len(history)} complaint(s)", ""]
    for h in history:
        money = f" · {h.amount:,.2f} {h.currency or ''}".rstrip() if h.amount else ""
        dup = f" · duplicate of {h.duplicate_of}" if h.duplicate_of else ""
        lines += [
            f"## {h.ticket} · {h.received_at:%Y-%m-%d %H:%M} UTC · {h.channel} · {md_escape(h.contact or '-')}{dup}",
            f"{h.category or 'unclassified'} · {h.severity or '-'} · {h.status} · demand {h.demand or '-'}{money}"
            f" · owner {h.owner or '-'}",
            f"> {md_escape(h.excerpt)}",
            f"- outcome: {h.outcome or 'none yet'}; call-back score: {h.score if h.score is not None else '-'}",
        ]
        if h.attachments:
            stored = sum(a.rejected is None for a in h.attachments)
            lines.append(f"- attachments: {stored} stored, {len(h.attachments) - stored} rejected")
            lines += [f"  - {md_escape(a.name)} · {a.type} · {_size(a.size)}"
                      + (f" · sha256 {a.hash_prefix}" if a.hash_prefix else "")
                      + (f" · **rejected** {md_escape(a.rejected)}" if a.rejected else "") for a in h.attachments]
        for m in h.messages:
            arrow = "→" if m.direction == "out" else "←"
            extra = f" [{m.status}]" if m.status else (f" [score {m.score}]" if m.score is not None else "")
            text = md_escape(" ".join(m.text.split()))
            lines.append(f"  - {m.at:%Y-%m-%d %H:%M} {arrow} {m.channel} {m.kind}{extra}: {text}")
        lines.append("")
    return "\n".join(lines)


def _size(n: int) -> str:
    """Bytes as people read them: 812 B, 12.3 KB, 4.0 MB."""
    if n < 1024:
        return f"{n} B"
    return f"{n / 1024:.1f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"
