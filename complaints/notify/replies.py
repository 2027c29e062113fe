"""Users' replies to our messages, by email (the IMAP source) or by the SMS/push gateway (the inbound webhook).

A reply is matched to its complaint by the message it answers (In-Reply-To / References, or the gateway's reply_to,
against the outbox's Message-IDs), else by a ticket number (C00000012) in its subject or text when it comes from the
complaint's own contact. A matched reply is recorded on the complaint as an inbound message (masked), not stored as
a new complaint; a reply to a call-back (回访) with a score ("5", "4分", "满意", "very satisfied") records the
call-back result, and the time of day it asks to be phoned in (上午/afternoon, ...) goes on its reply_received event
for the call-back step. A reply to a call-back after an important transaction is recorded on that transaction, with
its score and time window. An unmatched one is left to ingest as a complaint.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from complaints.core.db import insert_ignore
from complaints.core.models import CallbackResult, Complaint, ComplaintEvent, InboundMessage, Notification
from complaints.core.normalize import fold
from complaints.core.pii import contact_key, mask_text
from complaints.core.records import RawRecord

CALLBACK_KIND = "callback"
MAX_TEXT = 5_000  # of the masked reply kept on the complaint
TICKET_RE = re.compile(r"(?<![A-Za-z0-9])C(\d{8})(?!\d)")
_MESSAGE_ID_RE = re.compile(r"<[^<>\s]+>")
# Where the quoted message starts in a reply: "> ...", "On <date>, <name> wrote:", "在 ... 写道：", Outlook's header.
_QUOTE_RE = re.compile(
    r"^\s*(?:>|on\b.*\bwrote:\s*$|在.*写道\s*[:：]|-{2,}\s*(?:original message|原始邮件)|from:\s|发件人\s*[:：])",
    re.IGNORECASE,
)
_DIGITS = {"1": 1, "2": 2, "3": 3, "4": 4, "5": 5, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
# A reply whose first line is a score ("5", "score: 4", "评分：3分。"), or a score with its unit anywhere ("打1分",
# "4/5", "5 stars"); "5 days later" is no score.
_SCORE_LINE_RE = re.compile(
    r"^(?:score|rating|评分|打分)?\s*[:：]?\s*([1-5一二两三四五])\s*(?:分|星|points?|stars?|/\s*5)?\s*[,.!;:，。！；、]?")
_SCORE_UNIT_RE = re.compile(r"(?<![\d.])([1-5一二两三四五])\s*(?:分|星|points?|stars?|/\s*5)(?![\d.])")
# Longer phrases first: "非常不满意" holds "不满意", which holds "满意".
_SCORE_WORDS = (("非常不满意", 1), ("很不满意", 1), ("very dissatisfied", 1), ("very unsatisfied", 1), ("不满意", 2),
                ("dissatisfied", 2), ("unsatisfied", 2), ("not satisfied", 2), ("非常满意", 5), ("很满意", 5),
                ("very satisfied", 5), ("满意", 4), ("satisfied", 4), ("一般", 3), ("还行", 3), ("neutral", 3))


# The time of day a user picks for the call-back's phone call (the call-back message offers the three).
_WINDOWS = (("morning", ("上午", "早上", "morning")), ("afternoon", ("下午", "中午", "afternoon")),
            ("evening", ("晚上", "傍晚", "evening", "tonight")))


@dataclass(frozen=True)
class Reply:
    channel: str  # email | webhook
    message_id: str
    sender: str | None  # the email address or mobile number it came from
    text: str
    received_at: datetime
    answers: tuple[str, ...] = ()  # Message-IDs it answers (In-Reply-To, References; the gateway's reply_to)
    subject: str = ""


@dataclass(frozen=True)
class Recorded:
    complaint_id: int | None  # None for a reply to a call-back after a transaction
    new: bool  # False when this reply was recorded before (an IMAP re-read, a webhook retry)
    score: int | None
    window: str | None = None  # morning | afternoon | evening: when to phone for the call-back
    transaction_id: int | None = None  # the transaction whose call-back it answers (complaints.notify.transactions)


@dataclass(frozen=True)
class _Match:
    complaint_id: int | None
    transaction_id: int | None
    answered: Notification | None  # the message it answers, when it says


def fresh_text(text: str) -> str:
    """The reply's own text: the lines before the quoted message."""
    lines = []
    for line in text.splitlines():
        if _QUOTE_RE.match(line):
            break
        lines.append(line)
    return "\n".join(lines).strip()


def read_score(text: str) -> int | None:
    """A satisfaction score 1-5 written in the reply itself (the quoted call-back is ignored), else None."""
    lines = [fold(line).lower() for line in fresh_text(text).splitlines() if line.strip()]
    fresh = " ".join(lines)
    match = (_SCORE_LINE_RE.fullmatch(lines[0]) if lines else None) or _SCORE_UNIT_RE.search(fresh)
    if match:
        return _DIGITS[match.group(1)]
    return next((score for word, score in _SCORE_WORDS if word in fresh), None)


