"""Statutory clocks: the rules of config/clocks.yaml applied to each complaint, several at once.

A clock starts when the complaint is received and runs to midnight (jurisdiction's timezone) of its last
day, counted from the day after receipt in calendar or business days of the jurisdiction's holiday
calendar. It is met when the complaint closes (or, for response clocks, is first answered) in time,
breached (or, for a target such as FCA summary resolution, lapsed) when not. An extension is an approved,
recorded event and queues the notice the complainant must get.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from complaints.core.business_time import BusinessCalendar
from complaints.core.config import AppConfig, ClockRule, ClocksConfig, ClockUnit, Jurisdiction, SlaConfig
from complaints.core.db import insert_ignore
from complaints.core.models import Complaint, ComplaintClock, ComplaintEvent, Notification
from complaints.core.settings import Settings
from complaints.core.statuses import CLOCK_RUNNING
from complaints.notify.outbox import format_day, language_of, queue_message, route_user, ticket_number
from complaints.notify.signoff import footer_context
from complaints.regulatory.outcomes import closure_times

CHUNK = 500


class ClockError(ValueError):
    """An action on a clock the rules do not allow."""


@dataclass(frozen=True)
class ComplaintFacts:
    """The complaint fields that choose a jurisdiction and rules."""

    source: str
    channel: str
    currency: str | None
    language: str | None
    region: str | None
    product: str | None
    category: str | None

    @classmethod
    def of(cls, c: Any) -> ComplaintFacts:
        return cls(c.source, c.channel, c.currency, c.language, c.region, c.product, c.category)


# --- calendars and deadlines ------------------------------------------------------------------


def calendar_for(jurisdiction: Jurisdiction) -> BusinessCalendar:
    """The jurisdiction's working days, through the same calendar class as the SLA."""
    j = jurisdiction
    return _calendar(j.timezone, j.holidays_country, tuple(j.extra_holidays), tuple(j.extra_workdays))


@lru_cache(maxsize=16)  # the holidays package builds its year tables lazily: keep one per jurisdiction
def _calendar(tz: str, country: str, holidays: tuple[date, ...], workdays: tuple[date, ...]) -> BusinessCalendar:
    return BusinessCalendar(SlaConfig(timezone=tz, holidays_country=country, extra_holidays=list(holidays),
                                      extra_workdays=list(workdays)))


def last_day(start: datetime, days: int, unit: ClockUnit, cal: BusinessCalendar) -> date:
    """The last day of a period of `days` counted from the day after `start` (local day)."""
    day = start.astimezone(cal.tz).date()
    if unit == "calendar_days":
        return day + timedelta(days=days)
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        counted += cal.is_workday(day)
    return day


def deadline(start: datetime, days: int, unit: ClockUnit, cal: BusinessCalendar) -> datetime:
    """Midnight at the end of the last day, in the calendar's timezone."""
    end = datetime.combine(last_day(start, days, unit, cal) + timedelta(days=1), time(0), tzinfo=cal.tz)
    return end.astimezone(start.tzinfo)


def due_day(clock: ComplaintClock, cfg: ClocksConfig) -> date:
    """The last day a clock allows, as told to people."""
    tz = calendar_for(cfg.jurisdictions[clock.jurisdiction]).tz
    return (clock.due_at.astimezone(tz) - timedelta(microseconds=1)).date()


# --- selection --------------------------------------------------------------------------------


def _matches(values: list[str], value: str | None) -> bool:
    return not values or (value is not None and value.casefold() in {v.casefold() for v in values})


def infer_jurisdiction(cfg: ClocksConfig, facts: ComplaintFacts) -> str:
    """First `infer` entry whose named fields all match; else the default jurisdiction."""
    for m in cfg.infer:
        checks = ((m.source, facts.source), (m.channel, facts.channel), (m.currency, facts.currency),
                  (m.language, facts.language), (m.region, facts.region))
        if all(_matches(values, value) for values, value in checks):
            return m.jurisdiction
    return cfg.default_jurisdiction


def _product_has(words: list[str], product: str | None) -> bool:
    text = (product or "").casefold()
    return any(w.casefold() in text for w in words)


