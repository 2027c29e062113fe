"""Regulator returns for any period, as tables: a DISP 1.10-style summary (open at start, received, closed
within 4 weeks / 4-8 weeks / after 8 weeks, upheld, redress paid, open at end) for every return, plus the
per-complaint feedback fields of PBoC Art. 44 or the CFPB response layout. Each return covers the complaints
of its jurisdiction (inferred as for the clocks). Exported as CSV, XLSX or PDF, masked, formulas neutralised.
A field the data model does not hold is printed as MISSING, never left silently empty."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from complaints.core.config import AppConfig
from complaints.core.models import CallbackResult, Complaint, ComplaintClock, ComplaintOutcome, Notification
from complaints.core.pii import mask_text
from complaints.core.settings import Settings
from complaints.regulatory.clocks import ComplaintFacts, due_day, infer_jurisdiction
from complaints.regulatory.outcomes import UPHELD, closed_at_column, with_closure
from complaints.reports.export import neutralise
from complaints.reports.i18n import fmt_dt

ReturnKind = Literal["fca", "pboc", "cfpb"]
JURISDICTION: dict[str, str] = {"fca": "GB", "pboc": "CN", "cfpb": "US"}
TITLES = {
    "fca": "Complaints return (FCA DISP 1.10 layout)",
    "pboc": "金融消费者投诉处理情况报告 / Complaint handling return (PBoC Measures 2020, Art. 44)",
    "cfpb": "Complaint responses (CFPB company portal layout)",
}
MISSING = "[NOT RECORDED]"
FOUR_WEEKS, EIGHT_WEEKS = timedelta(weeks=4), timedelta(weeks=8)
SUMMARY_COLUMNS = ["category", "open_at_start", "received", "closed_within_4_weeks", "closed_4_to_8_weeks",
                   "closed_after_8_weeks", "upheld", "redress_paid", "redress_currency", "open_at_end"]
PBOC_COLUMNS = ["complaint", "received", "closed", "投诉事实 facts", "争议焦点 dispute",
                "调查结果及证据 investigation and evidence", "处理依据 basis of decision", "处理结果 outcome",
                "赔付 redress", "沟通情况 communications", "延期情况 extension", "投诉人满意度 satisfaction"]
CFPB_COLUMNS = ["Complaint ID", "Date received", "Product", "Issue", "Date closed", "Company response to consumer",
                "Timely response?", "Steps taken"]
CFPB_RESPONSE = {"monetary": "Closed with monetary relief", "non_monetary": "Closed with non-monetary relief",
                 "explanation": "Closed with explanation"}


@dataclass
class Section:
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)


@dataclass
class RegulatorReturn:
    kind: str
    title: str
    since: date
    until: date  # inclusive
    jurisdiction: str
    sections: list[Section]


@dataclass(frozen=True)
class _Row:
    complaint: Complaint
    closed_at: datetime | None
    outcome: ComplaintOutcome | None


def _period(since: date, until: date, tz: str) -> tuple[datetime, datetime]:
    z = ZoneInfo(tz)
    return datetime.combine(since, time(0), tzinfo=z), datetime.combine(until + timedelta(days=1), time(0), tzinfo=z)


def _load(session: Session, cfg: AppConfig, jurisdiction: str, start: datetime, end: datetime) -> list[_Row]:
    """Canonical complaints of the jurisdiction received before the end and not closed before the start."""
    closed = closed_at_column()
    stmt = with_closure(select(Complaint, closed.label("closed_at"), ComplaintOutcome)).where(
        Complaint.duplicate_of_id.is_(None), Complaint.received_at < end, (closed.is_(None)) | (closed >= start)
    ).order_by(Complaint.received_at, Complaint.id)
    return [_Row(c, closed_at, outcome) for c, closed_at, outcome in session.execute(stmt)
            if infer_jurisdiction(cfg.clocks, ComplaintFacts.of(c)) == jurisdiction]


def _summary(cfg: AppConfig, rows: list[_Row], start: datetime, end: datetime) -> Section:
    counts: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    currencies: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        c = r.complaint
        for key in (c.category or cfg.taxonomy.fallback, "TOTAL"):
            k = counts[key]
            k["open_at_start"] += c.received_at < start
            k["received"] += c.received_at >= start
            k["open_at_end"] += r.closed_at is None or r.closed_at >= end
            if r.closed_at is None or not start <= r.closed_at < end:
                continue
            took = r.closed_at - c.received_at
            bucket = ("closed_within_4_weeks" if took <= FOUR_WEEKS else
                      "closed_4_to_8_weeks" if took <= EIGHT_WEEKS else "closed_after_8_weeks")
            k[bucket] += 1
            if r.outcome is not None:
                k["upheld"] += r.outcome.outcome in UPHELD
                if r.outcome.redress_amount:
                    k["redress_paid"] += r.outcome.redress_amount
                    currencies[key].add(r.outcome.redress_currency or "")
    order = [k for k in cfg.taxonomy.categories if k in counts] + ["TOTAL"]
    section = Section("Summary", SUMMARY_COLUMNS)
    for key in order:
        k = counts[key]
        section.rows.append([key, *(k[c] for c in SUMMARY_COLUMNS[1:7]), Decimal(k["redress_paid"]),
                             ", ".join(sorted(currencies[key])), k["open_at_end"]])
    return section


def _by_complaint(session: Session, model: Any, ids: list[int], order: Any) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = defaultdict(list)
    for start in range(0, len(ids), 500):
        stmt = select(model).where(model.complaint_id.in_(ids[start : start + 500])).order_by(order)
        for obj in session.execute(stmt).scalars():
            out[obj.complaint_id].append(obj)
    return out


def _in_period(rows: list[_Row], start: datetime, end: datetime) -> list[_Row]:
    """Complaints received or closed in the period."""
    return [r for r in rows if r.complaint.received_at >= start or (r.closed_at is not None and r.closed_at < end)]


def _pboc(session: Session, cfg: AppConfig, rows: list[_Row], tz: str) -> Section:
    ids = [r.complaint.id for r in rows]
    notes = _by_complaint(session, Notification, ids, Notification.id)
    clocks = _by_complaint(session, ComplaintClock, ids, ComplaintClock.id)
    callbacks = {cb[0].complaint_id: cb[0] for cb in _by_complaint(session, CallbackResult, ids, CallbackResult.id)
                 .values()}
    section = Section("PBoC Art. 44 feedback", PBOC_COLUMNS)
    for r in rows:
        c, o = r.complaint, r.outcome
        dispute = " · ".join(x for x in (c.category, c.merchant and mask_text(c.merchant),
                                         c.amount is not None and f"{c.amount} {c.currency or ''}".strip()) if x)
        comms = "; ".join(f"{n.kind} {fmt_dt(n.sent_at, tz, False)}" if n.sent_at else f"{n.kind} ({n.status})"
                          for n in notes[c.id]) or "none"
        extended = "; ".join(f"{k.rule_id}: to {due_day(k, cfg.clocks)}, approved by {k.approver}: "
                             f"{mask_text(k.reason)}" for k in clocks[c.id] if k.extensions) or "none"
        cb = callbacks.get(c.id)
        satisfaction = (MISSING if cb is None else "not reached" if not cb.reached
                        else f"{cb.score}/5" if cb.score is not None else "reached, no score")
        section.rows.append([
            c.external_id, fmt_dt(c.received_at, tz), fmt_dt(r.closed_at, tz) if r.closed_at else "open",
            mask_text(" ".join(x for x in (c.title, c.body) if x))[:1000], dispute or MISSING,
            mask_text(o.investigation) if o and o.investigation else MISSING,
            mask_text(o.basis) if o and o.basis else MISSING,
            o.outcome if o else MISSING,
            f"{o.redress_amount} {o.redress_currency or ''}".strip() if o and o.redress_amount else "none",
            comms, extended, satisfaction,
        ])
    return section


def _cfpb(session: Session, rows: list[_Row], tz: str) -> Section:
    ids = [r.complaint.id for r in rows]
    response = {k.complaint_id: k.status for k in session.execute(
        select(ComplaintClock).where(ComplaintClock.complaint_id.in_(ids), ComplaintClock.rule_id == "us_cfpb_response")
    ).scalars()}
    section = Section("CFPB responses", CFPB_COLUMNS)
    for r in rows:
        c, o = r.complaint, r.outcome
        closed = r.closed_at is not None
        timely = {"met": "Yes", "breached": "No"}.get(response.get(c.id, ""), "")
        section.rows.append([
            c.external_id, fmt_dt(c.received_at, tz, False), c.product or MISSING, c.category or MISSING,
            fmt_dt(r.closed_at, tz, False) if closed else "",
            CFPB_RESPONSE[o.relief] if o else ("Closed" if closed else "In progress"),
            timely, (mask_text(o.steps_taken) if o and o.steps_taken else MISSING) if closed else "",
        ])
    return section


def build_return(session: Session, cfg: AppConfig, kind: ReturnKind, since: date, until: date,
                 tz: str) -> RegulatorReturn:
    """The regulator's return for the days since..until: a summary, plus the PBOC or CFPB section."""
    if until < since:
        raise ValueError(f"until {until} is before since {since}")
    jurisdiction = JURISDICTION[kind]
    start, end = _period(since, until, tz)
    rows = _load(session, cfg, jurisdiction, start, end)
    sections = [_summary(cfg, rows, start, end)]
    if kind == "pboc":
        sections.append(_pboc(session, cfg, _in_period(rows, start, end), tz))
    elif kind == "cfpb":
        sections.append(_cfpb(session, _in_period(rows, start, end), tz))
    return RegulatorReturn(kind, TITLES[kind], since, until, jurisdiction, sections)