def read_time_window(text: str) -> str | None:
    """The time of day the reply asks to be called back in (morning, afternoon, evening); None when it names none,
    or several ("上午不行，下午可以": the specialist reads the reply)."""
    fresh = fold(fresh_text(text)).lower()
    found = [name for name, words in _WINDOWS if any(w in fresh for w in words)]
    return found[0] if len(found) == 1 else None


def message_ids(*headers: str | None) -> tuple[str, ...]:
    """The <message-id>s named in In-Reply-To / References header values, in order, without repeats."""
    return tuple(dict.fromkeys(m for h in headers if h for m in _MESSAGE_ID_RE.findall(h)))


def _match(session: Session, reply: Reply, pii_key: str) -> _Match | None:
    if reply.answers:
        answered = session.execute(
            select(Notification)
            .where(Notification.message_id.in_(reply.answers),
                   or_(Notification.complaint_id.is_not(None), Notification.transaction_id.is_not(None)))
            .order_by(Notification.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        if answered is not None:
            return _Match(answered.complaint_id, answered.transaction_id, answered)
    sender_key = contact_key(reply.sender, pii_key)
    for ticket in TICKET_RE.findall(f"{reply.subject}\n{reply.text}"):
        row = session.execute(
            select(Complaint.id, Complaint.duplicate_of_id, Complaint.contact_key).where(Complaint.id == int(ticket))
        ).one_or_none()
        # A ticket number alone is not proof: the reply must come from the complaint's own contact.
        if row is not None and sender_key is not None and row.contact_key == sender_key:
            return _Match(row.duplicate_of_id or row.id, None, None)
    return None


def _answers_callback(session: Session, complaint_id: int | None, answered: Notification | None) -> bool:
    """Whether the reply answers a call-back: the message it names is one, or (naming none, matched by ticket)
    its complaint was sent one."""
    if answered is not None:
        return answered.kind == CALLBACK_KIND
    if complaint_id is None:
        return False
    return session.execute(
        select(Notification.id).where(Notification.complaint_id == complaint_id, Notification.kind == CALLBACK_KIND,
                                      Notification.status == "sent").limit(1)
    ).first() is not None


def record_reply(session: Session, reply: Reply, pii_key: str) -> Recorded | None:
    """Record a reply on its complaint (once per channel and message id), with the call-back score it gives, or on
    the transaction whose call-back it answers; None when it matches neither."""
    m = InboundMessage
    known = session.execute(select(m.complaint_id, m.score, m.callback_window, m.transaction_id).where(
        m.channel == reply.channel, m.message_id == reply.message_id[:200])).one_or_none()
    if known is not None:
        # Recorded before: a re-read of the mailbox. It stays a reply even when its person has since been erased
        # (no contact left to match it by), never a new complaint with their words.
        return Recorded(known.complaint_id, False, known.score, known.callback_window, known.transaction_id)
    matched = _match(session, reply, pii_key)
    if matched is None:
        return None
    complaint_id, answered = matched.complaint_id, matched.answered
    masked = mask_text(fresh_text(reply.text) or reply.text)[:MAX_TEXT]
    callback = _answers_callback(session, complaint_id, answered)
    score = read_score(reply.text) if callback else None
    window = read_time_window(reply.text) if callback else None
    inserted = insert_ignore(session, InboundMessage, [{
        "complaint_id": complaint_id, "transaction_id": matched.transaction_id, "channel": reply.channel,
        "message_id": reply.message_id[:200], "received_at": reply.received_at,
        "contact_key": contact_key(reply.sender, pii_key), "body_masked": masked,
        "notification_id": answered.id if answered else None, "score": score, "callback_window": window,
    }], returning=(InboundMessage.id,))
    if inserted and complaint_id is not None:
        session.add(ComplaintEvent(complaint_id=complaint_id, at=reply.received_at, kind="reply_received",
                                   detail={"channel": reply.channel, "inbound_message_id": inserted[0].id,
                                           "score": score, "callback_window": window}))
        if score is not None:
            # The first scored reply is the call-back's result (one per complaint, as with the CSV import).
            insert_ignore(session, CallbackResult, [{"complaint_id": complaint_id, "reached": True, "score": score,
                                                     "comment": masked[:2000], "replied_at": reply.received_at}])
    session.flush()
    return Recorded(complaint_id, bool(inserted), score, window, matched.transaction_id)


def mail_reply(record: RawRecord) -> Reply | None:
    """The IMAP record (complaints.ingest.sources.imap.message_record) as a Reply; None for unreadable records."""
    data = record.data
    if record.error or not data.get("message_id") or not data.get("date"):
        return None
    return Reply(channel="email", message_id=str(data["message_id"]), sender=data.get("from"),
                 text=str(data.get("body") or ""), received_at=datetime.fromisoformat(str(data["date"])),
                 answers=message_ids(data.get("in_reply_to"), data.get("references")),
                 subject=str(data.get("subject") or ""))


def divert_replies(session: Session, records: Sequence[RawRecord], pii_key: str) -> tuple[list[RawRecord], int]:
    """The mail records that are not replies to a complaint (to ingest as complaints), and how many were replies
    recorded on their complaints."""
    rest, replies = [], 0
    for record in records:
        reply = mail_reply(record)
        if reply is not None and record_reply(session, reply, pii_key) is not None:
            replies += 1
        else:
            rest.append(record)
    return rest, replies
