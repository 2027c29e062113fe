"""Updates that follow a complaint's life: progress, resolution (the decision, the remedy, thanks), and the
call-back (回访).

A resolution follows every way a complaint ends: its recorded outcome (`complaints outcome record`), its own plan's
closing, its incident's resolution. Progress follows an incident's status, and a queued complaint whose answer
deadline passed without an outcome ("late"). Each message goes once to every affected user, one per person: the
members of an incident (or the complaint) and the complaints merged into them as duplicates are grouped by
contact_key, so a user who complained three times gets one message. Idempotency keys carry the subject, the status
and the user, e.g. progress:incident:12:investigating:<contact_key>. The messages that close a complaint (resolution,
call-back) are keyed by the user's ticket instead, resolution:complaint:34:<contact_key>, whichever way it closed
first: its outcome, its plan's closing, or its incident's resolution (a member of an incident with an outcome of
its own hears once).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from complaints.core.config import AppConfig
from complaints.core.models import Complaint, ComplaintOutcome, Incident, Notification, Plan
from complaints.core.settings import Settings
from complaints.core.statuses import INCIDENT_RESOLVED, MessageKind
from complaints.notify.outbox import (
    CHUNK,
    format_day,
    insert_new,
    language_of,
    outbox_row,
    render_email,
    route_user,
    ticket_number,
)
from complaints.notify.signoff import footer_context, jurisdictions_of
from complaints.plans.create import sla_target
from complaints.regulatory.outcomes import closed_at_column, with_closure


@dataclass(frozen=True)
class AffectedUser:
    ticket_id: int  # the complaint whose ticket the user knows (the canonical one of their duplicates)
    contact: str
    contact_key: str
    language: str
    region: str | None


@dataclass(frozen=True)
class Subject:
    """An incident or a single complaint whose users hear about it."""

    kind: str  # incident | complaint
    id: int
    category: str | None
    resolved_at: datetime | None
    status: str | None = None  # incident status, for progress updates


def affected_users(session: Session, subject_type: str, subject_id: int) -> list[AffectedUser]:
    """One entry per contact_key: members of the subject plus complaints merged into them."""
    if subject_type == "incident":
        members = select(Complaint.id).where(Complaint.incident_id == subject_id)
    else:
        members = select(Complaint.id).where(Complaint.id == subject_id)
    rows = session.execute(
        select(
            Complaint.id,
            Complaint.duplicate_of_id,
            Complaint.contact,
            Complaint.contact_key,
            Complaint.language,
            Complaint.region,
        )
        .where(
            or_(Complaint.id.in_(members), Complaint.duplicate_of_id.in_(members)),
            Complaint.contact_key.is_not(None),
            Complaint.contact.is_not(None),
        )
        # Canonical complaints first, then the oldest: the ticket the user was acknowledged with.
        .order_by(Complaint.duplicate_of_id.is_not(None), Complaint.received_at, Complaint.id)
    ).all()
    users: dict[str, AffectedUser] = {}
    for r in rows:
        users.setdefault(
            r.contact_key, AffectedUser(r.duplicate_of_id or r.id, r.contact, r.contact_key, r.language, r.region)
        )
    return list(users.values())


def _existing(session: Session, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        found |= set(
            session.scalars(select(Notification.idempotency_key).where(Notification.idempotency_key.in_(chunk)))
        )
    return found


def per_user(prefix: str) -> Callable[[AffectedUser], str]:
    """Keys of a message about one subject and status: prefix:<contact_key>."""
    return lambda u: f"{prefix}:{u.contact_key}"


def closing_key(kind: str) -> Callable[[AffectedUser], str]:
    """Keys of a message that closes a complaint (resolution, its call-back): per ticket and person, the same whether
    the complaint's outcome, its plan's closing or its incident's resolution queues it first."""
    return lambda u: f"{kind}:complaint:{u.ticket_id}:{u.contact_key}"


def _queue_for_users(
    session: Session,
    cfg: AppConfig,
    settings: Settings,
    now: datetime,
    subject: Subject,
    *,
    kind: str,
    key: Callable[[AffectedUser], str],
    context: Callable[[AffectedUser, str], Mapping[str, Any]],
    at: datetime | None = None,
) -> int:
    """One message per affected user of `subject`; `key(user)` is its idempotency key, `context(user, lang)` gives
    the template variables."""
    users = affected_users(session, subject.kind, subject.id)
    jurisdictions = jurisdictions_of(session, cfg, (u.ticket_id for u in users))  # escalation route
    keys = {u.contact_key: key(u) for u in users}
    done = _existing(session, list(keys.values()))
    rows = []
    for u in users:
        if keys[u.contact_key] in done:
            continue
        lang = language_of(u.language)
        rows.append(
            outbox_row(
                key=keys[u.contact_key],
                kind=kind,
                recipient=u.contact,
                language=lang,
                rendered=render_email(settings.templates_dir, kind, lang, {
                    **context(u, lang), **footer_context(cfg, jurisdictions.get(u.ticket_id), kind, lang)}),
                attachments=(),
                complaint_id=u.ticket_id,
                incident_id=subject.id if subject.kind == "incident" else None,
                mail_from=settings.mail_from,
                now=now,
                user=route_user(
                    u.contact, u.contact_key, u.region, settings, cfg.notifications.policy, kind=kind, now=now, at=at
                ),
            )
        )
    return insert_new(session, rows) if rows else 0


