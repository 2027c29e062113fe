"""Satisfaction call-backs after important transactions (notifications.yaml `callbacks.transactions`), read from a
transaction feed (sources.yaml kind: transactions, complaints.ingest.transactions): a large transfer (at least the
currency's threshold), a person's first withdrawal, a failed payment. A transfer or withdrawal counts once it has
succeeded: a pending one is called back about when the feed reports it done (within lookback_days), a failed one
not at all (nothing arrived to ask about).

Each such transaction queues one call-back through the outbox (key callback:transaction:<row id>: once per
transaction, whichever run sees it first), `delay_hours` after it. It is a message of kind `callback` to the
transaction's contact, so sending applies the same per-person frequency cap, quiet hours and opt-outs as every other
call-back (complaints.notify.outbox, complaints.notify.policy), and the reply's score and time of day for the phone
call are read back as a call-back reply's are (complaints.notify.replies), onto the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from complaints.core.config import AppConfig, TransactionCallbacks
from complaints.core.models import Notification, Transaction
from complaints.core.settings import Settings
from complaints.core.statuses import MessageKind, TransactionRule, TransactionStatus, TransactionType
from complaints.notify.outbox import format_day, insert_new, outbox_row, render_email, route_user
from complaints.notify.signoff import signoff_lines
from complaints.process.dedupe import identities

TEMPLATE = "transaction_callback"


def callback_key(transaction_row_id: int) -> str:
    """The outbox key of a transaction's call-back: one per transaction."""
    return f"callback:transaction:{transaction_row_id}"


def _first_withdrawals(session: Session, candidates: Iterable[Transaction]) -> set[int]:
    """Those of the candidate withdrawals that are their person's first: no earlier succeeded withdrawal shares a
    customer reference or a contact key with them (the person key dedupe uses)."""
    candidates = list(candidates)
    refs = {t.customer_ref for t in candidates if t.customer_ref}
    keys = {t.contact_key for t in candidates if t.contact_key}
    if not refs and not keys:
        return set()
    same_person = [c for c in (Transaction.customer_ref.in_(refs) if refs else None,
                               Transaction.contact_key.in_(keys) if keys else None) if c is not None]
    earlier: dict[str, tuple[datetime, int]] = {}
    rows = session.execute(select(Transaction.id, Transaction.occurred_at, Transaction.customer_ref,
                                  Transaction.contact_key)
                           .where(Transaction.type == TransactionType.withdrawal,
                                  Transaction.status == TransactionStatus.succeeded, or_(*same_person))).all()
    for r in rows:
        for identity in identities(r):
            earlier[identity] = min(earlier.get(identity, (r.occurred_at, r.id)), (r.occurred_at, r.id))
    return {t.id for t in candidates
            if all(earlier[i] == (t.occurred_at, t.id) for i in identities(t))}


def rule_of(t: Transaction, rules: TransactionCallbacks, first_withdrawals: set[int]) -> TransactionRule | None:
    """Why this transaction gets a call-back, or None."""
    threshold = rules.large_transfer.get(t.currency or "")
    done = t.status == TransactionStatus.succeeded
    if t.type == TransactionType.transfer and done and threshold is not None and t.amount >= threshold:
        return TransactionRule.large_transfer
    if t.type == TransactionType.withdrawal and done and rules.first_withdrawal and t.id in first_withdrawals:
        return TransactionRule.first_withdrawal
    if t.type == TransactionType.payment and rules.failed_payment and t.status == TransactionStatus.failed:
        return TransactionRule.failed_payment
    return None


def queue_transaction_callbacks(session: Session, cfg: AppConfig, settings: Settings, now: datetime) -> int:
    """Queue a call-back for every important transaction of the last lookback_days (up to `now`) that has a
    contact and none yet; how many were queued."""
    rules = cfg.notifications.callbacks.transactions
    if not rules.enabled:
        return 0
    wanted = []
    if rules.large_transfer:
        wanted.append(and_(Transaction.type == TransactionType.transfer,
                           Transaction.status == TransactionStatus.succeeded,
                           Transaction.currency.in_(list(rules.large_transfer))))
    if rules.first_withdrawal:
        wanted.append(and_(Transaction.type == TransactionType.withdrawal,
                           Transaction.status == TransactionStatus.succeeded))
    if rules.failed_payment:
        wanted.append(and_(Transaction.type == TransactionType.payment,
                           Transaction.status == TransactionStatus.failed))
    if not wanted:
        return 0
    candidates = list(session.execute(
        select(Transaction)
        .where(Transaction.occurred_at >= now - timedelta(days=rules.lookback_days), Transaction.occurred_at <= now,
               Transaction.contact.is_not(None), or_(*wanted))
        .order_by(Transaction.occurred_at, Transaction.id)).scalars())
    done = set(session.scalars(select(Notification.idempotency_key).where(
        Notification.idempotency_key.in_([callback_key(t.id) for t in candidates])))) if candidates else set()
    candidates = [t for t in candidates if callback_key(t.id) not in done]
    firsts = _first_withdrawals(session, (t for t in candidates if t.type == TransactionType.withdrawal))
    tz = ZoneInfo(settings.timezone)
    lang = rules.language
    rows = []
    for t in candidates:
        rule = rule_of(t, rules, firsts)
        if rule is None or t.contact is None:
            continue
        context = {"rule": rule.value, "amount": f"{t.amount:,.2f}", "currency": t.currency or "",
                   "occurred_on": format_day(t.occurred_at.astimezone(tz).date(), lang),
                   # No complaint, so no escalation route: only who writes.
                   "escalation_route": None, "signoff_lines": signoff_lines(cfg, lang)}
        user = route_user(t.contact, t.contact_key, None, settings, cfg.notifications.policy,
                          kind=MessageKind.callback, now=now, at=t.occurred_at + timedelta(hours=rules.delay_hours))
        rows.append(outbox_row(key=callback_key(t.id), kind=MessageKind.callback, recipient=t.contact, language=lang,
                               rendered=render_email(settings.templates_dir, TEMPLATE, lang, context), attachments=(),
                               complaint_id=None, incident_id=None, mail_from=settings.mail_from, now=now, user=user,
                               transaction_id=t.id))
    return insert_new(session, rows) if rows else 0
