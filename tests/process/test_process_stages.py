"""Dedupe, classification and severity, on SQLite and PostgreSQL (detection: tests/detect/test_detect.py)."""

from datetime import timedelta

from sqlalchemy import func, select

from complaints.core.config import AppConfig
from complaints.core.db import session_scope
from complaints.core.models import Complaint, DuplicateLink
from tests.factories import T0, complaint
from tests.stages import dedupe, run_process, unprocessed

WITHDRAW = "提现一直未到账，已经三天了，错误码E1024，请尽快处理"


def test_resubmission_across_channels_is_linked_not_deleted(db_url: str, app_config: AppConfig) -> None:
    with session_scope(db_url) as s:
        first = complaint(s, WITHDRAW, contact="13812345678", channel="app")
        # Same person by phone, another channel, full-width punctuation and spacing: exact after normalising.
        again = complaint(s, "提现一直未到账,已经三天了 错误码E1024 请尽快处理", contact="+86 138-1234-5678",
                          channel="hotline", at=T0 + timedelta(hours=5))
        # Same person, reworded: near duplicate.
        near = complaint(s, "提现一直未到账，已经四天了，错误码E1024，请尽快处理！", contact="13812345678",
                         channel="regulator", at=T0 + timedelta(days=2))
        d, _, _ = run_process(s, app_config)
        assert (d.exact, d.near) == (1, 1)
    with session_scope(db_url) as s:
        canon = s.get(Complaint, first.id)
        assert canon.duplicate_of_id is None
        assert canon.channels == ["app", "hotline", "regulator"]
        assert canon.last_seen_at == T0 + timedelta(days=2)
        assert s.get(Complaint, again.id).duplicate_of_id == first.id
        assert s.get(Complaint, near.id).status == "duplicate"
        links = {(lk.complaint_id, lk.method) for lk in s.execute(select(DuplicateLink)).scalars()}
        assert links == {(again.id, "exact"), (near.id, "signature")}  # the same error code: the same problem
        assert s.execute(select(func.count()).select_from(Complaint)).scalar_one() == 3
        # Repeat complaints raise severity, with the reason recorded.
        assert canon.severity == "major" and "repeat complaint (3 submissions)" in canon.severity_reasons


def test_not_duplicates(db_url: str, app_config: AppConfig) -> None:
    with session_scope(db_url) as s:
        # Different users, same words: a collective complaint, not a duplicate.
        complaint(s, WITHDRAW, contact="a@example.com")
        complaint(s, WITHDRAW, contact="b@example.com")
        # Same user, a different problem.
        complaint(s, WITHDRAW, contact="c@example.com")
        complaint(s, "客服态度很差，电话打不通", contact="c@example.com", at=T0 + timedelta(hours=1))
        # Same user and words but outside the 7-day window: a new complaint.
        complaint(s, WITHDRAW, contact="a@example.com", at=T0 + timedelta(days=9))
        d, _, _ = run_process(s, app_config)
        assert (d.exact, d.near) == (0, 0)
        assert s.execute(select(func.count()).select_from(DuplicateLink)).scalar_one() == 0


def test_rerun_after_partial_crash_links_once(db_url: str, app_config: AppConfig) -> None:
    with session_scope(db_url) as s:
        complaint(s, WITHDRAW, contact="a@example.com")
        complaint(s, WITHDRAW, contact="a@example.com", channel="hotline")
        dedupe(s, unprocessed(s, 100))  # dedupe committed, then the run died before classify
    with session_scope(db_url) as s:
        d, c, _ = run_process(s, app_config)
        assert (d.exact, c.classified) == (0, 2)
        assert s.execute(select(func.count()).select_from(DuplicateLink)).scalar_one() == 1


def test_classification_and_severity_reasons(db_url: str, app_config: AppConfig) -> None:
    with session_scope(db_url) as s:
        fraud = complaint(s, "我的账户被盗刷了 5 万元，不是我本人操作", amount="50000.00")
        fee = complaint(s, "You charged me a fee I never agreed to. I will contact a lawyer and the CFPB.",
                        channel="regulator")
        ui = complaint(s, "界面太难用了，找不到入口")
        issue = complaint(s, "This issue is minor, just feedback")  # "sue" inside "issue" is no threat
        run_process(s, app_config)
        assert (fraud.category, fraud.severity) == ("account_security", "critical")
        assert "amount 50000.00 >= 10000" in fraud.severity_reasons
        assert "category account_security" in fraud.severity_reasons
        assert fee.category == "fees_pricing" and fee.severity == "major"
        assert "regulator-referred (regulator)" in fee.severity_reasons
        assert any(r.startswith("threat to escalate:") and "lawyer" in r for r in fee.severity_reasons)
        assert (ui.category, ui.severity, ui.severity_reasons) == ("usability", "minor", [])
        assert issue.severity == "minor" and not any(r.startswith("threat") for r in issue.severity_reasons)