def _subjects(session: Session, since: datetime, progress_statuses: list[str]) -> list[Subject]:
    """Incidents with a new status or resolution, and complaints whose own plan closed, since `since`.

    An incident counts as resolved when its status says so or its plan is closed.
    """
    incidents = session.execute(
        select(
            Incident.id, Incident.category, Incident.status, Incident.resolved_at, Incident.updated_at, Plan.closed_at
        )
        .outerjoin(Plan, (Plan.subject_type == "incident") & (Plan.subject_id == Incident.id))
        .where(
            or_(
                Incident.updated_at >= since,
                Incident.resolved_at >= since,
                Plan.closed_at >= since,
            )
        )
        .order_by(Incident.id)
    ).all()
    subjects = []
    for i in incidents:
        resolved_at = (i.resolved_at or i.updated_at) if i.status in INCIDENT_RESOLVED else i.closed_at
        if resolved_at is not None or i.status in progress_statuses:
            subjects.append(Subject("incident", i.id, i.category, resolved_at, i.status))
    plans = session.execute(
        select(Complaint.id, Complaint.category, Plan.closed_at)
        .join(Plan, (Plan.subject_type == "complaint") & (Plan.subject_id == Complaint.id))
        .where(Plan.closed_at >= since)
    ).all()
    decided = session.execute(
        select(Complaint.id, Complaint.category, ComplaintOutcome.decided_at.label("closed_at"))
        .join(ComplaintOutcome, ComplaintOutcome.complaint_id == Complaint.id)
        .where(ComplaintOutcome.decided_at >= since)
    ).all()
    # A complaint decided and with its plan closed is one subject, resolved at the earlier of the two.
    closed: dict[int, Any] = {}
    for c in sorted([*plans, *decided], key=lambda r: (r.id, r.closed_at)):
        closed.setdefault(c.id, c)
    subjects += [Subject("complaint", c.id, c.category, c.closed_at) for c in closed.values()]
    return subjects


def _outcomes(session: Session, subject: Subject) -> dict[int, Any]:
    """The recorded decisions on the subject's complaints (the tickets its users know), by complaint id."""
    members = select(Complaint.id).where(
        Complaint.incident_id == subject.id if subject.kind == "incident" else Complaint.id == subject.id)
    rows = session.execute(select(ComplaintOutcome).where(ComplaintOutcome.complaint_id.in_(members))).scalars()
    return {o.complaint_id: o for o in rows}


def _decision(outcome: Any, lang: str, tz: ZoneInfo) -> dict[str, Any]:
    """What the resolution says of a recorded decision: upheld or not, the remedy (amount, currency, when), the
    basis. Empty without a decision: the message then gives the plan's or incident's resolution note only."""
    if outcome is None:
        return {}
    amount = outcome.redress_amount
    return {
        "outcome": outcome.outcome,
        "relief": outcome.relief,
        "redress": f"{amount:,.2f}" if amount else None,
        "currency": outcome.redress_currency or "",
        "remedy_on": format_day(outcome.remedy_at.astimezone(tz).date(), lang) if outcome.remedy_at else None,
        "basis": outcome.basis,
    }


def _late(session: Session, since: datetime, now: datetime) -> list[Any]:
    """Queued complaints whose answer deadline passed (since `since`) with no outcome, plan closing or incident
    resolution yet."""
    return session.execute(
        with_closure(select(Complaint.id, Complaint.category, Complaint.severity, Complaint.channel,
                            Complaint.answer_due_at))
        .where(Complaint.owner.is_not(None), Complaint.answer_due_at < now, Complaint.answer_due_at >= since,
               closed_at_column().is_(None))
        .order_by(Complaint.id)
    ).all()


