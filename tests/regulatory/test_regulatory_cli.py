"""`complaints clocks|outcome|returns|major-event|retention` against a real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from typer.testing import CliRunner

from cli.main import app
from complaints.core.db import session_scope
from complaints.core.models import Incident
from complaints.core.settings import get_settings
from tests.factories import complaint


def test_regulatory_commands(app_env: str, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    with session_scope(app_env) as s:
        cid = complaint(s, "转账未到账", at=now - timedelta(days=2), contact="li@example.com",
                        category="transfer_delay", processed_at=now).id
        inc = Incident(signature="category=transfer_delay|text=x", opened_window=now, category="transfer_delay",
                       title="批量转账延迟", severity="P3", detected_at=now, first_complaint_at=now,
                       last_complaint_at=now, user_count=7, complaint_count=7, amount_at_risk=Decimal("700"),
                       reason={})
        s.add(inc)
        s.flush()
        incident_id = inc.id
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result.output

    from prefect.logging import disable_run_logger

    from tasks.regulatory import keep_clocks_task, major_events_task, retention_task

    with disable_run_logger():
        assert keep_clocks_task.fn(now)["clocks_started"] == 1
        (event,) = major_events_task.fn(now)
        assert (event["incident"], event["class"]) == (incident_id, 2) and Path(event["draft"]).is_file()
        assert major_events_task.fn(now) == []  # drafted already, nothing changed
        assert retention_task.fn(now, dry_run=True)["eligible"] == 0
    assert "cn_pboc_payment_decision" in run("clocks", "show", str(cid))
    assert "may not approve" in run("clocks", "extend", str(cid), "cn_pboc_payment_decision", "--approver",
                                    "cs.sun", "--reason", "x", code=1)
    assert "notice queued" in run("clocks", "extend", str(cid), "cn_pboc_payment_decision", "--approver",
                                  "cs.lead", "--reason", "需要调取银行流水")
    assert "recorded" in run("outcome", "record", str(cid), "--outcome", "upheld", "--relief", "monetary",
                             "--redress", "12.50", "--currency", "CNY")
    # Command-line days are in the ops timezone: today there, whatever the machine's clock zone is.
    day = now.astimezone(ZoneInfo(get_settings().timezone)).date().isoformat()
    out = tmp_path / "pboc.xlsx"
    shown = run("returns", "pboc", "--since", "2026-01-01", "--until", day, "--format", "xlsx", "--out", str(out))
    assert out.is_file() and "received 1" in shown and "redress_paid 12.50" in shown
    pdf = Path(run("major-event", "draft", str(incident_id)).strip())
    assert pdf.is_file() and pdf.read_bytes().startswith(b"%PDF")
    assert "not a classed major event" in run("major-event", "draft", "999", code=1)
    assert "hold 1 placed" in run("retention", "hold", "--complaint", str(cid), "--reason", "court order")
    assert "0 past the period" in run("retention", "purge", "--dry-run")
    assert "released" in run("retention", "release", "1")