def select_rules(cfg: ClocksConfig, facts: ComplaintFacts) -> tuple[str, list[ClockRule]]:
    """The complaint's jurisdiction and every rule of it whose filters match."""
    jurisdiction = infer_jurisdiction(cfg, facts)
    rules = [
        r for r in cfg.rules
        if r.jurisdiction == jurisdiction
        and _matches(r.channels, facts.channel)
        and _matches(r.sources, facts.source)
        and _matches(r.categories, facts.category)
        and (not r.product_contains or _product_has(r.product_contains, facts.product))
        and not _product_has(r.exclude_product_contains, facts.product)
    ]
    return jurisdiction, rules


# --- starting and keeping clocks --------------------------------------------------------------


def start_clocks(session: Session, cfg: AppConfig) -> int:
    """Start the clocks of processed canonical complaints that have none; returns clocks started.
    The unique (complaint_id, rule_id) key makes re-runs and overlapping runs start each clock once."""
    ccfg = cfg.clocks
    started, last_id = 0, 0
    has_clock = select(ComplaintClock.complaint_id)
    query = (
        select(Complaint.id, Complaint.received_at, Complaint.source, Complaint.channel, Complaint.currency,
               Complaint.language, Complaint.region, Complaint.product, Complaint.category)
        .where(Complaint.duplicate_of_id.is_(None), Complaint.processed_at.is_not(None),
               Complaint.id.not_in(has_clock))
        .order_by(Complaint.id)
        .limit(CHUNK)
    )
    while chunk := session.execute(query.where(Complaint.id > last_id)).all():
        last_id = chunk[-1].id
        rows = []
        for c in chunk:
            jurisdiction, rules = select_rules(ccfg, ComplaintFacts.of(c))
            cal = calendar_for(ccfg.jurisdictions[jurisdiction])
            rows += [{"complaint_id": c.id, "rule_id": r.id, "library_version": ccfg.version,
                      "jurisdiction": jurisdiction, "started_at": c.received_at,
                      "due_at": deadline(c.received_at, r.days, r.unit, cal), "status": "running",
                      "extensions": 0, "extended_by": 0} for r in rules]
        started += len(insert_ignore(session, ComplaintClock, rows, returning=(ComplaintClock.id,)))
    return started


def _response_times(session: Session, cfg: ClocksConfig, ids: list[int]) -> dict[int, datetime]:
    rows = session.execute(
        select(Notification.complaint_id, func.min(Notification.sent_at))
        .where(Notification.complaint_id.in_(ids), Notification.kind.in_(cfg.response_kinds),
               Notification.sent_at.is_not(None))
        .group_by(Notification.complaint_id)
    ).all()
    return {complaint_id: sent_at for complaint_id, sent_at in rows}


def refresh_clocks(session: Session, cfg: AppConfig, now: datetime) -> dict[str, int]:
    """Stop running clocks whose complaint closed (met / breached), mark missed ones; counts by new status."""
    ccfg = cfg.clocks
    counts = {"met": 0, "breached": 0, "lapsed": 0}
    last_id = 0
    query = (select(ComplaintClock).where(ComplaintClock.status.in_(CLOCK_RUNNING))
             .order_by(ComplaintClock.id).limit(CHUNK))
    while clocks := list(session.execute(query.where(ComplaintClock.id > last_id)).scalars()):
        last_id = clocks[-1].id
        ids = sorted({c.complaint_id for c in clocks})
        closed = closure_times(session, ids)
        responded = _response_times(session, ccfg, ids)
        for clock in clocks:
            try:
                rule = ccfg.rule(clock.rule_id)
            except KeyError:
                continue  # a rule removed from the library: its clocks stay as they were
            stops = [closed.get(clock.complaint_id)]
            if rule.stops_on == "response":
                stops.append(responded.get(clock.complaint_id))
            stop = min((s for s in stops if s is not None), default=None)
            missed = "lapsed" if rule.on_miss == "lapse" else "breached"
            if stop is not None and stop <= now:
                clock.status, clock.stopped_at = ("met" if stop <= clock.due_at else missed), stop
            elif now >= clock.due_at:
                clock.status = missed
            else:
                continue
            counts[clock.status] += 1
    session.flush()
    return counts


