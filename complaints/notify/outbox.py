"""Notification outbox: queue rendered emails exactly once, then claim and send them.

Queuing is exactly-once: every row has an idempotency key, inserted with ON CONFLICT DO NOTHING,
so re-runs and concurrent runs cannot queue a message twice.

Sending is at-least-once at the edge. A row is committed as "sending" before the network call and
marked sent/failed in a later commit; a crash in between leaves it "sending", and after LEASE
another run sends it again. Such a re-send carries the same Message-ID (fixed at queue time),
so receiving systems and mail clients can recognise and drop the duplicate.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from complaints.core import pii
from complaints.core.config import AppConfig, SlaConfig, UserPolicy
from complaints.core.db import session_scope
from complaints.core.models import Complaint, Notification, Report, utcnow
from complaints.core.settings import Settings
from complaints.core.templating import environment
from complaints.notify.channels.email import (
    InvalidRecipient,
    Outcome,
    Outgoing,
    Sender,
    build_message,
    envelope_sender,
    make_message_id,
    make_sender,
)
from complaints.notify.channels.webhook import WebhookMessage, WebhookSender, build_webhook_message, make_webhook_sender
from complaints.notify.policy import earliest_send, opted_out, quiet_until, user_timezone
from complaints.notify.signoff import footer_context
from complaints.plans.create import sla_target

LANGUAGES = ("zh", "en")
ACK_KIND = "acknowledgement"
# A run that claimed rows and then died leaves them "sending"; after this they may be re-sent.
LEASE = timedelta(minutes=10)
CHUNK = 500  # rows per SELECT / INSERT statement (well under SQLite's bound-parameter limit)


# --- rendering --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def language_of(value: str | None) -> str:
    """A supported language, else zh."""
    return value if value in LANGUAGES else "zh"


def render_email(templates_dir: Path, template: str, language: str, context: Mapping[str, Any]) -> RenderedEmail:
    """templates/email/<template>.<lang>.subject.txt, .txt and .html rendered with one context."""
    env = environment(templates_dir)
    base = f"email/{template}.{language_of(language)}"
    subject = env.get_template(f"{base}.subject.txt").render(context)
    text = env.get_template(f"{base}.txt").render(context)
    if "signoff_lines" in context:  # a message to a complainant: the route and sign-off close it
        text = text.rstrip() + "\n\n" + env.get_template("email/_signoff.txt").render(context)
    return RenderedEmail(
        subject=" ".join(subject.split()),
        text=text,
        html=env.get_template(f"{base}.html").render(context),
    )


def format_day(day: date, language: str) -> str:
    """A date as written in a message: 2026年3月1日 in Chinese, ISO 8601 in English."""
    return f"{day.year}年{day.month}月{day.day}日" if language == "zh" else day.isoformat()


def ticket_number(complaint_id: int) -> str:
    """The ticket number customers see for a complaint, e.g. C00000042."""
    return f"C{complaint_id:08d}"


def resolve_due(sla: SlaConfig, received_at: datetime, severity: str | None, channel: str) -> datetime:
    """Received + resolve_days calendar days of the complaint's SLA target (the strictest rule applies)."""
    return received_at + timedelta(days=sla_target(sla, severity, channel).resolve_days)


# --- queuing ----------------------------------------------------------------------------------


def outbox_row(
    *,
    key: str,
    kind: str,
    recipient: str,
    language: str,
    rendered: RenderedEmail,
    attachments: Sequence[str],
    complaint_id: int | None,
    incident_id: int | None,
    mail_from: str,
    now: datetime,
    user: UserRoute | None = None,
    transaction_id: int | None = None,
) -> dict[str, Any]:
    """An outbox row; `user` marks a message to a complainant (channel, opt-out, cap, quiet hours)."""
    return {
        "idempotency_key": key,
        "kind": kind,
        "recipient": user.recipient if user else recipient.strip(),
        "language": language_of(language),
        "subject": rendered.subject,
        "body_text": rendered.text,
        "body_html": rendered.html,
        "attachments": list(attachments),
        "complaint_id": complaint_id,
        "incident_id": incident_id,
        "transaction_id": transaction_id,
        "status": "pending" if user is None or user.channel else "suppressed",
        "last_error": None if user is None or user.channel else "no channel",
        "attempts": 0,
        "message_id": make_message_id(key, mail_from),
        "created_at": now,
        "channel": (user.channel or "email") if user else "email",
        "contact_key": user.contact_key if user else None,
        "timezone": user.timezone if user else None,
        "not_before": user.not_before if user else None,
    }


