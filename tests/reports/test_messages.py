"""Every kind of message to a complainant, in both languages, carries its jurisdiction's escalation route and the
sign-off; the report email carries the headline figures."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from markupsafe import escape
from sqlalchemy import select

from complaints.core.config import AppConfig
from complaints.core.db import session_scope
from complaints.core.models import Complaint, Incident, Notification, Report
from complaints.core.settings import Settings
from complaints.notify.outbox import queue_acknowledgements, queue_report_emails
from complaints.notify.updates import queue_updates
from complaints.regulatory.clocks import queue_extension_notice
from tests.reports.test_reports import _complaint

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
KINDS = {"acknowledgement", "progress", "extension", "resolution", "callback"}
# (jurisdiction, language, what makes clocks.yaml infer it)
USERS = [
    ("CN", "zh", {}),
    ("CN", "en", {}),
    ("GB", "en", {"currency": "GBP"}),
    ("GB", "zh", {"region": "London"}),
    ("US", "en", {"source": "regulator", "currency": "USD"}),
]


def test_every_message_carries_route_and_signoff(sqlite_url: str, app_config: AppConfig, tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path / "var", database_url=sqlite_url)
    cfg = app_config
    with session_scope(sqlite_url) as session:
        incidents = []
        for status in ("investigating", "resolved"):
            inc = Incident(signature=f"s-{status}", opened_window=NOW - timedelta(days=2), category="transfer_delay",
                           title="t", severity="P3", status=status, detected_at=NOW - timedelta(days=2),
                           first_complaint_at=NOW - timedelta(days=2), last_complaint_at=NOW - timedelta(days=1),
                           resolved_at=NOW - timedelta(hours=3) if status == "resolved" else None, updated_at=NOW)
            session.add(inc)
            session.flush()
            incidents.append(inc)
        complaints = []
        for k, (_, lang, facts) in enumerate(USERS):
            for j, inc in enumerate(incidents):
                n = 10 * k + j
                c = _complaint(n, NOW - timedelta(days=1, hours=n), "transfer_delay", language=lang,
                               contact=f"user{n}@example.com", contact_key=f"key{n}", incident_id=inc.id,
                               processed_at=NOW - timedelta(hours=20), **facts)
                session.add(c)
                complaints.append(c)
        session.flush()
        assert queue_acknowledgements(session, cfg, settings, NOW) == len(complaints)
        counts = queue_updates(session, cfg, settings, NOW)
        assert counts["progress"] == counts["resolution"] == counts["callback"] == len(USERS)
        for c in complaints[::2]:
            assert queue_extension_notice(session, cfg, settings, c, key=f"ext:{c.id}", new_due=date(2026, 12, 30),
                                          reason="需要调取银行流水", now=NOW)

    with session_scope(sqlite_url) as session:
        messages = session.execute(
            select(Notification.kind, Notification.body_text, Notification.body_html, Complaint.language,
                   Complaint.currency, Complaint.region, Complaint.source)
            .join(Complaint, Complaint.id == Notification.complaint_id)
        ).all()
    seen = set()
    signoff = cfg.notifications.signoff
    for kind, text, body_html, lang, currency, region, source in messages:
        jurisdiction = "US" if source == "regulator" else "GB" if currency == "GBP" or region == "London" else "CN"
        route = cfg.escalation.routes[jurisdiction]
        wording = route.final if kind == "resolution" and route.final else route.text
        expected = wording.zh if lang == "zh" else wording.en
        company = signoff.company.zh if lang == "zh" else signoff.company.en
        for part, quoted in ((text, expected), (body_html, str(escape(expected)))):
            assert quoted in part, (kind, lang, jurisdiction)
            assert company in part and signoff.hotline in part, (kind, lang)
            assert (signoff.handler.zh if lang == "zh" else signoff.handler.en) in part
        seen.add((kind, lang, jurisdiction))
    assert {k for k, _, _ in seen} == KINDS
    assert {(k, lang, j) for k in KINDS for j, lang, _ in USERS} <= seen
    # The UK final response names the six-month window; the others do not need it.
    gb_final = [t for k, t, _, lang, cur, reg, _ in messages if k == "resolution" and lang == "en" and cur == "GBP"]
    assert gb_final and all("six months" in t for t in gb_final)
    assert all("12363" in t for k, t, _, lang, cur, reg, src in messages if cur is None and reg is None
               and src != "regulator")
    us = [t for _, t, _, _, _, _, src in messages if src == "regulator"]
    assert us and all("consumerfinance.gov/complaint" in t for t in us)


def test_report_email_has_headlines_and_links(sqlite_url: str, app_config: AppConfig, tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path / "var", database_url=sqlite_url)
    pdf = tmp_path / "crisis-zh.pdf"
    pdf.write_bytes(b"%PDF-1.7")
    summary = {"complaints": 1293, "incidents": 2, "affected_users": 1050, "regulator_deadlines": 3,
               "overdue_steps": 12, "amounts": {"CNY": "57238.00", "USD": "1200.50"}, "content_hash": "ab" * 32}
    report = Report(kind="crisis", period="2026-W47", language="zh", path=str(pdf), summary=summary)
    url = "http://127.0.0.1:4200/runs/flow-run/1234"
    with session_scope(sqlite_url) as session:
        queued = queue_report_emails(session, app_config, settings, [report], run_url=url)
        # The same reports again: nothing new; a changed week (new hash) is sent again.
        assert queue_report_emails(session, app_config, settings, [report], run_url=url) == 0
        changed = Report(kind="crisis", period="2026-W47", language="zh", path=str(pdf),
                         summary={**summary, "content_hash": "cd" * 32})
        assert queue_report_emails(session, app_config, settings, [changed], run_url=url) == queued
    with session_scope(sqlite_url) as session:
        bodies = session.scalars(select(Notification.body_text).where(Notification.kind == "report")).all()
    assert queued == len(next(s for s in app_config.notifications.stakeholders if s.language == "zh").recipients)
    for text in bodies:
        for figure in ("1,293", "1,050", "受影响用户: 1,050", "未来 7 天到期的监管时限: 3",
                       "CNY 57,238.00 · USD 1,200.50", url, pdf.resolve().as_uri()):
            assert figure in text, figure