def _sampled(period: str, contact_key: str, share: float) -> bool:
    """A fixed share of people, drawn anew each period, the same on every run of it."""
    digest = hashlib.sha256(f"{period}:{contact_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < share * 2**64


def queue_periodic_callbacks(session: Session, cfg: AppConfig, settings: Settings, now: datetime) -> int:
    """Once a calendar month, a satisfaction call-back to a sample of the people with a complaint closed in the last
    lookback_days, about their latest one; nobody who had a call-back in the last rest_days. Sending applies the
    same per-person frequency cap, quiet hours and opt-outs as every call-back."""
    periodic = cfg.notifications.callbacks.periodic
    tz = ZoneInfo(settings.timezone)
    period = now.astimezone(tz).strftime("%Y-%m")
    closed_at = closed_at_column()
    rows = session.execute(
        with_closure(select(Complaint.id, Complaint.category, Complaint.contact_key, closed_at.label("closed_at")))
        .where(Complaint.duplicate_of_id.is_(None), Complaint.contact_key.is_not(None),
               closed_at >= now - timedelta(days=periodic.lookback_days), closed_at <= now)
        .order_by(closed_at, Complaint.id)
    ).all()
    latest = {r.contact_key: r for r in rows}  # ordered by closing: the last one per person wins
    rested = set(session.scalars(select(Notification.contact_key).where(
        Notification.kind == "callback", Notification.created_at >= now - timedelta(days=periodic.rest_days))))
    queued = 0
    for key, r in latest.items():
        if key in rested or not _sampled(period, key, periodic.share):
            continue
        queued += _queue_for_users(
            session, cfg, settings, now, Subject("complaint", r.id, r.category, r.closed_at),
            kind="callback", key=per_user(f"callback:periodic:{period}"),
            context=lambda u, lang, at=r.closed_at: {
                "ticket": ticket_number(u.ticket_id), "resolved_on": format_day(at.astimezone(tz).date(), lang)},
        )
    return queued


def queue_updates(session: Session, cfg: AppConfig, settings: Settings, now: datetime) -> dict[str, int]:
    """Queue progress, resolution and call-back messages for every affected user; counts newly queued."""
    ncfg = cfg.notifications
    updates, callbacks = ncfg.incident_updates, ncfg.callbacks
    tz = ZoneInfo(settings.timezone)
    counts = {"progress": 0, "resolution": 0, "callback": 0}
    since = now - timedelta(days=updates.lookback_days)
    for late in _late(session, since, now):
        # The answer is late: say so once, and by when it will come (the SLA's extension).
        answer_by = late.answer_due_at + timedelta(days=sla_target(cfg.sla, late.severity, late.channel).extension_days)
        counts["progress"] += _queue_for_users(
            session, cfg, settings, now, Subject("complaint", late.id, late.category, None),
            kind="progress", key=per_user(f"progress:complaint:{late.id}:late"),
            context=lambda u, lang, by=answer_by: {
                "ticket": ticket_number(u.ticket_id),
                "progress_note": updates.late.zh if lang == "zh" else updates.late.en,
                "next_update_by": format_day(by.astimezone(tz).date(), lang),
            },
        )
    for subject in _subjects(session, since, list(updates.progress)):
        prefix = f"{subject.kind}:{subject.id}"
        if subject.resolved_at is None:
            assert subject.status is not None
            note = updates.progress[subject.status]
            counts["progress"] += _queue_for_users(
                session,
                cfg,
                settings,
                now,
                subject,
                kind="progress",
                key=per_user(f"progress:{prefix}:{subject.status}"),
                context=lambda u, lang, note=note: {
                    "ticket": ticket_number(u.ticket_id),
                    "progress_note": note.zh if lang == "zh" else note.en,
                },
            )
            continue
        resolved_at = subject.resolved_at
        outcomes = _outcomes(session, subject)
        counts["resolution"] += _queue_for_users(
            session,
            cfg,
            settings,
            now,
            subject,
            kind="resolution",
            key=closing_key(MessageKind.resolution),
            context=lambda u, lang, at=resolved_at, outcomes=outcomes: {
                "ticket": ticket_number(u.ticket_id),
                "resolution": updates.resolution.zh if lang == "zh" else updates.resolution.en,
                "resolved_on": format_day(at.astimezone(tz).date(), lang),
                **_decision(outcomes.get(u.ticket_id), lang, tz),
            },
        )
        if callbacks.enabled:
            days = callbacks.by_category.get(subject.category or "", callbacks.default_days)
            counts["callback"] += _queue_for_users(
                session,
                cfg,
                settings,
                now,
                subject,
                kind="callback",
                key=closing_key(MessageKind.callback),
                context=lambda u, lang, at=resolved_at: {
                    "ticket": ticket_number(u.ticket_id),
                    "resolved_on": format_day(at.astimezone(tz).date(), lang),
                },
                at=resolved_at + timedelta(days=days),
            )
    if callbacks.periodic.enabled:
        counts["callback"] += queue_periodic_callbacks(session, cfg, settings, now)
    return counts