@dataclass(frozen=True)
class UserRoute:
    """Where and when a message to a complainant goes."""

    channel: str | None  # email | webhook; None: no way to reach this contact
    recipient: str
    contact_key: str | None
    timezone: str
    not_before: datetime | None = None


def route_user(
    contact: str,
    contact_key: str | None,
    region: str | None,
    settings: Settings,
    policy: UserPolicy,
    *,
    kind: str,
    now: datetime,
    at: datetime | None = None,
) -> UserRoute:
    """Email for an address, the webhook (SMS / push) for a mobile number when configured; neither for a contact
    standing for no one (none@qq.com, 13800138000: a stranger's mailbox, the operator's number; pii.no_one).

    `at` schedules the message (call-backs); kinds under quiet hours move to the end of them.
    """
    tz = user_timezone(policy, region)
    value = contact.strip()
    channel: str | None = None
    real = not pii.no_one(value)
    if real and pii.is_email(value):
        channel = "email"
    elif real and settings.webhook_url and pii.PHONE_RE.fullmatch(value):
        channel = "webhook"
    recipient = value if channel else pii.mask_contact(value)  # an unreachable contact is kept masked only
    when = max(at or now, now)
    if kind in policy.quiet_hours.kinds:
        when = earliest_send(when, tz, policy.quiet_hours)
    not_before = when if when > now else None
    return UserRoute(channel, recipient, contact_key, tz, not_before)


