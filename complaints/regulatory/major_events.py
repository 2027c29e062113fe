"""Major-event reporting: incidents classed by config/major_events.yaml get the regulator's phone and
written-report deadlines as steps of their plan, and a draft written report (PDF) with the facts asked for:
what happened, since when, how many customers and how much money, cause, measures, next steps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from complaints.core.business_time import BusinessCalendar
from complaints.core.config import AppConfig, MajorEventClass
from complaints.core.db import insert_ignore
from complaints.core.models import ComplaintOutcome, Incident, MajorEvent, Plan, PlanEvent, PlanStep
from complaints.core.pii import mask_text
from complaints.core.settings import Settings
from complaints.core.statuses import STEP_OPEN
from complaints.core.templating import environment
from complaints.detect.incidents import ACTIVE, members_of
from complaints.plans.create import SYSTEM, create_plans
from complaints.reports.i18n import STATUSES, fmt_amount, fmt_dt, fmt_int, label
from complaints.reports.render import render_pdf, write_atomic

PHONE_KIND, WRITTEN_KIND = "reg_phone", "reg_written"
MISSING = {"zh": "【待补充：系统中尚无记录】", "en": "[TO BE COMPLETED: not recorded in the system]"}
TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "title": "重大事件书面报告（草稿）", "company": "钱包支付客户投诉管理", "class": "事件等级",
        "class_n": "{n}类重大事件", "generated": "生成时间", "what": "一、事件经过", "since": "发生时间",
        "detected": "发现时间", "last": "最近一次投诉", "category": "问题类别", "status": "当前状态",
        "scope": "二、影响范围", "customers": "涉及客户数", "complaints": "投诉件数", "amount": "涉及金额",
        "redress": "已赔付金额", "cause": "三、原因分析", "measures": "四、已采取措施", "next": "五、下一步工作",
        "deadlines": "报告时限", "phone": "电话报告", "written": "书面报告", "reasons": "定级依据",
        "samples": "投诉摘录（已脱敏）", "step": "事项", "owner": "负责人", "due": "期限", "done": "完成时间",
        "note": "说明", "none": "无", "draft": "草稿：报送前须经合规负责人审核",
    },
    "en": {
        "title": "Major event written report (draft)", "company": "Wallet complaint operations", "class": "Class",
        "class_n": "Class {n} major event", "generated": "Generated", "what": "1. What happened",
        "since": "Since", "detected": "Detected", "last": "Latest complaint", "category": "Problem",
        "status": "Status", "scope": "2. Customers and money affected", "customers": "Customers",
        "complaints": "Complaints", "amount": "Amount involved", "redress": "Redress paid",
        "cause": "3. Cause", "measures": "4. Measures taken", "next": "5. Next steps",
        "deadlines": "Reporting deadlines", "phone": "Phone report", "written": "Written report",
        "reasons": "Why this class", "samples": "Complaint excerpts (masked)", "step": "Action", "owner": "Owner",
        "due": "Due", "done": "Done", "note": "Note", "none": "None", "draft": "Draft: compliance review before filing",
    },
}
STEP_TITLES = {
    PHONE_KIND: "Report the class {n} major event to the regulator by phone",
    WRITTEN_KIND: "File the written report of the class {n} major event with the regulator",
}


@dataclass(frozen=True)
class Classification:
    event_class: int
    reasons: list[str]


def classify(cfg: AppConfig, incident: Incident) -> Classification | None:
    """The most serious class any of whose triggers the incident meets, with the triggers that hold."""
    amount = incident.amount_at_risk or Decimal(0)
    for n in sorted(cfg.major_events.classes):
        c = cfg.major_events.classes[n]
        held = [
            (c.min_users is not None and incident.user_count >= c.min_users,
             f"{incident.user_count} consumers >= {c.min_users}"),
            (c.min_amount is not None and amount >= Decimal(str(c.min_amount)),
             f"amount {amount:.2f} >= {c.min_amount:.2f}"),
            (incident.severity in c.severities, f"incident severity {incident.severity}"),
            (incident.user_count >= c.category_users.get(incident.category, 10**9),
             f"{incident.category}: {incident.user_count} consumers >= {c.category_users.get(incident.category)}"),
        ]
        reasons = [why for holds, why in held if holds]
        if reasons:
            return Classification(n, reasons)
    return None


def _deadlines(cal: BusinessCalendar, cls: MajorEventClass, start: datetime) -> tuple[datetime, datetime]:
    return start + timedelta(hours=cls.phone_hours), cal.add_business_days(start, cls.written_business_days)


def _owner(cfg: AppConfig, plan: Plan, role: str) -> str:
    if role != "lead":
        return role
    team = cfg.routing.teams.get(plan.team) or cfg.routing.teams[cfg.routing.default_team]
    return team.lead


def _add_report_steps(session: Session, cfg: AppConfig, plan: Plan, event: MajorEvent, start: datetime,
                      now: datetime) -> int:
    """Add the phone and written-report steps once (by kind); an upgraded class tightens open ones."""
    cal = BusinessCalendar(cfg.sla)
    mcfg = cfg.major_events
    wanted = {PHONE_KIND: (event.phone_due_at, "calendar_hours", mcfg.phone_owner),
              WRITTEN_KIND: (event.written_due_at, "business_hours", mcfg.written_owner)}
    existing = {s.kind: s for s in plan.steps if s.kind in wanted}
    for kind, step in existing.items():
        due = wanted[kind][0]
        if step.status in STEP_OPEN and due < step.due_at:
            step.due_at, step.title = due, STEP_TITLES[kind].format(n=event.event_class)
    top = max((s.seq for s in plan.steps), default=0)
    rows = []
    for kind, (due, unit, role) in wanted.items():
        if kind in existing:
            continue
        top += 1
        rows.append({"plan_id": plan.id, "seq": top, "title": STEP_TITLES[kind].format(n=event.event_class),
                     "owner": _owner(cfg, plan, role), "due_at": due, "status": "pending", "escalation_level": 0,
                     "kind": kind, "unit": unit,
                     "warn_at": cal.share_point(start, due, cfg.routing.at_risk_share, unit)})
    # Two overlapping runs compute the same seq for the same kind: the (plan_id, seq) key keeps one.
    added = insert_ignore(session, PlanStep, rows, returning=(PlanStep.id,))
    if added:
        session.add(PlanEvent(plan_id=plan.id, at=now, actor=SYSTEM, action="major_event",
                              detail={"class": event.event_class, "reasons": event.reasons}))
    session.expire(plan, ["steps"])
    return len(added)


def assess_major_events(session: Session, cfg: AppConfig, now: datetime) -> list[MajorEvent]:
    """Class active incidents (a class only ever goes up), give them the deadlines as plan steps.
    Returns the events created or upgraded in this run."""
    cal = BusinessCalendar(cfg.sla)
    incidents = list(session.execute(select(Incident).where(Incident.status.in_(ACTIVE)).order_by(Incident.id))
                     .scalars())
    known = {e.incident_id: e for e in session.execute(select(MajorEvent)).scalars()}
    changed: list[MajorEvent] = []
    if any(i.id not in known for i in incidents):
        create_plans(session, cfg, now)  # the incident's plan carries the steps: make sure it exists
    for incident in incidents:
        found = classify(cfg, incident)
        event = known.get(incident.id)
        if found is None or (event is not None and event.event_class <= found.event_class):
            continue
        cls = cfg.major_events.classes[found.event_class]
        # Deadlines run from detection; an upgrade runs them from the moment the higher class was reached.
        start = incident.detected_at if event is None else now
        phone_due, written_due = _deadlines(cal, cls, start)
        if event is None:
            inserted = insert_ignore(session, MajorEvent, [{
                "incident_id": incident.id, "event_class": found.event_class, "reasons": found.reasons,
                "classified_at": now, "phone_due_at": phone_due, "written_due_at": written_due,
            }], returning=(MajorEvent.id,))
            if not inserted:
                continue  # another run classed it first
            event = session.get_one(MajorEvent, inserted[0].id)
        else:
            event.event_class, event.reasons, event.classified_at = found.event_class, found.reasons, now
            event.phone_due_at = min(event.phone_due_at, phone_due)
            event.written_due_at = min(event.written_due_at, written_due)
        plan = session.execute(select(Plan).where(Plan.subject_type == "incident", Plan.subject_id == incident.id)
                               ).scalar_one_or_none()
        if plan is not None and plan.status == "open":
            _add_report_steps(session, cfg, plan, event, start, now)
        changed.append(event)
    session.flush()
    return changed


# --- draft written report ---------------------------------------------------------------------


def _report_context(session: Session, cfg: AppConfig, settings: Settings, event: MajorEvent, lang: str
                    ) -> dict[str, Any]:
    incident = session.get_one(Incident, event.incident_id)
    tz = settings.timezone
    plan = session.execute(select(Plan).where(Plan.subject_type == "incident", Plan.subject_id == incident.id)
                           ).scalar_one_or_none()
    steps = list(plan.steps) if plan else []
    members = members_of(session, incident)
    redress = session.execute(
        select(func.sum(ComplaintOutcome.redress_amount))
        .where(ComplaintOutcome.complaint_id.in_([m.id for m in members]))
    ).scalar_one()
    category = cfg.taxonomy.categories.get(incident.category)
    missing = MISSING[lang]
    return {
        "lang": lang, "t": TEXT[lang], "missing": missing,
        "doc_title": TEXT[lang]["title"],
        "subtitle": f"#{incident.id} · {mask_text(incident.title)}",
        "generated": fmt_dt(datetime.now().astimezone(), tz),
        "tz": tz,
        "event_class": TEXT[lang]["class_n"].format(n=event.event_class),
        "reasons": [*event.reasons, *incident.reason.get("severity_reasons", [])],
        "phone_due": fmt_dt(event.phone_due_at, tz), "written_due": fmt_dt(event.written_due_at, tz),
        "category": (category.label_zh if lang == "zh" else category.label_en) if category else incident.category,
        "status": label(STATUSES, incident.status, lang), "severity": incident.severity,
        "since": fmt_dt(incident.first_complaint_at, tz), "detected": fmt_dt(incident.detected_at, tz),
        "last": fmt_dt(incident.last_complaint_at, tz),
        "customers": fmt_int(incident.user_count), "complaints": fmt_int(incident.complaint_count),
        "amount": fmt_amount(incident.amount_at_risk) if incident.amount_at_risk is not None else missing,
        "redress": fmt_amount(redress) if redress is not None else missing,
        "cause": mask_text(incident.root_cause) if incident.root_cause else missing,
        "measures": [{"title": s.title, "owner": s.owner, "done": fmt_dt(s.done_at or s.started_at, tz),
                      "note": mask_text(s.note) if s.note else ""}
                     for s in steps if s.status not in ("pending",) and s.kind not in (PHONE_KIND, WRITTEN_KIND)],
        "next_steps": [{"title": s.title, "owner": s.owner, "due": fmt_dt(s.due_at, tz)}
                       for s in steps if s.status in STEP_OPEN],
        "samples": [{"id": m.id, "at": fmt_dt(m.received_at, tz), "channel": m.channel,
                     "text": mask_text(m.body)[:300]} for m in members[: cfg.major_events.sample_complaints]],
    }


def draft_report(session: Session, cfg: AppConfig, settings: Settings, incident_id: int,
                 language: str | None = None) -> Path:
    """Render the draft written report of a classed incident to reports/major-events/; returns its path.
    Every free text is masked; a fact the system lacks is printed as a visible to-be-completed marker."""
    event = session.execute(select(MajorEvent).where(MajorEvent.incident_id == incident_id)).scalar_one_or_none()
    if event is None:
        raise LookupError(f"incident {incident_id} is not a classed major event (see config/major_events.yaml)")
    lang = language or cfg.major_events.language
    html = environment(settings.templates_dir).get_template("reports/major_event.html").render(
        _report_context(session, cfg, settings, event, lang))
    out = settings.reports_path / "major-events"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"incident-{incident_id}-{lang}.pdf"
    write_atomic(path, render_pdf(html, settings.templates_dir))
    event.report_path = str(path)
    return path
