"""The Chinese reports are all Chinese, and the lessons report does not invent trends from a week of history."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import update

from complaints.core.config import AppConfig
from complaints.core.db import session_scope
from complaints.core.models import Complaint
from complaints.core.settings import Settings
from complaints.reports import render_weekly_reports, weekly_report_data
from tests.reports.test_reports import TZ, WEEK, pdf_text, seed

# Product names, codes and units a Chinese reader sees as such.
ALLOWED = {"App", "CNY", "USD", "GBP", "PDF", "ID"}
# Identifiers (staff handles, team codes, ticket numbers, time zones, numbers like 3.58e-14) are codes.
CODE = re.compile(r"[\w]*[_./\d][\w./+-]*")


def english_words(text: str, codes: set[str]) -> set[str]:
    """Latin-letter words that are neither codes nor on the allow-list."""
    words = set(re.findall(r"[A-Za-z][A-Za-z0-9_./+-]*", text))
    return {w for w in words if len(w) > 1 and w not in ALLOWED and w not in codes and not CODE.fullmatch(w)}


def test_zh_reports_have_no_english(sqlite_url: str, app_config: AppConfig, tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path / "var", database_url=sqlite_url)
    with session_scope(sqlite_url) as session:
        seed(session, 9)
        # Complaint text is quoted as written: make it Chinese so every English word left is the report's own.
        session.execute(update(Complaint).values(body="提现三天没到账，客服说在排查。", title=None))
    with session_scope(sqlite_url) as session:
        reports = render_weekly_reports(session, app_config, settings, WEEK, ("zh",))
    codes = {r.team for r in app_config.routing.routes} | {app_config.routing.default_team}
    for r in reports:
        text = pdf_text(Path(r.path))
        assert "执行摘要" in text or "改进建议" in text
        assert english_words(text, codes) == set(), r.kind
    crisis = pdf_text(Path(next(r.path for r in reports if r.kind == "crisis")))
    flat = re.sub(r"\s+", "", crisis)
    # The story on page 1, plan step titles from plans.yaml, dates as Chinese writes them.
    for phrase in ("本周发生了什么", "根因仍在调查中", "下一个截止", "请您", "下次更新", "与银行或清算通道对账",
                   "应对时间线", "附录：检测统计依据", "11月16日"):
        assert phrase in flat, phrase
    assert "CNY10,000.00" in flat  # the incident's amount with its currency and separators


def test_every_plan_step_has_a_chinese_title(app_config: AppConfig) -> None:
    missing = [st.title for steps in app_config.plans.templates.values() for st in steps if not st.title_zh]
    assert missing == []


def test_lessons_with_little_history(sqlite_url: str, app_config: AppConfig) -> None:
    """One week of data: no new categories or merchants, no recurring problems; the report says why."""
    with session_scope(sqlite_url) as session:
        seed(session, 9)
        # Only this week's complaints remain: the seed's earlier weeks are gone.
        session.query(Complaint).filter(Complaint.received_at < weekly_report_data(
            session, app_config, WEEK, TZ).start).delete()
    with session_scope(sqlite_url) as session:
        d = weekly_report_data(session, app_config, WEEK, TZ)
    assert d.history_weeks == 0 and not d.enough_history
    assert d.new_categories == [] and d.new_merchants == [] and d.recurring == []
    assert any("not enough history" in r["en"] for r in d.recommendations)
    assert not any("new complaint category" in r["en"] for r in d.recommendations)


def test_cfpb_company_is_not_a_new_merchant(sqlite_url: str, app_config: AppConfig) -> None:
    cfpb = next(s.name for s in app_config.sources.sources if s.kind == "cfpb")
    with session_scope(sqlite_url) as session:
        seed(session, 9)
        # The CFPB's Company column (the wallet itself) lands in merchant for every CFPB complaint.
        session.execute(update(Complaint).where(Complaint.category == "marketing")
                        .values(source=cfpb, merchant="JadePay Inc."))
    with session_scope(sqlite_url) as session:
        d = weekly_report_data(session, app_config, WEEK, TZ)
    assert d.enough_history
    assert [m.key for m in d.new_merchants] == ["快付商户"]
