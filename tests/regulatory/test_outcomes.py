"""Root causes recorded with outcomes (a controlled list), their statistics and the lessons report's table."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cli.main import app
from complaints.core.config import AppConfig
from complaints.core.db import session_scope
from complaints.core.models import ComplaintOutcome
from complaints.core.settings import Settings
from complaints.regulatory.outcomes import cause_statistics, check_root_cause, record_outcome
from complaints.reports.data import week_of, weekly_report_data
from complaints.reports.render import render_html
from tests.factories import complaint

NOW = datetime(2026, 11, 18, 4, 0, tzinfo=UTC)  # Wednesday of 2026-W47


def test_root_cause_is_from_the_controlled_list(app_config: AppConfig) -> None:
    assert check_root_cause(app_config, "fee_disclosure") == "fee_disclosure"
    with pytest.raises(ValueError, match=r"unknown root cause 'bad luck'.*poor_communication"):
        check_root_cause(app_config, "bad luck")


def test_cause_statistics_and_lessons_table(db_url: str, app_config: AppConfig, settings: Settings) -> None:
    decided = [("fee_disclosure", "upheld"), ("fee_disclosure", "not_upheld"), ("system_fault", "partly_upheld"),
               (None, "upheld")]
    with session_scope(db_url) as s:
        for i, (cause, outcome) in enumerate(decided):
            cid = complaint(s, f"手续费没有提前告知 {i}", contact=f"u{i}@example.com", at=NOW - timedelta(days=1)).id
            record_outcome(s, cid, decided_at=NOW + timedelta(hours=i), decided_by="cs.sun", outcome=outcome,
                           relief="explanation", root_cause=cause)
        # Decided the week before: outside the window.
        old = complaint(s, "旧投诉", contact="old@example.com", at=NOW - timedelta(days=20)).id
        record_outcome(s, old, decided_at=NOW - timedelta(days=8), decided_by="cs.sun", outcome="upheld",
                       relief="monetary", root_cause="fraud")
    with session_scope(db_url) as s:
        figures = cause_statistics(s, NOW - timedelta(days=2), NOW + timedelta(days=2))
        assert [(f.code, f.complaints, f.upheld) for f in figures] == [
            ("fee_disclosure", 2, 1), ("system_fault", 1, 1), (None, 1, 1)]
        assert figures[0].share == 0.5
        data = weekly_report_data(s, app_config, week_of(NOW.date()), settings.timezone)
    assert [(label["en"], f.complaints) for label, f in data.root_causes] == [
        ("Fees not disclosed clearly", 2), ("System fault", 1), ("–", 1)]
    no_charts: defaultdict[str, None] = defaultdict(lambda: None)
    html = {lang: render_html("lessons", lang, data, settings, no_charts) for lang in ("en", "zh")}
    assert "Root causes" in html["en"] and "Fees not disclosed clearly" in html["en"] and "not recorded" in html["en"]
    assert "费用披露不清" in html["zh"] and "系统故障" in html["zh"]


def test_outcome_record_command_takes_root_cause_and_remedy_day(app_env: str, tmp_path: Path) -> None:
    with session_scope(app_env) as s:
        cid = complaint(s, "转账未到账", contact="li@example.com", at=datetime.now(UTC) - timedelta(days=1)).id
    runner = CliRunner()
    refused = runner.invoke(app, ["outcome", "record", str(cid), "--outcome", "upheld", "--relief", "monetary",
                                  "--root-cause", "bad_luck"])
    assert refused.exit_code == 1 and "unknown root cause" in refused.output
    ok = runner.invoke(app, ["outcome", "record", str(cid), "--outcome", "upheld", "--relief", "monetary",
                             "--redress", "12.50", "--currency", "CNY", "--root-cause", "system_fault",
                             "--remedy-on", "2026-11-20"])
    assert ok.exit_code == 0 and "recorded" in ok.output, ok.output
    with session_scope(app_env) as s:
        row = s.execute(select(ComplaintOutcome).where(ComplaintOutcome.complaint_id == cid)).scalar_one()
        # 2026-11-20 in the ops timezone (Asia/Shanghai) is 2026-11-19 16:00 UTC.
        assert (row.root_cause, row.remedy_at) == ("system_fault", datetime(2026, 11, 19, 16, 0, tzinfo=UTC))
