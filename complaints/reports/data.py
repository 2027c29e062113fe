"""Figures for the weekly reports, gathered with a fixed number of aggregate queries (no per-row queries).

Everything is for one ISO week in the ops timezone. Only canonical complaints (not duplicates) are
counted; complaint text leaves this module masked and truncated.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, String, Text, and_, case, cast, distinct, func, literal, or_, select
from sqlalchemy.orm import Session, selectinload

from complaints.core.config import AppConfig
from complaints.core.models import (
    Complaint,
    ComplaintClock,
    Incident,
    Notification,
    Plan,
    PlanEvent,
    PlanStep,
    QuarantinedRecord,
)
from complaints.core.pii import mask_text
from complaints.core.statuses import CLOCK_RUNNING, INCIDENT_RESOLVED, STEP_FINISHED, PlanStatus
from complaints.notify.callbacks import summary as callback_summary
from complaints.regulatory.outcomes import CauseFigure, cause_statistics
from complaints.reports.i18n import CHANNELS, LANGUAGES, SENTENCES, SEVERITIES, TEXT, UNCLASSIFIED

PLAN_CLOSED = (PlanStatus.closed,)

Bilingual = dict[str, str]

WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")
TREND_WEEKS = 8
EXCERPTS_PER_INCIDENT = 3
EXCERPT_CHARS = 160
# Read a little more than we show: masking must see whole numbers before the text is cut.
EXCERPT_READ_CHARS = 400
SENSITIVE_LIST_MAX = 15
OVERDUE_GROUPS_MAX = 25  # (team, owner) rows; the totals cover all
TIMELINE_LOOKBACK = timedelta(days=7)
GROWTH_MIN_COUNT = 3
ACK_KIND = "acknowledgement"
NOTIFIED_KINDS = ("progress", "resolution")  # messages that tell an incident's users what is happening
SEVERITY_ORDER = ("critical", "major", "minor")
# Amounts recorded without a currency are in the wallet's own currency.
DEFAULT_CURRENCY = "CNY"
# Fewer complete weeks of data before the report's week than this: no "new" or "recurring" claims.
MIN_HISTORY_WEEKS = 4
# A date written in a quarantined record (ISO or the CFPB's 05/25/2013): the week it was received.
RAW_ISO_DATE = re.compile(r"(?<!\d)(20\d\d)[-/.年](\d{1,2})[-/.月](\d{1,2})(?!\d)")
RAW_US_DATE = re.compile(r"(?<!\d)(\d{1,2})/(\d{1,2})/(20\d\d)(?!\d)")
RAW_SCAN_CHARS = 2000
BATCH_SLACK = timedelta(minutes=5)


# --- weeks ----------------------------------------------------------------------------------------


def parse_week(week: str) -> date:
    """Monday of an ISO week written like 2026-W47."""
    m = WEEK_RE.fullmatch(week)
    if not m:
        raise ValueError(f"week {week!r}: expected YYYY-Www, e.g. 2026-W47")
    try:
        return date.fromisocalendar(int(m[1]), int(m[2]), 1)
    except ValueError as exc:
        raise ValueError(f"week {week!r}: {exc}") from exc


def week_of(day: date) -> str:
    """The ISO week of a day, written like 2026-W47."""
    year, num, _ = day.isocalendar()
    return f"{year}-W{num:02d}"


def shift_week(week: str, weeks: int) -> str:
    """The ISO week `weeks` after (or before, when negative) the given week."""
    return week_of(parse_week(week) + timedelta(weeks=weeks))


def iso_week_bounds(week: str, tz: str) -> tuple[datetime, datetime]:
    """[Monday 00:00, next Monday 00:00) in the ops timezone, as aware datetimes."""
    monday = parse_week(week)
    zone = ZoneInfo(tz)
    # Built from dates, not start + 7 days, so a DST change inside the week keeps midnight boundaries.
    return datetime.combine(monday, time(), zone), datetime.combine(monday + timedelta(days=7), time(), zone)


def last_complete_week(now: datetime, tz: str) -> str:
    """The last ISO week that has fully ended in the ops timezone (the week a weekly report covers)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    today = now.astimezone(ZoneInfo(tz)).date()
    return week_of(today - timedelta(days=today.isoweekday() - 1 + 7))


# --- result records -------------------------------------------------------------------------------


@dataclass
class Count:
    key: str
    label: Bilingual
    count: int
    previous: int = 0


@dataclass
class CategoryFigure:
    key: str | None
    label: Bilingual
    count: int
    previous: int
    trend: list[int]  # the TREND_WEEKS weeks ending with this one, oldest first
    earlier: int  # complaints in the TREND_WEEKS weeks before this one

    @property
    def change(self) -> int:
        return self.count - self.previous

    @property
    def growth(self) -> float | None:
        return self.change / self.previous if self.previous else None

    @property
    def weeks_present(self) -> int:
        return sum(1 for n in self.trend if n)


@dataclass
class Excerpt:
    complaint_id: int
    received_at: datetime
    channel: str
    category: str | None
    severity: str | None
    text: str  # masked, truncated
    amount: Decimal | None
    reasons: list[str] = field(default_factory=list)
    currency: str = DEFAULT_CURRENCY


@dataclass
class StepFigure:
    seq: int
    title: Bilingual
    owner: str
    due_at: datetime
    status: str
    escalation_level: int
    done_at: datetime | None
    overdue: bool
    open: bool = True  # not finished at the report's cutoff


