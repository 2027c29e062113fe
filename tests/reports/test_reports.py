"""Weekly reports: figures, PDF content, fonts, masking, no outbound fetches, idempotent re-render."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from complaints.core.config import AppConfig
from complaints.core.db import session_scope
from complaints.core.models import (
    CallbackResult,
    Complaint,
    DuplicateLink,
    Incident,
    Notification,
    Plan,
    PlanStep,
    QuarantinedRecord,
    Report,
)
from complaints.core.settings import Settings
from complaints.reports import (
    TemplatesOnlyFetcher,
    iso_week_bounds,
    last_complete_week,
    render_pdf,
    render_weekly_reports,
    weekly_report_data,
)

TZ = "Asia/Shanghai"
WEEK = "2026-W47"  # Mon 16 Nov - Sun 22 Nov 2026
MONDAY = datetime(2026, 11, 16, tzinfo=ZoneInfo(TZ))
PHONE, ID_NUMBER, CARD = "13812345678", "11010519491231002X", "6222021234567890128"
POPPLER = all(shutil.which(tool) for tool in ("pdffonts", "pdftoppm"))


# --- a loopback listener that records every request ---------------------------------------------


@dataclass
class Listener:
    port: int
    hits: list[str]


@pytest.fixture
def listener() -> Iterator[Listener]:
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Listener(server.server_address[1], hits)
    finally:
        server.shutdown()
        server.server_close()


# --- seed data ----------------------------------------------------------------------------------

# Canonical complaints received in WEEK, per category (50 in all).
WEEK_COUNTS = {
    "transfer_delay": 20,
    "fees_pricing": 8,
    "account_security": 6,
    "customer_service": 5,
    "refund_after_sales": 4,
    "system_fault": 3,
    "compliance": 2,
    "marketing": 2,
}
PREVIOUS_COUNTS = {"transfer_delay": 6, "fees_pricing": 4, "customer_service": 1}
BODIES = {
    "transfer_delay": "提现一直处理中，三天了钱还没到账，客服说在排查。",
    "fees_pricing": "Charged a fee I was never told about when topping up.",
    "account_security": "账户出现陌生交易，不是我本人操作，被盗刷了两笔。",
    "customer_service": "客服电话打不通，人工服务排队一个小时。",
    "refund_after_sales": "商家不退款，订单已经取消一周了。",
    "system_fault": "App 闪退，无法登录，错误码 5003。",
    "compliance": "Regulator referral: identity verification blocked my account for weeks.",
    "marketing": "红包返现活动说好的奖励没有到账。",
}
CHANNELS = ("app", "hotline", "email")


def _complaint(n: int, at: datetime, category: str, **kw: object) -> Complaint:
    body = str(kw.pop("body", BODIES[category]))
    values: dict[str, object] = {
        "source": "seed",
        "external_id": f"c{n}",
        "received_at": at,
        "channel": CHANNELS[n % len(CHANNELS)],
        "customer_ref": f"user{n}",
        "body": body,
        "text_hash": hashlib.sha256(body.encode()).hexdigest(),
        "category": category,
        "severity": "minor",
        "severity_reasons": [],
        "first_seen_at": at,
        "last_seen_at": at,
        "language": "zh",
    }
    values.update(kw)
    return Complaint(**values)


def seed(session: Session, port: int) -> dict[str, int]:
    """About 70 complaints over 9 weeks, two incidents with a plan, duplicates, quarantine, acks."""
    utc_monday = MONDAY.astimezone(UTC)
    n = 0
    incident = Incident(
        signature="category=transfer_delay|merchant=快付商户",
        opened_window=utc_monday + timedelta(hours=2),
        category="transfer_delay",
        title="转账提现延迟 · Transfer and withdrawal delays — 快付商户",
        severity="P2",
        status="open",
        detected_at=utc_monday + timedelta(hours=20),
        first_complaint_at=utc_monday + timedelta(hours=2),
        last_complaint_at=utc_monday + timedelta(days=3),
        user_count=0,
        complaint_count=0,
        reason={"rule": "distinct users in window", "window_hours": 24, "threshold": 10, "observed_users": 12},
    )
    resolved = Incident(
        signature="category=fees_pricing|merchant=*",
        opened_window=utc_monday - timedelta(days=10),
        category="fees_pricing",
        title="收费与定价 · Fees and pricing",
        severity="P3",
        status="resolved",
        detected_at=utc_monday - timedelta(days=9),
        first_complaint_at=utc_monday - timedelta(days=10),
        last_complaint_at=utc_monday - timedelta(days=8),
        resolved_at=utc_monday + timedelta(days=2),
        user_count=11,
        complaint_count=11,
        amount_at_risk=Decimal("330.00"),
        reason={"rule": "distinct users in window"},
        root_cause="充值手续费配置错误，已回滚并退还多收费用。",
    )
    session.add_all([incident, resolved])
    session.flush()

    complaints: list[Complaint] = []
    for category, count in WEEK_COUNTS.items():
        for i in range(count):
            n += 1
            at = utc_monday + timedelta(hours=2 + 3 * n)
            kw: dict[str, object] = {}
            if category == "transfer_delay":
                kw = {"incident_id": incident.id, "merchant": "快付商户", "amount": Decimal("500.00")}
                if i == 0:
                    kw |= {"severity": "critical", "body": f"提现失败，客服让我提供手机号 {PHONE}、身份证 "
                           f"{ID_NUMBER} 和银行卡 {CARD}，我要曝光到媒体！"}
                elif i == 1:
                    hostile = f'钱没到账 <img src="http://127.0.0.1:{port}/x"> {{{{ 7*7 }}}}'
                    kw |= {"severity": "critical", "body": hostile}
                elif i == 2:
                    kw["customer_ref"] = "user1"  # same person as an earlier member: counted once
            if category == "account_security":
                kw["severity"] = "critical"
                if i == 0:
                    kw["severity_reasons"] = ["critical category", "threat to escalate: 媒体, 曝光"]
            if category == "compliance":
                kw["channel"] = "regulator"
                kw["severity"] = "major"
                if i == 0:
                    kw["body"] = f"监管转办：用户称身份证 {ID_NUMBER} 被冒用实名认证。"
            if category == "marketing":
                kw["merchant"] = "新商户A"
            complaints.append(_complaint(n, at, category, **kw))
    for category, count in PREVIOUS_COUNTS.items():
        for _ in range(count):
            n += 1
            complaints.append(_complaint(n, utc_monday - timedelta(days=3, hours=n % 24), category))
    for weeks_back in range(2, 8):  # customer service complaints every week: a recurring problem
        n += 1
        complaints.append(_complaint(n, utc_monday - timedelta(weeks=weeks_back), "customer_service"))
    session.add_all(complaints)
    session.flush()

    canonical = complaints[5]
    for k in range(3):  # resubmissions: linked, never counted
        n += 1
        dup = _complaint(n, canonical.received_at + timedelta(hours=1 + k), "transfer_delay",
                         duplicate_of_id=canonical.id, customer_ref=canonical.customer_ref)
        session.add(dup)
        session.flush()
        session.add(DuplicateLink(complaint_id=dup.id, canonical_id=canonical.id, method="fuzzy", score=0.97,
                                  created_at=dup.received_at))
    for k in range(2):
        session.add(QuarantinedRecord(source="hotline", location=f"hotline.csv:line {k + 2}", reason="bad amount",
                                      raw=f'{{"来电时间": "2026/11/1{7 + k} 09:00"}}', fingerprint=f"fp{k}",
                                      created_at=utc_monday + timedelta(days=3 + k)))

    # Acknowledgements for the first 30 complaints of the week: 25 within a day, 5 after two days.
    for k, c in enumerate(complaints[:30]):
        sent = c.received_at + (timedelta(hours=2) if k < 25 else timedelta(days=2))
        session.add(Notification(idempotency_key=f"ack:{c.id}", kind="acknowledgement", recipient="u@example.com",
                                 language="zh", subject="已受理", body_text="已受理", complaint_id=c.id,
                                 status="sent", message_id=f"<{c.id}@x>", created_at=sent, sent_at=sent))

    plan = Plan(subject_type="incident", subject_id=incident.id, category="transfer_delay",
                template="transfer_delay", team="payments_ops", status="open", created_at=incident.detected_at,
                due_at=incident.detected_at + timedelta(days=14))
    plan.steps = [
        PlanStep(seq=1, title="Reconcile with the bank or clearing channel", owner="payops.wang",
                 due_at=incident.detected_at + timedelta(hours=4), status="done",
                 done_at=incident.detected_at + timedelta(hours=3)),
        PlanStep(seq=2, title="Fix or reroute the payment channel", owner="payops.chen",
                 due_at=incident.detected_at + timedelta(hours=24), status="pending", escalation_level=1),
        PlanStep(seq=3, title="Call back the users (回访)", owner="payops.zhao",
                 due_at=incident.detected_at + timedelta(days=10), status="pending"),
    ]
    session.add(plan)
    session.flush()
    # Call-back results of three complaints: two reached (scores 5 and 1, the 1 with a comment), one not.
    for c, reached, score, comment in ((complaints[0], True, 5, None),
                                       (complaints[1], True, 1, f"还是没到账，打 {PHONE} 没人接"),
                                       (complaints[2], False, None, None)):
        session.add(CallbackResult(complaint_id=c.id, reached=reached, score=score, comment=comment,
                                   replied_at=c.received_at + timedelta(days=3)))
    return {"incident": incident.id, "resolved": resolved.id}


# --- helpers ------------------------------------------------------------------------------------


def pdf_text(path: Path) -> str:
    text = "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)
    return re.sub(r"[ \t]+", " ", text)


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def non_white_share(pdf: Path, tmp_path: Path) -> float:
    prefix = tmp_path / f"page-{pdf.stem}"
    subprocess.run(["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(pdf), str(prefix)], check=True)
    png = next(tmp_path.glob(f"{prefix.name}*.png"))
    with Image.open(png) as img:
        gray = img.convert("L")
        dark = sum(gray.histogram()[:235])
        return dark / (gray.width * gray.height)


# --- tests --------------------------------------------------------------------------------------


def test_week_bounds_and_last_complete_week() -> None:
    start, end = iso_week_bounds("2026-W47", TZ)
    assert start == MONDAY and end == MONDAY + timedelta(days=7)
    assert start.utcoffset() == timedelta(hours=8)
    assert iso_week_bounds("2026-W01", "UTC")[0] == datetime(2025, 12, 29, tzinfo=ZoneInfo("UTC"))
    # Sunday 23:30 in Shanghai is still in W47, so the last complete week is W46.
    assert last_complete_week(datetime(2026, 11, 22, 15, 30, tzinfo=UTC), TZ) == "2026-W46"
    assert last_complete_week(datetime(2026, 11, 22, 16, 30, tzinfo=UTC), TZ) == "2026-W47"
    for bad in ("2026-47", "2026-W54", "W47"):
        with pytest.raises(ValueError):
            iso_week_bounds(bad, TZ)


def test_fetcher_refuses_everything_but_data_and_templates(tmp_path: Path, listener: Listener) -> None:
    templates = tmp_path / "templates"
    (templates / "reports").mkdir(parents=True)
    (templates / "reports" / "ok.css").write_text("p { color: red }")
    (tmp_path / "secret.css").write_text("p { color: blue }")
    fetcher = TemplatesOnlyFetcher(templates)
    for url in (
        f"http://127.0.0.1:{listener.port}/a",
        f"https://127.0.0.1:{listener.port}/a",
        f"ftp://127.0.0.1:{listener.port}/a",
        "file:///etc/passwd",
        (templates / "reports" / ".." / ".." / "secret.css").as_uri(),
        (tmp_path / "secret.css").as_uri(),
    ):
        with pytest.raises(ValueError, match="refused"):
            fetcher.fetch(url)
    assert fetcher.fetch((templates / "reports" / "ok.css").as_uri()).read() == b"p { color: red }"
    assert fetcher.fetch("data:text/plain;base64,aGk=").read() == b"hi"

    html = (
        f'<link rel="stylesheet" href="http://127.0.0.1:{listener.port}/s.css">'
        '<link rel="stylesheet" href="file:///etc/passwd">'
        f'<p>hello</p><img src="http://127.0.0.1:{listener.port}/i.png"><img src="file:///etc/passwd">'
    )
    pdf = render_pdf(html, templates)
    assert pdf.startswith(b"%PDF") and b"root:" not in pdf
    assert listener.hits == []


def test_weekly_reports(db_url: str, app_config: AppConfig, tmp_path: Path, listener: Listener) -> None:
    full = "sqlite" in db_url  # PostgreSQL checks the queries and the upsert with one language
    languages = ("zh", "en") if full else ("zh",)
    settings = Settings(var_dir=tmp_path / "var", database_url=db_url)
    with session_scope(db_url) as session:
        ids = seed(session, listener.port)

    # Figures: canonical complaints only, exact counts.
    with session_scope(db_url) as session:
        data = weekly_report_data(session, app_config, WEEK, TZ)
    assert data.complaints == 50 and data.previous_complaints == 11
    counts = {c.key: (c.count, c.previous) for c in data.by_category if c.count or c.previous}
    assert counts == {k: (v, PREVIOUS_COUNTS.get(k, 0)) for k, v in WEEK_COUNTS.items()}
    cs = next(c for c in data.by_category if c.key == "customer_service")
    assert cs.trend == [1, 1, 1, 1, 1, 1, 1, 5] and cs in data.recurring  # W40..W47
    assert {c.key for c in data.new_categories} == {"refund_after_sales", "account_security", "system_fault",
                                                    "compliance", "marketing"}
    assert [(m.key, m.count) for m in data.new_merchants] == [("快付商户", 20), ("新商户A", 2)]
    assert data.duplicates == 3 and data.quarantined_total == 2
    assert data.regulator_count == 2 and data.media_threat_count == 1
    inc = next(i for i in data.incidents if i.id == ids["incident"])
    assert (inc.phase, inc.complaints, inc.users, inc.amounts) == ("new", 20, 19, {"CNY": Decimal("10000.00")})
    assert len(inc.excerpts) == 3 and sum(inc.hourly[k][1] for k in range(len(inc.hourly))) == 20
    assert inc.plan is not None and [s.overdue for s in inc.plan.steps] == [False, True, False]
    assert next(i for i in data.incidents if i.id == ids["resolved"]).phase == "resolved"
    # One definition: the plan with an overdue step is an overdue plan.
    assert data.overdue_step_count == 1 and data.overdue_plans == 1
    assert [(g.team, g.owner, g.steps) for g in data.overdue_groups] == [("payments_ops", "payops.chen", 1)]
    sla = {r.channel: (r.complaints, r.acknowledged, r.within_1d) for r in data.sla}
    assert sum(v[0] for v in sla.values()) == 50 and sum(v[1] for v in sla.values()) == 30
    assert sum(v[2] for v in sla.values()) == 25 and sla["regulator"] == (2, 0, 0)

    with session_scope(db_url) as session:
        reports = render_weekly_reports(session, app_config, settings, WEEK, languages)
    assert [(r.kind, r.language) for r in reports] == [(k, lang) for lang in languages
                                                       for k in ("crisis", "lessons")]
    paths = {(r.kind, r.language): Path(r.path) for r in reports}
    assert all(p.parent == settings.reports_path / WEEK and p.read_bytes().startswith(b"%PDF")
               for p in paths.values())
    assert reports[0].summary["complaints"] == 50 and reports[0].summary["affected_users"] == 19 + 11
    assert reports[0].summary["overdue_steps"] == 1 and reports[0].summary["incidents"] == 2

    crisis_zh = pdf_text(paths["crisis", "zh"])
    for heading in ("目录", "执行摘要", "事件详情", "整改计划", "典型投诉摘录", "服务时效", "监管转办与媒体威胁投诉"):
        assert heading in crisis_zh, heading
    for label in ("转账提现延迟", "收费与定价", "账户安全与盗刷", "客服服务"):
        assert label in crisis_zh, label
    assert "转账提现延迟206+14(+233%)" in flat(crisis_zh)  # category row: this week, last week, change
    assert re.search(r"1\s*/\s*\d+", crisis_zh)  # page footer
    # Masking, and hostile text printed as text with nothing fetched.
    for raw in (PHONE, ID_NUMBER, CARD):
        assert raw not in flat(crisis_zh)
    assert "138****5678" in crisis_zh and "6222 **** **** 0128" in crisis_zh
    assert "<img" in crisis_zh and "{{ 7*7 }}" in crisis_zh
    assert listener.hits == []

    lessons_zh = pdf_text(paths["lessons", "zh"])
    for heading in ("近 8 周类别趋势", "反复出现的问题", "新问题", "改进建议", "充值手续费配置错误", "回访结果"):
        assert heading in lessons_zh, heading
    callbacks = flat(lessons_zh.split("回访结果")[-1])
    assert "66.7%" in callbacks and "3.0" in callbacks  # 2 of 3 reached; mean of 5 and 1
    assert "还是没到账" in callbacks and PHONE not in callbacks

    if POPPLER:
        fonts = subprocess.run(["pdffonts", str(paths["crisis", "zh"])], capture_output=True, text=True,
                               check=True).stdout
        assert re.search(r"Noto-?Sans-?CJK", fonts)
        assert non_white_share(paths["crisis", "zh"], tmp_path) > 0.01

    if full:
        crisis_en = pdf_text(paths["crisis", "en"])
        for heading in ("Contents", "Executive summary", "Incident details", "Remediation plan",
                        "Service levels", "Transfer and withdrawal delays"):
            assert heading in crisis_en, heading
        assert "Recommendations" in pdf_text(paths["lessons", "en"])

    # Re-running an unchanged week renders nothing: same rows, same files (inode and mtime), same hash.
    def stamps() -> dict[tuple[str, str], tuple[int, int]]:
        return {k: (p.stat().st_ino, p.stat().st_mtime_ns) for k, p in paths.items()}

    before = stamps()
    with session_scope(db_url) as session:
        again = render_weekly_reports(session, app_config, settings, WEEK, languages)
    assert [r.id for r in again] == [r.id for r in reports]
    assert [r.summary["content_hash"] for r in again] == [r.summary["content_hash"] for r in reports]
    assert stamps() == before  # 0 PDFs rendered
    # A changed week (one more complaint received in it) renders every report again, into the same rows.
    with session_scope(db_url) as session:
        session.add(_complaint(9999, MONDAY + timedelta(days=4), "marketing"))
    with session_scope(db_url) as session:
        changed = render_weekly_reports(session, app_config, settings, WEEK, languages)
    with session_scope(db_url) as session:
        rows = session.execute(
            select(Report.kind, Report.language, func.count()).group_by(Report.kind, Report.language)
        ).all()
    assert sorted(rows) == sorted((k, lang, 1) for k in ("crisis", "lessons") for lang in languages)
    assert [r.id for r in changed] == [r.id for r in reports] and changed[0].summary["complaints"] == 51
    assert all(before[k] != stamp for k, stamp in stamps().items())
    assert sorted(f.name for f in (settings.reports_path / WEEK).iterdir()) == sorted(
        f"{k}-{lang}.pdf" for k in ("crisis", "lessons") for lang in languages
    )

    if full:  # an empty week still gives valid PDFs that say so
        with session_scope(db_url) as session:
            empty = render_weekly_reports(session, app_config, settings, "2026-W30", ("en",))
        text = pdf_text(Path(empty[0].path))
        assert "No incidents this week." in text and empty[0].summary["complaints"] == 0
        assert "No incidents" not in crisis_zh
