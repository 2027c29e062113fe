"""Exports mask personal data and neutralise spreadsheet formulas; stats count canonical complaints."""

import csv
import io
import json
from datetime import timedelta

from complaints.core.config import AppConfig
from complaints.core.db import session_scope
from complaints.plans.create import create_plans
from complaints.reports.export import write
from complaints.reports.stats import stats
from tests.factories import T0, complaint
from tests.stages import run_process


def test_export_and_stats(db_url: str, app_config: AppConfig) -> None:
    with session_scope(db_url) as s:
        complaint(s, "账户被盗刷，我的电话13812345678，卡号6222021234567890128", contact="victim@example.com",
                  customer_ref="=HYPERLINK(\"http://evil\")", amount="20000.00")
        complaint(s, "账户被盗刷，我的电话13812345678，卡号6222021234567890128", contact="victim@example.com",
                  channel="hotline", at=T0 + timedelta(hours=1))
        complaint(s, "界面难用", contact="other@example.com", title="-2+3")
        run_process(s, app_config)
        create_plans(s, app_config)
    with session_scope(db_url) as s:
        out = io.StringIO()
        assert write(s, "complaints", "csv", out) == 3
        text = out.getvalue()
        for secret in ("13812345678", "6222021234567890128", "victim@example.com"):
            assert secret not in text
        rows = list(csv.DictReader(io.StringIO(text)))
        assert rows[0]["customer_ref"].startswith("'=HYPERLINK")  # inert in Excel
        assert rows[2]["title"] == "'-2+3"
        assert rows[0]["contact_masked"] == "v***@example.com"
        out = io.StringIO()
        assert write(s, "plans", "jsonl", out) == 7  # one account_security plan, 7 steps
        first = json.loads(out.getvalue().splitlines()[0])
        assert (first["team"], first["seq"], first["step"]) == ("risk", 1, "Freeze and secure the account")
        figures = stats(s, T0 + timedelta(days=30))
        assert (figures["complaints"], figures["records"], figures["duplicates"]) == (2, 3, 1)
        assert figures["by_category"] == {"account_security": 1, "usability": 1}
        assert figures["by_severity"] == {"critical": 1, "minor": 1}
        assert (figures["plans"], figures["plan_steps"], figures["overdue_steps"]) == (1, 7, 7)


def test_similar_keyless_complaints_are_shown_not_merged(db_url: str, app_config: AppConfig) -> None:
    """Two consumers' referrals pasting one template (no person key): each stays canonical, a user of its own;
    the relation is in the export and the stats."""
    pasted = "The app froze during my transfer of $500 and support has not answered in two weeks."
    with session_scope(db_url) as s:
        first = complaint(s, pasted, channel="regulator", source="cfpb")
        second = complaint(s, pasted + " Please help.", channel="regulator", source="cfpb", at=T0 + timedelta(hours=2))
        run_process(s, app_config)
    with session_scope(db_url) as s:
        out = io.StringIO()
        write(s, "complaints", "csv", out)
        by_id = {int(r["id"]): r for r in csv.DictReader(io.StringIO(out.getvalue()))}
        assert by_id[second.id]["similar_to_id"] == str(first.id) and by_id[second.id]["duplicate_of_id"] == ""
        assert by_id[first.id]["similar_to_id"] == ""
        figures = stats(s, T0)
        assert (figures["complaints"], figures["duplicates"], figures["similar"]) == (2, 0, 1)
