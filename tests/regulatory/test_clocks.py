"""Statutory clocks: rule selection by jurisdiction, channel, product and category; deadlines in calendar and
business days across CN, US and UK holidays; keeping clocks; an approved extension and its notice."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from complaints.core.config import AppConfig
from complaints.core.db import session_scope
from complaints.core.models import ComplaintEvent, Notification
from complaints.core.settings import Settings
from complaints.regulatory.clocks import (
    ClockError,
    ComplaintFacts,
    calendar_for,
    clocks_of,
    deadline,
    extend_clock,
    refresh_clocks,
    select_rules,
    start_clocks,
)
from complaints.regulatory.outcomes import record_outcome
from tests.factories import complaint

SH, NY, LDN = ZoneInfo("Asia/Shanghai"), ZoneInfo("America/New_York"), ZoneInfo("Europe/London")


def facts(**kw: str | None) -> ComplaintFacts:
    base = ComplaintFacts(source="app_feedback", channel="app", currency=None, language="zh", region=None,
                          product=None, category="transfer_delay")
    return dataclasses.replace(base, **kw)


def test_rules_chosen_by_jurisdiction_channel_product_and_category(app_config: AppConfig) -> None:
    ccfg = app_config.clocks
    assert select_rules(ccfg, facts()) == ("CN", [ccfg.rule("cn_pboc_payment_decision")])
    j, rules = select_rules(ccfg, facts(product="信用卡还款"))
    assert (j, [r.id for r in rules]) == ("CN", ["cn_nfra_partner_decision"])
    j, rules = select_rules(ccfg, facts(source="regulator", channel="regulator", language="en"))
    assert (j, [r.id for r in rules]) == ("US", ["us_cfpb_response", "us_cfpb_final", "us_rege_error"])
    j, rules = select_rules(ccfg, facts(currency="USD", category="fees_pricing"))
    assert (j, rules) == ("US", [])  # not a transfer error, not through the CFPB portal
    j, rules = select_rules(ccfg, facts(currency="GBP", category="other"))
    assert (j, [r.id for r in rules]) == ("GB", ["gb_fca_disp_final", "gb_fca_summary"])


def test_deadlines_in_calendar_and_business_days_across_holidays(app_config: AppConfig) -> None:
    j = app_config.clocks.jurisdictions
    cn, us, gb = calendar_for(j["CN"]), calendar_for(j["US"]), calendar_for(j["GB"])
    # CN National Day 2026: Oct 1-7 off, Sunday Sep 20 and Saturday Oct 10 worked instead.
    start = datetime(2026, 9, 28, 10, 0, tzinfo=SH)
    assert deadline(start, 15, "calendar_days", cn) == datetime(2026, 10, 14, 0, 0, tzinfo=SH)
    # Business days: Sep 29, 30, (holidays), Oct 8, 9 and the make-up Saturday Oct 10.
    assert deadline(start, 5, "business_days", cn) == datetime(2026, 10, 11, 0, 0, tzinfo=SH)
    # US: Thanksgiving (Thu Nov 26) is skipped; 10 business days from Fri Nov 20 end on Mon Dec 7.
    us_start = datetime(2026, 11, 20, 12, 0, tzinfo=NY)
    assert deadline(us_start, 10, "business_days", us) == datetime(2026, 12, 8, 0, 0, tzinfo=NY)
    assert deadline(us_start, 45, "calendar_days", us) == datetime(2027, 1, 5, 0, 0, tzinfo=NY)
    # UK: Christmas, Boxing Day (observed Mon Dec 28) and New Year's Day are not business days.
    gb_start = datetime(2026, 12, 23, 10, 0, tzinfo=LDN)
    assert deadline(gb_start, 3, "business_days", gb) == datetime(2026, 12, 31, 0, 0, tzinfo=LDN)
    assert deadline(gb_start, 15, "business_days", gb) == datetime(2027, 1, 19, 0, 0, tzinfo=LDN)
    # The English summer bank holiday comes from clocks.yaml (the package's GB calendar lacks it).
    assert not gb.is_workday(date(2026, 8, 31))


def test_clocks_started_kept_and_stopped(db_url: str, app_config: AppConfig) -> None:
    now = datetime(2026, 10, 20, 0, 0, tzinfo=UTC)
    with session_scope(db_url) as s:
        cn = complaint(s, "转账一直没到账", at=datetime(2026, 9, 28, 2, 0, tzinfo=UTC), category="transfer_delay",
                       processed_at=now)
        us = complaint(s, "My withdrawal is delayed", channel="regulator", source="regulator",
                       at=datetime(2026, 9, 28, 14, 0, tzinfo=UTC), category="transfer_delay", processed_at=now)
        gb = complaint(s, "Card payment failed", currency="GBP", at=datetime(2026, 10, 12, 9, 0, tzinfo=UTC),
                       category="other", processed_at=now)
        complaint(s, "not processed yet", category="other")
        ids = (cn.id, us.id, gb.id)
    with session_scope(db_url) as s:
        assert start_clocks(s, app_config) == 1 + 3 + 2
    with session_scope(db_url) as s:
        assert start_clocks(s, app_config) == 0  # re-run: nothing twice
        record_outcome(s, ids[0], decided_at=datetime(2026, 10, 9, 0, 0, tzinfo=UTC), decided_by="cs.lead",
                       outcome="upheld", relief="monetary")
        record_outcome(s, ids[1], decided_at=datetime(2026, 10, 19, 0, 0, tzinfo=UTC), decided_by="cs.lead",
                       outcome="not_upheld", relief="explanation")
    with session_scope(db_url) as s:
        assert refresh_clocks(s, app_config, now) == {"met": 2, "breached": 2, "lapsed": 1}
    with session_scope(db_url) as s:
        status = {c.rule_id: c.status for i in ids for c in clocks_of(s, i)}
    assert status == {"cn_pboc_payment_decision": "met", "us_cfpb_response": "breached", "us_cfpb_final": "met",
                      "us_rege_error": "breached", "gb_fca_disp_final": "running", "gb_fca_summary": "lapsed"}


def test_approved_extension_queues_the_notice_once(db_url: str, app_config: AppConfig, settings: Settings) -> None:
    received = datetime(2026, 11, 16, 1, 0, tzinfo=UTC)
    now = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
    with session_scope(db_url) as s:
        cid = complaint(s, "退款一直没到账", at=received, contact="zhang.san@example.com",
                        category="refund_after_sales", processed_at=received).id
        start_clocks(s, app_config)
    with session_scope(db_url) as s, pytest.raises(ClockError, match="may not approve"):
        extend_clock(s, app_config, settings, cid, "cn_pboc_payment_decision", approver="cs.sun",
                     reason="需要商户提供交易凭证", now=now)
    with session_scope(db_url) as s:
        clock = extend_clock(s, app_config, settings, cid, "cn_pboc_payment_decision", approver="cs.lead",
                             reason="需要商户提供交易凭证", now=now)
        assert (clock.status, clock.approver, clock.extended_by) == ("extended", "cs.lead", 45)
        assert clock.due_at == datetime(2027, 1, 16, 0, 0, tzinfo=SH)  # 60 days from Nov 16
    with session_scope(db_url) as s, pytest.raises(ClockError, match="allows 1 extension"):
        extend_clock(s, app_config, settings, cid, "cn_pboc_payment_decision", approver="cs.lead",
                     reason="again", now=now)
    with session_scope(db_url) as s:
        notices = list(s.execute(select(Notification).where(Notification.kind == "extension")).scalars())
        events = s.execute(select(func.count()).select_from(ComplaintEvent)
                           .where(ComplaintEvent.kind == "clock_extended")).scalar_one()
    assert len(notices) == 1 and events == 1
    n = notices[0]
    assert (n.recipient, n.complaint_id, n.status) == ("zhang.san@example.com", cid, "pending")
    assert "2027年1月15日" in n.body_text and "需要商户提供交易凭证" in n.body_text


def test_plan_extension_records_approver_and_queues_notice(db_url: str, app_config: AppConfig,
                                                           settings: Settings) -> None:
    from complaints.core.models import PlanEvent
    from complaints.plans.create import create_plans
    from complaints.plans.ops import extend_plan

    received = datetime(2026, 11, 16, 1, 0, tzinfo=UTC)
    with session_scope(db_url) as s:
        complaint(s, "账户被盗刷两万元，请尽快处理", at=received, contact="wang@example.com",
                  severity="critical", category="account_security")
        (plan_id,) = create_plans(s, app_config, received).created
    with session_scope(db_url) as s:
        extend_plan(s, app_config, plan_id, "risk.zhang", "等待银行调单", received, approver="risk.lead",
                    settings=settings)
    with session_scope(db_url) as s:
        notices = list(s.execute(select(Notification).where(Notification.kind == "extension")).scalars())
        event = s.execute(select(PlanEvent).where(PlanEvent.action == "extend")).scalar_one()
    assert len(notices) == 1 and "等待银行调单" in notices[0].body_text
    assert event.detail["approver"] == "risk.lead" and event.detail["notice_queued"] is True