# --- writers ----------------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    return neutralise(str(value) if isinstance(value, Decimal) else value)


def to_csv(ret: RegulatorReturn) -> bytes:
    """Sections one after another: a title row, the header, the rows, a blank row. UTF-8 with BOM for Excel."""
    out = io.StringIO()
    writer = csv.writer(out)
    for s in ret.sections:
        writer.writerow([_cell(f"{ret.title} · {s.title} · {ret.since}..{ret.until}")])
        writer.writerow(s.columns)
        writer.writerows([_cell(v) for v in row] for row in s.rows)
        writer.writerow([])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(ret: RegulatorReturn) -> bytes:
    """One sheet per section; numbers stay numbers, text is neutralised."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    wb.remove(wb.worksheets[0])  # the default empty sheet
    for s in ret.sections:
        ws = wb.create_sheet(s.title[:31])
        ws.append([_cell(f"{ret.title} · {ret.since}..{ret.until}")])
        ws.append(s.columns)
        for cell in ws[2]:
            cell.font = Font(bold=True)
        for row in s.rows:
            ws.append([float(v) if isinstance(v, Decimal) else neutralise(v) for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def to_pdf(ret: RegulatorReturn, settings: Settings) -> bytes:
    """The return as a PDF, in Chinese for the PBOC and English otherwise."""
    from complaints.core.templating import environment
    from complaints.reports.render import render_pdf

    html = environment(settings.templates_dir).get_template("reports/returns.html").render(
        lang="zh" if ret.kind == "pboc" else "en", doc_title=ret.title, r=ret,
        subtitle=f"{ret.since} – {ret.until} · {ret.jurisdiction}", tz=settings.timezone,
        generated=fmt_dt(datetime.now().astimezone(), settings.timezone),
        t={"company": "Wallet complaint operations", "generated": "Generated"},
    )
    return render_pdf(html, settings.templates_dir)


def export(ret: RegulatorReturn, fmt: Literal["csv", "xlsx", "pdf"], settings: Settings) -> bytes:
    """The return as CSV, XLSX or PDF bytes."""
    if fmt == "csv":
        return to_csv(ret)
    if fmt == "xlsx":
        return to_xlsx(ret)
    return to_pdf(ret, settings)


def totals(ret: RegulatorReturn) -> dict[str, Any]:
    """The summary's TOTAL row as a dict (artifacts, tests)."""
    summary = ret.sections[0]
    return dict(zip(summary.columns, summary.rows[-1], strict=True))