@dataclass
class PlanFigure:
    id: int
    team: str
    status: str
    due_at: datetime
    overdue: bool
    steps: list[StepFigure]
    created_at: datetime | None = None
    approved_at: datetime | None = None

    @property
    def overdue_steps(self) -> list[StepFigure]:
        return [s for s in self.steps if s.overdue]

    @property
    def next_step(self) -> StepFigure | None:
        """The open step due first (an overdue one before any other)."""
        return min((s for s in self.steps if s.open), key=lambda s: (s.due_at, s.seq), default=None)


@dataclass
class TimelineEvent:
    """One milestone of an incident's response, for the response timeline."""

    at: datetime
    kind: str  # opened | escalated | plan_approved | step_done | users_notified | resolved
    detail: Bilingual = field(default_factory=dict)


@dataclass
class IncidentFigure:
    id: int
    title: Bilingual
    category: str
    label: Bilingual
    severity: str
    status: str
    phase: str  # new | ongoing | resolved (in this week; each incident has exactly one)
    detected_at: datetime
    first_complaint_at: datetime
    last_complaint_at: datetime
    resolved_at: datetime | None
    users: int
    complaints: int
    amounts: dict[str, Decimal]  # currency -> amount at risk
    reason: dict[str, Any]
    root_cause: str | None
    plan: PlanFigure | None = None
    excerpts: list[Excerpt] = field(default_factory=list)
    hourly: list[tuple[datetime, int]] = field(default_factory=list)  # UTC hour start, count
    timeline: list[TimelineEvent] = field(default_factory=list)
    users_notified: int = 0


@dataclass
class OverdueGroup:
    """The overdue steps of one owner in one team, at the report's cutoff."""

    team: str
    owner: str
    steps: int
    plans: int
    oldest_due: datetime
    max_escalation: int
    overdue_hours: int  # of the oldest step


@dataclass
class SlaRow:
    channel: str
    label: Bilingual
    complaints: int
    reachable: int  # complaints with a contact: the ones that can be acknowledged
    acknowledged: int
    within_1d: int

    @property
    def within_share(self) -> float | None:
        """Acknowledged within a day, of those that could be; None (n/a) when nobody left a contact."""
        return self.within_1d / self.reachable if self.reachable else None


@dataclass
class WeeklyData:
    week: str
    tz: str
    start: datetime
    end: datetime
    trend_weeks: list[str]
    generated_at: datetime
    as_of: datetime  # the run's clock: acknowledgements and deadlines are read as of then
    labels: dict[str, Bilingual] = field(default_factory=dict)  # category key -> label
    complaints: int = 0
    previous_complaints: int = 0
    by_category: list[CategoryFigure] = field(default_factory=list)
    by_channel: list[Count] = field(default_factory=list)
    by_severity: list[Count] = field(default_factory=list)
    duplicates: int = 0
    quarantined: list[Count] = field(default_factory=list)
    quarantined_undated: int = 0  # no readable date: counted in the week they were quarantined
    incidents: list[IncidentFigure] = field(default_factory=list)
    affected_users: int = 0
    overdue_groups: list[OverdueGroup] = field(default_factory=list)
    overdue_step_count: int = 0
    overdue_group_count: int = 0
    overdue_owners: list[Count] = field(default_factory=list)
    overdue_plans: int = 0
    regulator_deadlines: int = 0  # statutory clocks still running that end in the 7 days after the week
    history_weeks: int = 0  # complete weeks with data before this one (up to TREND_WEEKS)
    sla: list[SlaRow] = field(default_factory=list)
    regulator: list[Excerpt] = field(default_factory=list)
    regulator_count: int = 0
    media_threats: list[Excerpt] = field(default_factory=list)
    media_threat_count: int = 0
    growing: list[CategoryFigure] = field(default_factory=list)
    recurring: list[CategoryFigure] = field(default_factory=list)
    new_categories: list[CategoryFigure] = field(default_factory=list)
    new_merchants: list[Count] = field(default_factory=list)
    recommendations: list[Bilingual] = field(default_factory=list)
    callbacks: dict[str, Any] = field(default_factory=dict)  # complaints.notify.callbacks.summary()
    # Root causes of the week's decided outcomes (config/outcomes.yaml), with their labels; None: not recorded.
    root_causes: list[tuple[Bilingual, CauseFigure]] = field(default_factory=list)

    @property
    def recent_categories(self) -> list[CategoryFigure]:
        """Categories with complaints this week or last week."""
        return [c for c in self.by_category if c.count or c.previous]

    def category_label(self, key: str | None, lang: str) -> str:
        return (self.labels.get(key) or {lang: key})[lang] if key else UNCLASSIFIED[lang]

    def phase(self, phase: str) -> list[IncidentFigure]:
        return [i for i in self.incidents if i.phase == phase]

    @property
    def quarantined_total(self) -> int:
        return sum(q.count for q in self.quarantined)

    @property
    def cutoff(self) -> datetime:
        """Overdue means past due and open at this time: the week's end, or the run's clock if earlier."""
        return min(self.end, self.as_of)

    @property
    def enough_history(self) -> bool:
        return self.history_weeks >= MIN_HISTORY_WEEKS

    @property
    def amounts(self) -> dict[str, Decimal]:
        """Amount at risk of all incidents, per currency."""
        total: dict[str, Decimal] = defaultdict(Decimal)
        for i in self.incidents:
            for cur, amount in i.amounts.items():
                total[cur] += amount
        return dict(sorted(total.items()))

    @property
    def sla_total(self) -> SlaRow:
        return SlaRow(
            "total",
            {lang: TEXT[lang]["total"] for lang in LANGUAGES},
            sum(r.complaints for r in self.sla),
            sum(r.reachable for r in self.sla),
            sum(r.acknowledged for r in self.sla),
            sum(r.within_1d for r in self.sla),
        )

    def summary(self) -> dict[str, Any]:
        """Headline figures, stored on the Report row and quoted in the stakeholder email."""
        return {
            "week": self.week,
            "complaints": self.complaints,
            "previous_complaints": self.previous_complaints,
            "incidents": len(self.incidents),
            "new_incidents": len(self.phase("new")),
            "ongoing_incidents": len(self.phase("ongoing")),
            "resolved_incidents": len(self.phase("resolved")),
            "affected_users": self.affected_users,
            "amounts": {cur: f"{amount:.2f}" for cur, amount in self.amounts.items()},
            "regulator_deadlines": self.regulator_deadlines,
            "overdue_steps": self.overdue_step_count,
            "overdue_plans": self.overdue_plans,
            "regulator_complaints": self.regulator_count,
            "media_threats": self.media_threat_count,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined_total,
        }