def insert_new(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert rows whose idempotency key is new; returns how many were inserted."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    inserted = 0
    for start in range(0, len(rows), CHUNK):
        stmt = (
            insert(Notification)
            .values(rows[start : start + CHUNK])
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(Notification.id)
        )
        inserted += len(session.execute(stmt).all())
    return inserted


def queue_message(
    session: Session,
    *,
    key: str,
    kind: str,
    recipient: str,
    language: str,
    template: str,
    context: Mapping[str, Any],
    attachments: Sequence[str] = (),
    complaint_id: int | None = None,
    incident_id: int | None = None,
    settings: Settings,
    user: UserRoute | None = None,
) -> bool:
    """Render and enqueue one message unless `key` was queued before; True if newly queued."""
    rendered = render_email(settings.templates_dir, template, language, context)
    row = outbox_row(
        key=key,
        kind=kind,
        recipient=recipient,
        language=language,
        rendered=rendered,
        attachments=attachments,
        complaint_id=complaint_id,
        incident_id=incident_id,
        mail_from=settings.mail_from,
        now=utcnow(),
        user=user,
    )
    return insert_new(session, [row]) == 1


def queue_acknowledgements(session: Session, cfg: AppConfig, settings: Settings, now: datetime) -> int:
    """Queue an acknowledgement for each processed canonical complaint with an email contact.

    Only complaints through dedupe and classification (processed_at set) qualify, so a
    resubmission is never acknowledged as a new complaint. Complaints whose resolution deadline
    has already passed (a backfill of old records) get no acknowledgement promising that date.
    Returns the number newly queued.
    """
    ncfg = cfg.notifications
    if not ncfg.acknowledge:
        return 0
    tz = ZoneInfo(settings.timezone)
    categories = cfg.taxonomy.categories
    # Past the longest resolution target every deadline has passed: those are never acknowledged,
    # and bounding the scan keeps old complaints from being re-read on every run.
    sla = cfg.sla
    longest = max(t.resolve_days for t in (sla.default, *sla.by_severity.values(), *sla.by_channel.values()))
    query = (
        select(
            Complaint.id,
            Complaint.received_at,
            Complaint.channel,
            Complaint.contact,
            Complaint.contact_key,
            Complaint.region,
            Complaint.title,
            Complaint.language,
            Complaint.category,
            Complaint.severity,
            Complaint.source,
            Complaint.currency,
            Complaint.product,
        )
        .where(
            Complaint.duplicate_of_id.is_(None),
            Complaint.processed_at.is_not(None),
            Complaint.contact.is_not(None),
            Complaint.received_at > now - timedelta(days=longest),
        )
        .order_by(Complaint.id)
        .limit(CHUNK)
    )
    if ncfg.acknowledge_channels is not None:
        query = query.where(Complaint.channel.in_(ncfg.acknowledge_channels))
    if not settings.webhook_url:
        query = query.where(Complaint.contact.contains("@"))

    queued, last_id = 0, 0
    while True:
        chunk = session.execute(query.where(Complaint.id > last_id)).all()
        if not chunk:
            return queued
        last_id = chunk[-1].id
        # Those acknowledged already, by key: one index lookup per chunk. (An anti-join on the computed key took
        # 1.3 s a chunk, measured at 100k complaints, once the outbox had grown far past its statistics.)
        keys = {f"ack:complaint:{c.id}": c for c in chunk}
        done = set(session.scalars(select(Notification.idempotency_key)
                                   .where(Notification.idempotency_key.in_(keys))))
        rows = []
        for key, c in keys.items():
            if key in done:
                continue
            due = resolve_due(sla, c.received_at, c.severity, c.channel)
            user = route_user(c.contact, c.contact_key, c.region, settings, ncfg.policy, kind=ACK_KIND, now=now)
            # Unreachable contacts get no acknowledgement row: it would only repeat "no channel".
            if user.channel is None or due <= now:
                continue
            lang = language_of(c.language)
            category = categories.get(c.category or "") or categories[cfg.taxonomy.fallback]
            context = {
                "ticket": ticket_number(c.id),
                "title": c.title or "",
                "category_label": category.label_zh if lang == "zh" else category.label_en,
                "received_on": format_day(c.received_at.astimezone(tz).date(), lang),
                "resolve_by": format_day(due.astimezone(tz).date(), lang),
                **footer_context(cfg, _jurisdiction(cfg, c), ACK_KIND, lang),
            }
            rows.append(
                outbox_row(
                    key=key,
                    kind=ACK_KIND,
                    recipient=c.contact,
                    language=lang,
                    rendered=render_email(settings.templates_dir, "acknowledgement", lang, context),
                    attachments=(),
                    complaint_id=c.id,
                    incident_id=None,
                    mail_from=settings.mail_from,
                    now=now,
                    user=user,
                )
            )
        queued += insert_new(session, rows)


def _jurisdiction(cfg: AppConfig, c: Any) -> str:
    # Imported here: complaints.regulatory.clocks imports this module.
    from complaints.regulatory.clocks import ComplaintFacts, infer_jurisdiction

    return infer_jurisdiction(cfg.clocks, ComplaintFacts.of(c))


def _report_file(settings: Settings, report: Report) -> Path:
    path = Path(report.path)
    return path if path.is_absolute() else settings.reports_path / path


def queue_report_emails(
    session: Session, cfg: AppConfig, settings: Settings, reports: list[Report], run_url: str | None = None
) -> int:
    """One email per stakeholder per list and week, with that list's language's PDFs attached.

    The body quotes the headline figures (Report.summary) and links the run (run_url) and the files. A week
    whose reports changed (another content hash) is sent again; an unchanged one is not.
    """
    periods = sorted({r.period for r in reports})
    queued = 0
    for period in periods:
        for stakeholders in cfg.notifications.stakeholders:
            mine = sorted(
                (r for r in reports if r.period == period and r.language == stakeholders.language),
                key=lambda r: r.kind,
            )
            if not mine:
                continue
            files = [_report_file(settings, r) for r in mine]
            summary = mine[0].summary or {}
            version = "".join((r.summary or {}).get("content_hash", "")[:8] for r in mine)
            context = {
                "period": period,
                "list_name": stakeholders.name,
                "reports": [{"kind": r.kind, "filename": f.name, "url": f.resolve().as_uri()}
                            for r, f in zip(mine, files, strict=True)],
                "figures": summary,
                # Each currency apart, with thousands separators: CNY 57,238.00 · USD 1,200.50
                "money": " · ".join(f"{cur} {Decimal(v):,.2f}"
                                    for cur, v in sorted(summary.get("amounts", {}).items())),
                "run_url": run_url,
            }
            for recipient in stakeholders.recipients:
                queued += queue_message(
                    session,
                    key=f"report:{period}:{version + ':' if version else ''}{stakeholders.name}:{recipient}",
                    kind="report",
                    recipient=recipient,
                    language=stakeholders.language,
                    template="report",
                    context=context,
                    attachments=[str(f) for f in files],
                    settings=settings,
                )
    return queued


# --- claiming and sending ---------------------------------------------------------------------


def claim_batch(
    session: Session,
    limit: int,
    now: datetime,
    *,
    lease: timedelta = LEASE,
    retry_before: datetime | None = None,
) -> list[Notification]:
    """Atomically move up to `limit` sendable rows to "sending" (claimed_at=now, attempts+1).

    Sendable: pending and not held back (not_before unset or reached), or "sending" for longer
    than `lease` (the claiming run crashed). With
    `retry_before`, pending rows last claimed at or after it wait: a run passes its start time
    so rows it put back after a temporary error are retried by the next run, not in a loop.

    One statement, WITH picked AS (SELECT ids ... LIMIT) UPDATE ... RETURNING. PostgreSQL: the
    pick takes FOR UPDATE SKIP LOCKED, so concurrent claimers split the rows without waiting.
    SQLite: the statement holds the database write lock from its first read, so a concurrent
    claimer waits (busy_timeout) and then sees the rows already taken.
    The caller must commit before sending.
    """
    pending = and_(
        Notification.status == "pending", or_(Notification.not_before.is_(None), Notification.not_before <= now)
    )
    if retry_before is not None:
        pending = and_(pending, or_(Notification.claimed_at.is_(None), Notification.claimed_at < retry_before))
    stale = and_(Notification.status == "sending", Notification.claimed_at < now - lease)
    sendable = or_(pending, stale)
    picked = select(Notification.id).where(sendable).order_by(Notification.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        picked = picked.with_for_update(skip_locked=True)
    # A materialised CTE picks the ids exactly once. As a plain IN (sub-select) PostgreSQL may
    # re-run the sub-select per row, each run skipping rows already updated and taking more:
    # one claim then took every pending row regardless of the limit.
    picked_cte = picked.cte("picked").prefix_with("MATERIALIZED", dialect="postgresql")
    stmt = (
        update(Notification)
        # Re-checked in the outer statement: PostgreSQL re-evaluates it on rows changed meanwhile.
        .where(Notification.id.in_(select(picked_cte.c.id)), sendable)
        .values(status="sending", claimed_at=now, attempts=Notification.attempts + 1)
        .returning(Notification)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return sorted(session.scalars(stmt).all(), key=lambda n: n.id)


@dataclass
class SendSummary:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    suppressed: int = 0
    deferred: int = 0  # put back until the end of the user's quiet hours
    failures: list[str] = field(default_factory=list)  # masked, one per failed or retried row
    suppressions: list[str] = field(default_factory=list)  # masked, one per suppressed row

    def unsent(self, label: str, status: str, reason: str) -> None:
        """Count a row that ended failed or back to pending, with its reason."""
        self.failed += status == "failed"
        self.retried += status == "pending"
        self.failures.append(f"{label}: {reason}")


@dataclass(frozen=True)
class _Claim:
    notification_id: int
    outgoing: Outgoing | WebhookMessage
    attempts: int
    claimed_at: datetime
    label: str  # masked, for failure reasons


def _label(n: Notification) -> str:
    return pii.mask_text(f"#{n.id} {n.kind} to {n.recipient}")


@contextmanager
def _transaction(db: str | sessionmaker[Session]) -> Iterator[Session]:
    if isinstance(db, str):
        with session_scope(db) as session:
            yield session
    else:
        with db.begin() as session:
            yield session


def _fail_or_retry(attempts: int, max_attempts: int, reason: str) -> tuple[str, str]:
    if attempts >= max_attempts:
        return "failed", f"gave up after {attempts} attempts: {reason}"
    return "pending", reason


def _suppress(n: Notification, reason: str, summary: SendSummary) -> None:
    n.status, n.last_error = "suppressed", reason
    summary.suppressed += 1
    summary.suppressions.append(f"{_label(n)}: {reason}")


def _apply_user_policy(
    session: Session, claimed: list[Notification], policy: UserPolicy | None, now: datetime, summary: SendSummary
) -> list[Notification]:
    """Settle messages to complainants that must not go now; returns the rest, in claim order.

    Opt-outs always apply. With a policy: a message inside the user's quiet hours goes back to
    pending until they end (the claim's attempt is not counted), and one beyond the user's cap
    of recent messages is suppressed; older messages in the batch take the cap first.
    """
    keys = {n.contact_key for n in claimed if n.contact_key}
    if not keys:
        return claimed
    out = opted_out(session, keys)
    recent: dict[str, int] = {}
    if policy is not None:
        cap = policy.cap
        recent = dict(
            session.execute(  # type: ignore[arg-type]
                select(Notification.contact_key, func.count())
                .where(
                    Notification.contact_key.in_(keys),
                    Notification.status == "sent",
                    Notification.sent_at >= now - timedelta(days=cap.days),
                    Notification.kind.not_in(cap.exempt_kinds),
                )
                .group_by(Notification.contact_key)
            ).all()
        )
    ready = []
    for n in claimed:
        if not n.contact_key:
            ready.append(n)
        elif n.contact_key in out:
            _suppress(n, "opted out", summary)
        elif policy is None:
            ready.append(n)
        elif n.kind in policy.quiet_hours.kinds and (
            until := quiet_until(now, n.timezone or policy.timezone, policy.quiet_hours)
        ):
            n.status, n.not_before, n.attempts = "pending", until, n.attempts - 1
            summary.deferred += 1
        elif n.kind in policy.cap.exempt_kinds:
            ready.append(n)
        elif recent.get(n.contact_key, 0) >= policy.cap.max_messages:
            _suppress(n, f"frequency cap: {policy.cap.max_messages} messages in {policy.cap.days} days", summary)
        else:
            recent[n.contact_key] = recent.get(n.contact_key, 0) + 1
            ready.append(n)
    return ready


def _prepare(
    session: Session,
    claimed: list[Notification],
    settings: Settings,
    sender_address: str,
    max_attempts: int,
    summary: SendSummary,
    channels: frozenset[str],
) -> list[_Claim]:
    """Build the messages for claimed rows; rows that cannot or must not go out are settled here."""
    ack_ids = [n.complaint_id for n in claimed if n.kind == ACK_KIND and n.complaint_id is not None]
    merged = set(
        session.scalars(select(Complaint.id).where(Complaint.id.in_(ack_ids), Complaint.duplicate_of_id.is_not(None)))
    )
    ready = []
    for n in claimed:
        if n.kind == ACK_KIND and n.complaint_id in merged:
            # Merged into another complaint after queuing: that one carries the acknowledgement.
            _suppress(n, "complaint merged as a duplicate", summary)
            continue
        if n.channel not in channels:
            # Queued for a channel that has since been unconfigured.
            _suppress(n, "no channel", summary)
            continue
        if n.attempts > max_attempts:
            # Reclaimed after a crash during its last allowed attempt.
            last = n.last_error or "the sending run stopped before recording an outcome"
            n.status, n.last_error = "failed", f"gave up after {max_attempts} attempts: {last}"
            summary.unsent(_label(n), n.status, n.last_error)
            continue
        outgoing: Outgoing | WebhookMessage
        try:
            if n.channel == "webhook":
                outgoing = build_webhook_message(n)
            else:
                outgoing = Outgoing(n.id, sender_address, n.recipient.strip(), build_message(n, settings.mail_from))
        except InvalidRecipient as exc:
            n.status, n.last_error = "failed", str(exc)
            summary.unsent(_label(n), n.status, n.last_error)
            continue
        except OSError as exc:
            # A missing attachment may be a report still being written: retry like a 4xx.
            n.status, n.last_error = _fail_or_retry(n.attempts, max_attempts, pii.mask_text(f"attachment: {exc}"))
            summary.unsent(_label(n), n.status, n.last_error)
            continue
        assert n.claimed_at is not None  # set by claim_batch
        ready.append(_Claim(n.id, outgoing, n.attempts, n.claimed_at, _label(n)))
    return ready


def _record(
    session: Session,
    claims: list[_Claim],
    outcomes: dict[int, Outcome],
    max_attempts: int,
    summary: SendSummary,
    now: datetime,
) -> None:
    """Write the send outcomes, only for rows still held by this run's claim."""
    table = Notification.__table__
    stmt = (
        update(table)
        .where(
            table.c.id == bindparam("b_id"),
            table.c.status == "sending",
            # Another run may have reclaimed the row after our lease ran out: it owns it now.
            table.c.claimed_at == bindparam("b_claimed_at", type_=table.c.claimed_at.type),
        )
        .values(
            status=bindparam("b_status"),
            last_error=bindparam("b_error"),
            sent_at=bindparam("b_sent_at", type_=table.c.sent_at.type),
        )
    )
    params = []
    for claim in claims:
        nid = claim.notification_id
        outcome = outcomes[nid]
        if outcome.status == "sent":
            status, error, sent_at = "sent", None, now
            summary.sent += 1
        else:
            status, error = (
                ("failed", outcome.detail)
                if outcome.status == "permanent"
                else _fail_or_retry(claim.attempts, max_attempts, outcome.detail)
            )
            sent_at = None
            summary.unsent(claim.label, status, error)
        params.append(
            {"b_id": nid, "b_claimed_at": claim.claimed_at, "b_status": status, "b_error": error, "b_sent_at": sent_at}
        )
    session.execute(stmt, params)


def send_pending(
    db: str | sessionmaker[Session],
    settings: Settings,
    max_attempts: int,
    *,
    sender: Sender | None = None,
    webhook: WebhookSender | None = None,
    policy: UserPolicy | None = None,
    now: datetime | None = None,
    batch_size: int = 100,
    lease: timedelta = LEASE,
) -> SendSummary:
    """Claim and send pending notifications in batches until none is left for this run.

    `db` is a database URL or a sessionmaker. Per batch: one transaction claims (committed as
    "sending"), then the network send with no transaction open, then one transaction records
    sent / failed / back to pending. `now` fixes the clock (tests); by default the real time.
    Email goes through `sender` (default from settings), the webhook channel through `webhook`
    (default from settings; without one, webhook rows are suppressed). `policy` applies quiet
    hours and the frequency cap to messages for complainants; opt-outs apply always.
    """
    sender_address = envelope_sender(settings.mail_from)  # a bad From fails the run before any claim
    sender = sender or make_sender(settings)
    webhook = webhook or make_webhook_sender(settings)
    channels = frozenset({"email", "webhook"} if webhook else {"email"})
    clock = (lambda: now) if now is not None else utcnow
    started = clock()
    summary = SendSummary()
    while True:
        with _transaction(db) as session:
            at = clock()
            claimed = claim_batch(session, batch_size, at, lease=lease, retry_before=started)
            if not claimed:
                return summary
            allowed = _apply_user_policy(session, claimed, policy, at, summary)
            claims = _prepare(session, allowed, settings, sender_address, max_attempts, summary, channels)
        if not claims:
            continue
        emails = [c.outgoing for c in claims if isinstance(c.outgoing, Outgoing)]
        pushes = [c.outgoing for c in claims if isinstance(c.outgoing, WebhookMessage)]
        outcomes = sender.deliver(emails) if emails else {}
        if pushes:
            assert webhook is not None  # webhook rows without a sender were suppressed in _prepare
            outcomes |= webhook.deliver(pushes)
        with _transaction(db) as session:
            _record(session, claims, outcomes, max_attempts, summary, clock())
