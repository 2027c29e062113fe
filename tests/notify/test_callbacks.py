"""Call-back reply import (CSV) into callback_results, its summary, and the notify CLI commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from complaints.core.db import session_scope
from complaints.core.models import CallbackResult, OptOut
from complaints.core.pii import contact_key
from complaints.core.runtime import reset
from complaints.notify.callbacks import import_csv, summary
from tests.factories import T0, complaint

CSV_HEADER = "ticket,reached,score,comment,replied_at\n"


def test_import_replies(db_url: str, tmp_path: Path) -> None:
    with session_scope(db_url) as s:
        categories = ["fees_pricing", "fees_pricing", "other"]
        ids = [complaint(s, f"complaint {i}", category=cat).id for i, cat in enumerate(categories)]
    a, b, c = (f"C{i:08d}" for i in ids)
    csv_file = tmp_path / "replies.csv"
    csv_file.write_text(
        "\ufeff"  # Excel's UTF-8 BOM
        + CSV_HEADER
        + f"{a},yes,2,退款太慢，联系我 13812345678,2026-11-20 10:00\n"
        + f"{ids[1]},是,5,,\n"
        + f"{c},no,,,\n"
        + f"{a},yes,4,again,\n"  # the same ticket twice
        + "C99999999,yes,3,,\n"  # unknown ticket
        + f"{b},maybe,3,,\n"
        + f"{c},yes,6,,\n",
        encoding="utf-8",
    )
    with session_scope(db_url) as s:
        result = import_csv(s, csv_file, "Asia/Shanghai")
    assert (result.imported, result.already) == (3, 0)
    assert result.errors == [
        "line 7: reached 'maybe' is not yes or no",
        "line 8: score '6' is not a whole number from 1 to 5",
        f"line 5: ticket {a} appears twice in the file",
        "line 6: no complaint with ticket C99999999",
    ]
    with session_scope(db_url) as s:
        again = import_csv(s, csv_file, "Asia/Shanghai")
        stored = {r.complaint_id: r for r in s.scalars(select(CallbackResult))}
        figures = summary(s, T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert (again.imported, again.already) == (0, 3)
    first = stored[ids[0]]
    assert (first.reached, first.score, first.replied_at) == (True, 2, datetime(2026, 11, 20, 2, 0, tzinfo=UTC))
    assert (stored[ids[2]].reached, stored[ids[2]].score) == (False, None)
    assert figures["results"] == 3 and figures["reached"] == 2 and figures["mean_score"] == 3.5
    assert figures["score_counts"] == {1: 0, 2: 1, 3: 0, 4: 0, 5: 1}
    assert figures["by_category"] == [{"category": "fees_pricing", "scored": 2, "mean_score": 3.5}]
    [low] = figures["low_score_comments"]
    assert low["ticket"] == a and "138****5678" in low["comment"]


def test_missing_columns_are_named(sqlite_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("ticket,score\nC00000001,3\n", encoding="utf-8")
    with session_scope(sqlite_url) as s, pytest.raises(ValueError, match=r"missing column\(s\) \['reached'\]"):
        import_csv(s, bad, "Asia/Shanghai")


def test_cli_opt_out_opt_in_and_import(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cli.main import app

    monkeypatch.setenv("COMPLAINTS_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("COMPLAINTS_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("COMPLAINTS_PII_KEY", "cli-key")
    reset()
    try:
        runner = CliRunner()
        out = runner.invoke(app, ["notify", "opt-out", "Zhang.Wei@Example.com"])
        assert out.exit_code == 0, out.output
        assert "Z***@Example.com" in out.output and "Zhang.Wei" not in out.output
        with session_scope(sqlite_url) as s:
            assert list(s.scalars(select(OptOut.contact_key))) == [contact_key("zhang.wei@example.com", "cli-key")]
        assert "already" in runner.invoke(app, ["notify", "opt-out", "zhang.wei@example.com"]).output
        assert runner.invoke(app, ["notify", "opt-out", "not a contact"]).exit_code == 2
        assert "opted in again" in runner.invoke(app, ["notify", "opt-in", "zhang.wei@example.com"]).output
        with session_scope(sqlite_url) as s:
            assert s.scalar(select(OptOut.id)) is None
            cid = complaint(s, "x").id

        replies = tmp_path / "r.csv"
        replies.write_text(CSV_HEADER + f"C{cid:08d},yes,4,ok,\nC{cid + 1:08d},yes,4,,\n", encoding="utf-8")
        out = runner.invoke(app, ["notify", "import-replies", str(replies)])
        assert out.exit_code == 1 and '"imported": 1' in out.output and "no complaint with ticket" in out.output
    finally:
        reset()