# --- SQL helpers ----------------------------------------------------------------------------------

CANONICAL = Complaint.duplicate_of_id.is_(None)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _user_key() -> ColumnElement[str]:
    """Same person key as complaints.process.dedupe.person_key; complaints with neither count alone."""
    return case(
        (Complaint.customer_ref.is_not(None), literal("ref:") + Complaint.customer_ref),
        (Complaint.contact_key.is_not(None), literal("contact:") + Complaint.contact_key),
        else_=literal("anonymous:") + cast(Complaint.id, String),
    )


def _hour_bucket(dialect: str, col: Any) -> ColumnElement[Any]:
    if dialect == "sqlite":
        return func.strftime("%Y-%m-%d %H:00:00", col)
    return func.date_trunc("hour", func.timezone("UTC", col))


def _as_utc_hour(value: str | datetime) -> datetime:
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _within(dialect: str, later: Any, earlier: Any, delta: timedelta) -> ColumnElement[bool]:
    if dialect == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0 <= delta.total_seconds()
    return later - earlier <= delta


def _excerpt(text: str | None) -> str:
    masked = " ".join(mask_text(text or "").split())
    return masked if len(masked) <= EXCERPT_CHARS else masked[: EXCERPT_CHARS - 1] + "…"


def _bi(table: dict[str, Bilingual], key: str) -> Bilingual:
    return {lang: table.get(key, {}).get(lang, key) for lang in LANGUAGES}


def _category_label(cfg: AppConfig, key: str | None) -> Bilingual:
    if key is None:
        return dict(UNCLASSIFIED)
    cat = cfg.taxonomy.categories.get(key)
    return {"zh": cat.label_zh, "en": cat.label_en} if cat else {lang: key for lang in LANGUAGES}


def _team_for(cfg: AppConfig, category: str | None) -> str:
    for route in cfg.routing.routes:
        if route.category == category and route.severity is None:
            return route.team
    return cfg.routing.default_team


# --- gathering ------------------------------------------------------------------------------------


def weekly_report_data(
    session: Session, cfg: AppConfig, week: str, tz: str, as_of: datetime | None = None
) -> WeeklyData:
    """Every figure both weekly reports show for one ISO week (e.g. "2026-W47") in timezone tz.

    as_of: the run's clock (a replay's "now"; default the real time). Acknowledgements queued after it do
    not count, and overdue is judged at the week's end or at as_of when that is earlier.
    """
    start, end = iso_week_bounds(week, tz)
    now = datetime.now(UTC)
    as_of = as_of or now
    weeks = [shift_week(week, i - TREND_WEEKS) for i in range(TREND_WEEKS + 1)]
    edges = [iso_week_bounds(w, tz)[0] for w in weeks] + [end]
    data = WeeklyData(
        week=week,
        tz=tz,
        start=start,
        end=end,
        trend_weeks=weeks[1:],
        generated_at=now,
        as_of=as_of,
        labels={k: _category_label(cfg, k) for k in cfg.taxonomy.categories},
    )
    dialect = _dialect(session)
    _volumes(session, cfg, data, edges)
    _data_quality(session, cfg, data)
    _incidents(session, cfg, data, dialect)
    _overdue(session, data)
    _sla(session, data, dialect)
    _sensitive(session, cfg, data)
    data.regulator_deadlines = session.execute(
        select(func.count()).where(ComplaintClock.status.in_(CLOCK_RUNNING), ComplaintClock.due_at >= end,
                                   ComplaintClock.due_at < end + timedelta(days=7))
    ).scalar_one()
    data.history_weeks = _history_weeks(session, edges)
    _new_merchants(session, cfg, data, edges)
    _lessons(data)
    data.callbacks = callback_summary(session, edges[1], end)
    causes = cfg.outcomes.root_causes
    data.root_causes = [({"en": causes[f.code].en, "zh": causes[f.code].zh} if f.code in causes
                         else {lang: f.code or "–" for lang in LANGUAGES}, f)
                        for f in cause_statistics(session, start, end)]
    data.recommendations = recommendations(data, cfg)
    return data


def _raw_received(raw: str, tz: ZoneInfo) -> datetime | None:
    """Midday of the first date written in a quarantined record (its receipt), or None."""
    head = raw[:RAW_SCAN_CHARS]
    found: list[tuple[int, int, int, int]] = []  # position, year, month, day
    if m := RAW_ISO_DATE.search(head):
        found.append((m.start(), int(m[1]), int(m[2]), int(m[3])))
    if m := RAW_US_DATE.search(head):
        found.append((m.start(), int(m[3]), int(m[1]), int(m[2])))
    for _, year, month, day in sorted(found):
        try:
            return datetime(year, month, day, 12, tzinfo=tz)
        except ValueError:
            continue
    return None