def clocks_of(session: Session, complaint_id: int) -> list[ComplaintClock]:
    """The complaint's regulatory clocks, earliest due first."""
    return list(session.execute(select(ComplaintClock).where(ComplaintClock.complaint_id == complaint_id)
                                .order_by(ComplaintClock.due_at, ComplaintClock.id)).scalars())


# --- extensions -------------------------------------------------------------------------------


def queue_extension_notice(session: Session, cfg: AppConfig, settings: Settings, complaint: Complaint, *, key: str,
                           new_due: date, reason: str, now: datetime) -> bool:
    """Tell the complainant the new date and the reason, once per `key`; False when unreachable or queued before."""
    if not complaint.contact:
        return False
    user = route_user(complaint.contact, complaint.contact_key, complaint.region, settings,
                      cfg.notifications.policy, kind="extension", now=now)
    if user.channel is None:
        return False
    lang = language_of(complaint.language)
    return queue_message(session, key=key, kind="extension", recipient=complaint.contact, language=lang,
                         template="extension", context={"ticket": ticket_number(complaint.id), "reason": reason,
                                                        "new_due": format_day(new_due, lang),
                                                        **footer_context(cfg, infer_jurisdiction(
                                                            cfg.clocks, ComplaintFacts.of(complaint)),
                                                            "extension", lang)},
                         complaint_id=complaint.id, settings=settings, user=user)


def extend_clock(session: Session, cfg: AppConfig, settings: Settings, complaint_id: int, rule_id: str, *,
                 approver: str, reason: str, now: datetime) -> ComplaintClock:
    """Apply the rule's next extension: needs a reason and an approver of the required role, only before the
    deadline passed. Recorded as a complaint event; the complainant's notice is queued in the same transaction."""
    if not reason.strip():
        raise ClockError("an extension needs a reason")
    ccfg = cfg.clocks
    clock = session.execute(
        select(ComplaintClock).where(ComplaintClock.complaint_id == complaint_id, ComplaintClock.rule_id == rule_id)
        .with_for_update()
    ).scalar_one_or_none()
    if clock is None:
        raise ClockError(f"complaint {complaint_id} has no clock {rule_id!r}")
    if clock.status not in CLOCK_RUNNING:
        raise ClockError(f"clock {rule_id} of complaint {complaint_id} is {clock.status}; only a running clock extends")
    if now >= clock.due_at:
        raise ClockError(f"clock {rule_id} was due {clock.due_at.isoformat()}: a deadline that passed is not extended")
    rule = ccfg.rule(rule_id)
    if clock.extensions >= len(rule.extensions):
        raise ClockError(f"rule {rule_id} allows {len(rule.extensions)} extension(s); all used")
    ext = rule.extensions[clock.extensions]
    if not approver.strip():
        raise ClockError("an extension needs an approver")
    if ext.approver_role and approver not in ccfg.approvers[ext.approver_role]:
        raise ClockError(f"{approver!r} may not approve this extension: needs a {ext.approver_role} "
                         f"({', '.join(ccfg.approvers[ext.approver_role])})")
    cal = calendar_for(ccfg.jurisdictions[clock.jurisdiction])
    old_due = clock.due_at
    clock.due_at = deadline(clock.started_at, ext.total_days, ext.unit, cal)
    clock.status, clock.extensions, clock.approver, clock.reason = "extended", clock.extensions + 1, approver, reason
    clock.extended_by = ext.total_days - rule.days
    complaint = session.get(Complaint, complaint_id)
    assert complaint is not None  # the clock's foreign key
    queued = queue_extension_notice(session, cfg, settings, complaint,
                                    key=f"extension:clock:{clock.id}:{clock.extensions}",
                                    new_due=due_day(clock, ccfg), reason=reason, now=now)
    session.add(ComplaintEvent(complaint_id=complaint_id, at=now, kind="clock_extended",
                               detail={"rule": rule_id, "approver": approver, "reason": reason,
                                       "condition": ext.condition, "from_due": old_due.isoformat(),
                                       "to_due": clock.due_at.isoformat(), "notice_queued": queued}))
    session.flush()
    return clock