def _data_quality(session: Session, cfg: AppConfig, data: WeeklyData) -> None:
    """Duplicates and quarantined records by the week the complaints were received, not when processed:
    a backfill of an old week reports that week's figures.

    A quarantined record is dated by the first date written in it. One without a readable date belongs to the
    week when it was read in the same ingest batch as the week's complaints of its source (between the first
    and last of their ingest times); a batch spanning several weeks counts it in each of them.
    """
    data.duplicates = session.execute(
        select(func.count()).where(
            Complaint.duplicate_of_id.is_not(None), Complaint.received_at >= data.start,
            Complaint.received_at < data.end)
    ).scalar_one()
    batches = {
        src: (_aware(first) - BATCH_SLACK, _aware(last) + BATCH_SLACK)
        for src, first, last in session.execute(
            select(Complaint.source, func.min(Complaint.created_at), func.max(Complaint.created_at))
            .where(Complaint.received_at >= data.start, Complaint.received_at < data.end)
            .group_by(Complaint.source)
        ).all()
    }
    # A record is quarantined after it was received: older rows cannot belong to this week.
    tz = ZoneInfo(data.tz)
    per_source: dict[str, int] = defaultdict(int)
    for source, raw, created in session.execute(
        select(QuarantinedRecord.source, func.substr(QuarantinedRecord.raw, 1, RAW_SCAN_CHARS),
               QuarantinedRecord.created_at)
        .where(QuarantinedRecord.created_at >= data.start)
    ).all():
        received = _raw_received(raw or "", tz)
        undated = received is None
        if undated:
            first, last = batches.get(source, (None, None))
            if first is None or not first <= _aware(created) <= last:
                continue
        elif not data.start <= received < data.end:
            continue
        per_source[source] += 1
        data.quarantined_undated += undated
    channels = {spec.name: spec.channel for spec in cfg.sources.sources}
    data.quarantined = [
        Count(src, _bi(CHANNELS, channels[src]) if src in channels else {lang: src for lang in LANGUAGES}, n)
        for src, n in sorted(per_source.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def _history_weeks(session: Session, edges: list[datetime]) -> int:
    """Weeks before this one (of the trend weeks) that end after the first complaint on record."""
    first = session.execute(select(func.min(Complaint.received_at))).scalar_one()
    if first is None:
        return 0
    first = _as_utc_hour(first)
    return sum(1 for week_end in edges[1:-1] if week_end > first)


def _volumes(session: Session, cfg: AppConfig, data: WeeklyData, edges: list[datetime]) -> None:
    """Counts by category/channel/severity for this week, last week and the trend, in one query."""
    wk = case(*[(Complaint.received_at < edges[i + 1], i) for i in range(len(edges) - 1)])
    # Grouping on a subquery column: PostgreSQL cannot match a CASE with bound parameters in GROUP BY.
    inner = (
        select(Complaint.category, Complaint.channel, Complaint.severity, wk.label("wk"))
        .where(CANONICAL, Complaint.received_at >= edges[0], Complaint.received_at < edges[-1])
        .subquery()
    )
    rows = session.execute(
        select(inner.c.category, inner.c.channel, inner.c.severity, inner.c.wk, func.count()).group_by(
            inner.c.category, inner.c.channel, inner.c.severity, inner.c.wk
        )
    ).all()
    this, prev = TREND_WEEKS, TREND_WEEKS - 1
    per_cat: dict[str | None, list[int]] = defaultdict(lambda: [0] * (TREND_WEEKS + 1))
    channels: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    severities: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for category, channel, severity, w, n in rows:
        per_cat[category][w] += n
        if w in (this, prev):
            channels[channel][this - w] += n
            severities[severity or "unclassified"][this - w] += n
    data.complaints = sum(v[this] for v in per_cat.values())
    data.previous_complaints = sum(v[prev] for v in per_cat.values())
    data.by_category = sorted(
        (
            CategoryFigure(key, _category_label(cfg, key), v[this], v[prev], v[1:], sum(v[:this]))
            for key, v in per_cat.items()
        ),
        key=lambda c: (-c.count, -c.previous, c.key or "~"),
    )
    data.by_channel = sorted(
        (Count(k, _bi(CHANNELS, k), v[0], v[1]) for k, v in channels.items() if v[0] or v[1]),
        key=lambda c: (-c.count, c.key),
    )
    order = {s: i for i, s in enumerate(SEVERITY_ORDER)}
    data.by_severity = sorted(
        (
            Count(k, _bi(SEVERITIES, k) if k in SEVERITIES else dict(UNCLASSIFIED), v[0], v[1])
            for k, v in severities.items()
            if v[0] or v[1]
        ),
        key=lambda c: order.get(c.key, len(order)),
    )


def _incidents(session: Session, cfg: AppConfig, data: WeeklyData, dialect: str) -> None:
    start, end = data.start, data.end
    resolved_like = Incident.status.in_(INCIDENT_RESOLVED)
    incidents = (
        session.execute(
            select(Incident)
            .where(
                Incident.detected_at < end,
                or_(
                    Incident.resolved_at >= start,
                    # Resolved without a timestamp: the last update is the best evidence of when.
                    and_(Incident.resolved_at.is_(None), or_(~resolved_like, Incident.updated_at >= start)),
                ),
            )
            .order_by(Incident.severity, Incident.detected_at, Incident.id)
        )
        .scalars()
        .all()
    )
    if not incidents:
        return
    ids = [i.id for i in incidents]
    stats = {
        row[0]: row[1:]
        for row in session.execute(
            select(
                Complaint.incident_id,
                func.count(distinct(_user_key())),
                func.sum(case((CANONICAL, 1), else_=0)),
            )
            .where(Complaint.incident_id.in_(ids))
            .group_by(Complaint.incident_id)
        ).all()
    }
    amounts: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for inc_id, currency, amount in session.execute(
        select(Complaint.incident_id, Complaint.currency, func.sum(Complaint.amount))
        .where(Complaint.incident_id.in_(ids), CANONICAL, Complaint.amount.is_not(None))
        .group_by(Complaint.incident_id, Complaint.currency)
    ).all():
        cur = currency or DEFAULT_CURRENCY
        amounts[inc_id][cur] = amounts[inc_id].get(cur, Decimal(0)) + Decimal(amount)
    # One person in two incidents is one affected user; incidents without member rows add their stored count.
    data.affected_users = session.execute(
        select(func.count(distinct(_user_key()))).where(Complaint.incident_id.in_(ids))
    ).scalar_one() + sum(i.user_count for i in incidents if i.id not in stats)

    hour = _hour_bucket(dialect, Complaint.received_at)
    inner = (
        select(Complaint.incident_id, hour.label("h"))
        .where(
            Complaint.incident_id.in_(ids),
            CANONICAL,
            Complaint.received_at >= start - TIMELINE_LOOKBACK,
            Complaint.received_at < end,
        )
        .subquery()
    )
    hourly: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    for inc_id, h, n in session.execute(
        select(inner.c.incident_id, inner.c.h, func.count())
        .group_by(inner.c.incident_id, inner.c.h)
        .order_by(inner.c.incident_id, inner.c.h)
    ).all():
        hourly[inc_id].append((_as_utc_hour(h), n))

    sev_rank = case((Complaint.severity == "critical", 0), (Complaint.severity == "major", 1), else_=2)
    rn = func.row_number().over(
        partition_by=Complaint.incident_id, order_by=(sev_rank, Complaint.received_at, Complaint.id)
    )
    ranked = (
        select(Complaint.id.label("id"), rn.label("rn"))
        .where(Complaint.incident_id.in_(ids), CANONICAL)
        .subquery()
    )
    excerpts: dict[int, list[Excerpt]] = defaultdict(list)
    for row in session.execute(
        select(
            Complaint.id,
            Complaint.incident_id,
            Complaint.received_at,
            Complaint.channel,
            Complaint.category,
            Complaint.severity,
            func.substr(Complaint.body, 1, EXCERPT_READ_CHARS),
            Complaint.amount,
            Complaint.currency,
        )
        .join(ranked, ranked.c.id == Complaint.id)
        .where(ranked.c.rn <= EXCERPTS_PER_INCIDENT)
        .order_by(Complaint.incident_id, ranked.c.rn)
    ).all():
        excerpts[row[1]].append(Excerpt(row[0], row[2], row[3], row[4], row[5], _excerpt(row[6]), row[7],
                                        currency=row[8] or DEFAULT_CURRENCY))

    plans = {
        p.subject_id: p
        for p in session.execute(
            select(Plan)
            .where(Plan.subject_type == "incident", Plan.subject_id.in_(ids))
            .options(selectinload(Plan.steps))
        ).scalars()
    }
    events = _response_events(session, data, plans, ids)
    notified = _notified(session, data, ids)
    step_titles = step_title_catalogue(cfg)

    for inc in incidents:
        users, count = stats.get(inc.id, (0, 0))
        closed_at = inc.resolved_at or (inc.updated_at if inc.status in INCIDENT_RESOLVED else None)
        if closed_at is not None and start <= closed_at < end:
            phase = "resolved"
        elif inc.detected_at >= start:
            phase = "new"
        else:
            phase = "ongoing"
        data.incidents.append(
            IncidentFigure(
                id=inc.id,
                title=incident_title(inc.title, _category_label(cfg, inc.category)),
                category=inc.category,
                label=_category_label(cfg, inc.category),
                severity=inc.severity,
                status=inc.status,
                phase=phase,
                detected_at=inc.detected_at,
                first_complaint_at=inc.first_complaint_at,
                last_complaint_at=inc.last_complaint_at,
                resolved_at=closed_at,
                # Members counted now; the stored counters are the fallback for an incident without any.
                users=users or inc.user_count,
                complaints=count or inc.complaint_count,
                amounts=dict(sorted(amounts[inc.id].items())) if inc.id in amounts else (
                    {DEFAULT_CURRENCY: inc.amount_at_risk} if inc.amount_at_risk else {}),
                reason=dict(inc.reason or {}),
                root_cause=mask_text(inc.root_cause) if inc.root_cause else None,
                plan=_plan_figure(plans[inc.id], data.cutoff, step_titles) if inc.id in plans else None,
                excerpts=excerpts.get(inc.id, []),
                hourly=hourly.get(inc.id, []),
                users_notified=notified.get(inc.id, (0, None))[0],
            )
        )
        figure = data.incidents[-1]
        figure.timeline = sorted(
            [TimelineEvent(inc.detected_at, "opened"), *events.get(inc.id, []),
             *([TimelineEvent(notified[inc.id][1], "users_notified", {"n": str(notified[inc.id][0])})]
               if inc.id in notified else []),
             *([TimelineEvent(closed_at, "resolved")] if closed_at is not None and closed_at < end else [])],
            key=lambda e: e.at,
        )


def incident_title(stored: str, label: Bilingual) -> Bilingual:
    """An incident's title in each language: detection writes "<zh label> · <en label> — <entity>"; the
    entity (merchant, shared phrase) is source text and stays as written."""
    entity = stored.split(" — ", 1)[1] if " — " in stored else ""
    return {lang: label[lang] + (f" — {entity}" if entity else "") for lang in LANGUAGES}


def step_title_catalogue(cfg: AppConfig) -> dict[str, Bilingual]:
    """Plan step titles (as stored, English) -> both languages, from plans.yaml and the regulator steps."""
    titles = {st.title: {"en": st.title, "zh": st.title_zh or st.title}
              for steps in cfg.plans.templates.values() for st in steps}
    for n in (1, 2):
        titles[f"Report the class {n} major event to the regulator by phone"] = {
            "en": f"Report the class {n} major event to the regulator by phone",
            "zh": f"电话报告监管：{n} 类重大事件",
        }
        titles[f"File the written report of the class {n} major event with the regulator"] = {
            "en": f"File the written report of the class {n} major event with the regulator",
            "zh": f"向监管报送 {n} 类重大事件书面报告",
        }
    return titles


def _response_events(
    session: Session, data: WeeklyData, plans: dict[int, Plan], ids: list[int]
) -> dict[int, list[TimelineEvent]]:
    """Escalations (incident history, plan events), plan approval and steps done, known by the run's clock."""
    cutoff = data.as_of
    out: dict[int, list[TimelineEvent]] = defaultdict(list)
    for inc_id, history in session.execute(select(Incident.id, Incident.history).where(Incident.id.in_(ids))):
        for h in history or []:
            at = datetime.fromisoformat(str(h.get("at"))) if h.get("at") else None
            if at is not None and _aware(at) < cutoff:
                out[inc_id].append(TimelineEvent(_aware(at), "status", {"to": str(h.get("to", ""))}))
    by_plan = {p.id: inc_id for inc_id, p in plans.items()}
    for plan_id, n, first in session.execute(
        select(PlanEvent.plan_id, func.count(), func.min(PlanEvent.at))
        .where(PlanEvent.plan_id.in_(list(by_plan)), PlanEvent.action == "escalated", PlanEvent.at < cutoff)
        .group_by(PlanEvent.plan_id)
    ).all():
        out[by_plan[plan_id]].append(TimelineEvent(_aware(first), "escalated", {"n": str(n)}))
    for inc_id, p in plans.items():
        if p.approved_at is not None and p.approved_at < cutoff:
            out[inc_id].append(TimelineEvent(p.approved_at, "plan_approved"))
        done = sorted(s.done_at for s in p.steps if s.done_at is not None and s.done_at < cutoff)
        if done:  # one milestone: how many steps were done by when
            out[inc_id].append(TimelineEvent(done[-1], "steps_done", {"n": str(len(done)),
                                                                      "of": str(len(p.steps))}))
    return out


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _notified(session: Session, data: WeeklyData, ids: list[int]) -> dict[int, tuple[int, datetime]]:
    """Distinct users told about each incident (progress, resolution) by the run's clock, and when first."""
    rows = session.execute(
        select(Notification.incident_id, func.count(distinct(Notification.contact_key)),
               func.min(Notification.created_at))
        .where(Notification.incident_id.in_(ids), Notification.kind.in_(NOTIFIED_KINDS),
               Notification.status != "suppressed", Notification.created_at <= data.as_of)
        .group_by(Notification.incident_id)
    ).all()
    return {inc_id: (n, _aware(first)) for inc_id, n, first in rows if n}


def _step_open_at(cutoff: datetime) -> ColumnElement[bool]:
    return or_(PlanStep.done_at >= cutoff,
               and_(PlanStep.done_at.is_(None), PlanStep.status.not_in(STEP_FINISHED)))


def _open_at(done_at: datetime | None, status: str, finished: tuple[str, ...], cutoff: datetime) -> bool:
    return done_at >= cutoff if done_at is not None else status not in finished


def _plan_figure(plan: Plan, cutoff: datetime, titles: dict[str, Bilingual]) -> PlanFigure:
    steps = []
    for s in plan.steps:
        is_open = _open_at(s.done_at, s.status, STEP_FINISHED, cutoff)
        steps.append(StepFigure(
            s.seq, titles.get(s.title) or {lang: s.title for lang in LANGUAGES}, s.owner, s.due_at, s.status,
            s.escalation_level, s.done_at, s.due_at < cutoff and is_open, is_open,
        ))
    # One definition of overdue: a plan is overdue when one of its steps is, or it is past its own due date.
    overdue = any(st.overdue for st in steps) or (
        plan.due_at < cutoff and _open_at(plan.closed_at, plan.status, PLAN_CLOSED, cutoff))
    return PlanFigure(plan.id, plan.team, plan.status, plan.due_at, overdue, steps, plan.created_at,
                      plan.approved_at)


def _overdue(session: Session, data: WeeklyData) -> None:
    """Overdue steps grouped by team and owner, and the plans they belong to, at the cutoff.

    The same definition as the plans' own: a step past due and not finished at the cutoff; a plan with such a
    step, or past its own due date while open.
    """
    cutoff = data.cutoff
    where = (PlanStep.due_at < cutoff, Plan.created_at < cutoff, _step_open_at(cutoff))
    rows = session.execute(
        select(Plan.team, PlanStep.owner, func.count(), func.count(distinct(Plan.id)), func.min(PlanStep.due_at),
               func.max(PlanStep.escalation_level))
        .select_from(PlanStep).join(Plan).where(*where)
        .group_by(Plan.team, PlanStep.owner)
        .order_by(func.count().desc(), Plan.team, PlanStep.owner)
    ).all()
    groups = [
        OverdueGroup(team, owner, n, plans, _aware(oldest), int(level or 0),
                     int((cutoff - _aware(oldest)).total_seconds() // 3600))
        for team, owner, n, plans, oldest, level in rows
    ]
    data.overdue_step_count = sum(g.steps for g in groups)
    data.overdue_groups = groups[:OVERDUE_GROUPS_MAX]
    data.overdue_group_count = len(groups)
    per_owner: dict[str, int] = defaultdict(int)
    for g in groups:
        per_owner[g.owner] += g.steps
    data.overdue_owners = [
        Count(owner, {lang: owner for lang in LANGUAGES}, n)
        for owner, n in sorted(per_owner.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    with_step = select(PlanStep.plan_id).join(Plan).where(*where)
    past_due = and_(
        Plan.due_at < cutoff,
        or_(Plan.closed_at >= cutoff, and_(Plan.closed_at.is_(None), Plan.status.not_in(PLAN_CLOSED))),
    )
    data.overdue_plans = session.execute(
        select(func.count()).where(Plan.created_at < cutoff, or_(Plan.id.in_(with_step), past_due))
    ).scalar_one()


def _sla(session: Session, data: WeeklyData, dialect: str) -> None:
    """Acknowledged within a day of receipt, per channel, on the run's clock.

    An acknowledgement's time is when its run queued it (or the end of its hold, e.g. quiet hours): that run's
    "now", which a replay sets to its as-of time. `sent_at` is the wall clock of delivery and would measure a
    replay against today. Only complaints with a contact can be acknowledged: they are the denominator.
    """
    ack_time = func.coalesce(Notification.not_before, Notification.created_at)
    ack = (
        select(Notification.complaint_id.label("complaint_id"), func.min(ack_time).label("at"))
        .where(Notification.kind == ACK_KIND, Notification.status == "sent",
               Notification.created_at >= data.start, Notification.created_at <= data.as_of)
        .group_by(Notification.complaint_id)
        .subquery()
    )
    within = _within(dialect, ack.c.at, Complaint.received_at, timedelta(days=1))
    rows = session.execute(
        select(
            Complaint.channel,
            func.count(Complaint.id),
            func.sum(case((Complaint.contact.is_not(None), 1), else_=0)),
            func.count(ack.c.at),
            func.sum(case((and_(ack.c.at.is_not(None), within), 1), else_=0)),
        )
        .outerjoin(ack, ack.c.complaint_id == Complaint.id)
        .where(CANONICAL, Complaint.received_at >= data.start, Complaint.received_at < data.end)
        .group_by(Complaint.channel)
        .order_by(func.count(Complaint.id).desc(), Complaint.channel)
    ).all()
    data.sla = [SlaRow(ch, _bi(CHANNELS, ch), n, int(reach or 0), acked, int(w or 0))
                for ch, n, reach, acked, w in rows]


def _sensitive(session: Session, cfg: AppConfig, data: WeeklyData) -> None:
    """Regulator-referred complaints and complaints threatening media, court or regulator exposure."""
    regulator_channels = list(cfg.taxonomy.severity.regulator_channels) or ["regulator"]
    # Prefilter in SQL on the JSON text; the exact "starts with threat" test is below.
    threat_like = cast(Complaint.severity_reasons, Text).like('%"threat%')
    rows = session.execute(
        select(
            Complaint.id,
            Complaint.received_at,
            Complaint.channel,
            Complaint.category,
            Complaint.severity,
            func.substr(Complaint.body, 1, EXCERPT_READ_CHARS),
            Complaint.amount,
            Complaint.severity_reasons,
            Complaint.currency,
        )
        .where(
            CANONICAL,
            Complaint.received_at >= data.start,
            Complaint.received_at < data.end,
            or_(Complaint.channel.in_(regulator_channels), threat_like),
        )
        .order_by(Complaint.received_at, Complaint.id)
    ).all()
    for cid, received, channel, category, severity, body, amount, reasons, currency in rows:
        reasons = [str(r) for r in reasons or []]
        ex = Excerpt(cid, received, channel, category, severity, _excerpt(body), amount, reasons,
                     currency or DEFAULT_CURRENCY)
        if channel in regulator_channels:
            data.regulator_count += 1
            if len(data.regulator) < SENSITIVE_LIST_MAX:
                data.regulator.append(ex)
        if any(r.startswith("threat") for r in reasons):
            data.media_threat_count += 1
            if len(data.media_threats) < SENSITIVE_LIST_MAX:
                data.media_threats.append(ex)


def _new_merchants(session: Session, cfg: AppConfig, data: WeeklyData, edges: list[datetime]) -> None:
    """Merchants complained about this week and not in the 8 weeks before (none without enough history).

    The CFPB's `Company` column names the firm complained about (the wallet itself), not a merchant: CFPB
    sources are left out.
    """
    if not data.enough_history:
        return
    in_week = Complaint.received_at >= data.start
    cfpb = [spec.name for spec in cfg.sources.sources if spec.kind == "cfpb"]
    cur = func.sum(case((in_week, 1), else_=0))
    before = func.sum(case((in_week, 0), else_=1))
    rows = session.execute(
        select(Complaint.merchant, cur)
        .where(
            CANONICAL,
            Complaint.merchant.is_not(None),
            Complaint.source.not_in(cfpb),
            Complaint.received_at >= edges[0],
            Complaint.received_at < data.end,
        )
        .group_by(Complaint.merchant)
        .having(and_(cur > 0, before == 0))
        .order_by(cur.desc(), Complaint.merchant)
        .limit(10)
    ).all()
    # A merchant field is source text: a sole trader may be named by a mobile number.
    data.new_merchants = [Count(mask_text(m), {lang: mask_text(m) for lang in LANGUAGES}, n) for m, n in rows]


def _lessons(data: WeeklyData) -> None:
    """Growing, recurring and new categories; with too little history only week-over-week growth."""
    cats = [c for c in data.by_category if c.key is not None]
    data.growing = sorted(
        (c for c in cats if c.count >= GROWTH_MIN_COUNT and c.count > c.previous),
        key=lambda c: (-c.change, -c.count),
    )
    if not data.enough_history:
        return
    data.recurring = sorted(
        (c for c in cats if c.weeks_present >= 3),
        key=lambda c: (-c.weeks_present, -sum(c.trend), c.key or ""),
    )[:5]
    data.new_categories = [c for c in cats if c.count and not c.earlier]


def recommendations(data: WeeklyData, cfg: AppConfig) -> list[Bilingual]:
    """Plain sentences ops can act on, each derived from one figure in the report."""
    recs: list[Bilingual] = []
    for c in data.growing[:3]:
        team = _team_for(cfg, c.key)
        if c.growth is not None and c.growth >= 0.5:
            recs.append({
                "zh": f"「{c.label['zh']}」投诉环比增长 {c.growth:.0%}（{c.previous} → {c.count}），"
                f"建议 {team} 团队排查集中出现的商户与产品。",
                "en": f"{c.label['en']} complaints grew {c.growth:.0%} week over week ({c.previous} → "
                f"{c.count}); the {team} team should review the merchants and products behind them.",
            })
    if not data.enough_history:
        recs.append({lang: SENTENCES[lang]["not_enough_history"].format(
            n=data.history_weeks, min=MIN_HISTORY_WEEKS) for lang in LANGUAGES})
    for c in data.new_categories[:3]:
        recs.append({
            "zh": f"「{c.label['zh']}」是近 8 周首次出现的投诉类别（本周 {c.count} 件），"
            "建议确认是否为新问题并指定负责人。",
            "en": f"{c.label['en']} is a new complaint category this week ({c.count}, none in the previous "
            "8 weeks); confirm whether it is a new problem and assign an owner.",
        })
    merchants = [m for m in data.new_merchants if m.count >= 2][:3]
    if merchants:
        names = "、".join(m.key for m in merchants)
        recs.append({
            "zh": f"商户 {names} 近 8 周首次被投诉且本周已多次出现，建议商户运营核查其收费与履约情况。",
            "en": f"Merchant(s) {', '.join(m.key for m in merchants)} drew repeated complaints this week after "
            "none in 8 weeks; merchant operations should check their pricing and fulfilment.",
        })
    if data.overdue_step_count:
        owners = ", ".join(f"{o.key} ({o.count})" for o in data.overdue_owners[:3])
        recs.append({
            "zh": f"截至周末有 {data.overdue_step_count} 个整改步骤逾期（{owners}），请按升级链跟进。",
            "en": f"{data.overdue_step_count} plan steps were overdue at week end ({owners}); follow up "
            "through the escalation chain.",
        })
    missing = [i for i in data.phase("resolved") if not i.root_cause]
    if missing:
        recs.append({
            "zh": f"{len(missing)} 个已解决事件未记录根因，请补充根因与预防措施以便复盘。",
            "en": f"{len(missing)} resolved incident(s) have no recorded root cause; record the cause and "
            "the prevention so the lesson is kept.",
        })
    slow = [r for r in data.sla if r.complaints >= 5 and r.acknowledged and (r.within_share or 0) < 0.9]
    if slow:
        recs.append({
            "zh": "24 小时内确认率低于 90% 的渠道："
            + "、".join(f"{r.label['zh']} {r.within_share or 0:.0%}" for r in slow)
            + "，建议增加值守或启用自动确认。",
            "en": "Channels acknowledging fewer than 90% of complaints within 24 hours: "
            + ", ".join(f"{r.label['en']} {r.within_share or 0:.0%}" for r in slow)
            + "; add cover or automatic acknowledgements.",
        })
    if data.regulator_count:
        recs.append({
            "zh": f"本周有 {data.regulator_count} 件监管转办投诉，须在监管时限内答复并由合规复核。",
            "en": f"{data.regulator_count} regulator-referred complaint(s) this week must be answered within "
            "the regulator's deadline and reviewed by compliance.",
        })
    if data.media_threat_count:
        recs.append({
            "zh": f"{data.media_threat_count} 件投诉含媒体曝光或诉讼威胁，建议公关与客服联合回访。",
            "en": f"{data.media_threat_count} complaint(s) threaten media exposure or legal action; call "
            "these users back jointly with communications.",
        })
    chronic = [c for c in data.recurring if c.weeks_present == TREND_WEEKS]
    for c in chronic[:2]:
        recs.append({
            "zh": f"「{c.label['zh']}」连续 {TREND_WEEKS} 周都有投诉，属长期问题，建议立项根治。",
            "en": f"{c.label['en']} has had complaints in each of the last {TREND_WEEKS} weeks; treat it "
            "as a chronic problem and fund a permanent fix.",
        })
    if not recs:
        recs.append({
            "zh": "本周各项指标平稳，无需特别跟进的事项。",
            "en": "Figures are stable this week; no specific follow-up is needed.",
        })
    return recs

