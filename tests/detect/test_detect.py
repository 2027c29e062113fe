"""Collective-complaint detection: signatures, baseline test, incidents, lifecycle, events, replays."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prefect.events.worker import EventsWorker
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.testing.fixtures import asserting_events_worker  # noqa: F401  (pytest fixture)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from complaints.core.config import AppConfig
from complaints.core.db import migrate, session_scope
from complaints.core.models import Complaint, Incident, Plan
from complaints.detect.incidents import TransitionError, transition
from complaints.detect.replay import DetectSummary, detect_pending, detect_window
from complaints.detect.signatures import extract_entities, led_codes
from tasks.incident_events import emit_incident_event, event_id
from tasks.process import announce_incidents
from tests.factories import T0, complaint
from tests.stages import classify_complaints, dedupe, detect, unprocessed

WITHDRAW = "提现一直未到账，已经三天了，错误码E1024，请尽快处理"
MONDAY = datetime(2026, 10, 12, 1, 0, tzinfo=UTC)  # Monday 09:00 Asia/Shanghai, five weeks before T0


def process(s: Session, cfg: AppConfig) -> DetectSummary:
    """The process flow's stages, in its order, on everything not yet processed."""
    batch = unprocessed(s, 100_000)
    dedupe(s, batch)
    classify_complaints(s, cfg.taxonomy, batch)
    summary = detect(s, cfg.detection, cfg.taxonomy, batch)
    s.commit()
    return summary


def users(s: Session, n: int, start: datetime, *, step_minutes: float = 5, body: str = WITHDRAW,
          tag: str = "u", **fields: str) -> list[Complaint]:
    """n different users, one complaint each, step_minutes apart."""
    return [complaint(s, f"{body} 订单{i}", contact=f"{tag}{i}@example.com",
                      at=start + timedelta(minutes=step_minutes * i), **fields) for i in range(n)]


def incidents(s: Session) -> list[Incident]:
    return list(s.execute(select(Incident).order_by(Incident.id)).scalars())


def test_entities_from_text_and_fields() -> None:
    found = extract_entities("更新到 v5.2.1 后闪退，错误码：E-2031，扣了 1,999.00 元", {"merchant": "美团"})
    assert found == [("error_code", "E2031"), ("app_version", "5.2.1"), ("merchant", "美团")]
    assert extract_entities("Refund of $12.50 for order 2024", {}) == []  # amounts and years are no entities
    # A rate however it is written: the fee change a wave complains of.
    for written in ("0.6%", "0.6 %", "0.60％", "6‰", "千分之六", "百分之零点六", "百分之0.6", "0.6 per cent"):
        assert extract_entities(f"提现要收{written}的手续费", {}) == [("rate", "0.6%")], written
    assert extract_entities("年化快20%了，万分之五，百分之一百，1,000%", {}) == [
        ("rate", "20%"), ("rate", "0.05%"), ("rate", "100%"), ("rate", "1000%")]
    for glued in ("收千分之六10000元", "收千分之六一万元"):  # the amount after it is no part of the rate
        assert extract_entities(glued, {}) == [("rate", "0.6%")], glued
    # One code however it is written; a verification, promo or zip code, or an amount after 错误, is none.
    for written in ("E5031", "e-5031", "错误代码 5031", "错误码：E5031", "code 5031", "ERR_5031", "error (E5031)",
                    "报错5031"):
        assert extract_entities(f"付款失败 {written} 请处理", {}) == [("error_code", "E5031")], written
    for other in ("I entered code 482913", "the 6-digit code 4821", "promo code 5031", "商户代码 123456",
                  "转账错误 500元", "支付错误 500 人民币", "error 500 EUR", "报错 2024-03-05", "密码错误 1234",
                  "decode 1234"):
        assert extract_entities(other, {}) == [], other
    # Dedupe's "same / different code" takes only what says it is an error's code: "code 4821" may be a password.
    assert led_codes("the app shows code 5031") == [("E5031", False)] and led_codes("ERR_5031") == [("E5031", True)]


def test_burst_opens_one_incident_with_its_reasons(db_url: str, app_config: AppConfig) -> None:
    with session_scope(db_url) as s:
        users(s, 5, T0, merchant="快捷支付通道")  # five users: below every window's minimum
        assert process(s, app_config).opened == []
        users(s, 20, T0 + timedelta(minutes=30), tag="v", merchant="快捷支付通道",
              body="提现一直未到账 错误码E1024 客服电话13812345678打不通")
        complaint(s, "界面太难用了，找不到入口", contact="other@example.com", at=T0 + timedelta(minutes=40))
        t = process(s, app_config)
        assert len(t.opened) == 1 and t.linked == 25
        inc = s.get(Incident, t.opened[0])
        # The strongest shared entity names the problem: the error code, not the merchant, whatever category each
        # complaint was classified in; the incident takes its members' most common category.
        assert inc.signature == "category=*|error_code=E1024"
        categories = Counter(c.category for c in s.execute(select(Complaint).where(Complaint.incident_id == inc.id))
                             .scalars())
        assert inc.category == categories.most_common(1)[0][0]
        assert (inc.status, inc.user_count, inc.complaint_count) == ("open", 25, 25)
        r = inc.reason
        assert r["observed_users"] >= 10 and r["expected_users"] < 1 and r["p_value"] <= r["alpha"]
        assert r["window_hours"] in (1, 3) and r["baseline"] == "floor"
        assert "提现一直未到账" in r["top_phrases"]
        assert not any("13812345678" in p for p in r["top_phrases"])
        assert inc.severity == "P3" and r["severity_reasons"] == ["25 distinct users"]
        assert inc.opened_window == T0  # the hour the alarm fired in; detected at its end
        assert inc.detected_at == T0 + timedelta(hours=1)


def test_text_cluster_of_different_users_without_shared_fields(db_url: str, app_config: AppConfig) -> None:
    with session_scope(db_url) as s:
        texts = ["updated the app this morning and now it crashes on the login screen every time",
                 "Updated the app this morning, now it crashes on the login screen every single time!",
                 "after updating the app this morning it crashes on the login screen every time"]
        for i in range(15):
            complaint(s, texts[i % 3], contact=f"t{i}@example.com", at=T0 + timedelta(minutes=3 * i))
        t = process(s, app_config)
        [inc] = incidents(s)
        assert t.opened == [inc.id] and inc.signature.startswith("category=system_fault|text=")
        assert inc.user_count == 15 and "login screen" in " ".join(inc.reason["top_phrases"])


def test_new_complaints_join_the_open_incident_and_escalate(db_url: str, app_config: AppConfig) -> None:
    sev = app_config.detection.severity
    with session_scope(db_url) as s:
        users(s, 12, T0, merchant="快捷支付通道")
        [opened] = process(s, app_config).opened
        assert s.get(Incident, opened).severity == "P3"
        # Later the same day: repeat users add nothing; new users join (no new incident) and raise severity.
        users(s, 3, T0 + timedelta(hours=6), body="又一次：提现一直未到账，错误码E1024")
        users(s, sev.p2_users, T0 + timedelta(hours=7), step_minutes=7, tag="late", merchant="快捷支付通道")
        t = process(s, app_config)
        assert t.opened == [] and t.grown == [opened] and t.escalated == [opened]
        inc = s.get(Incident, opened)
        assert inc.user_count == 12 + sev.p2_users and inc.severity == "P2"
        assert s.execute(select(func.count()).select_from(Incident)).scalar_one() == 1
        # A resolved incident takes no new members; the next burst opens a new one (two days into a deployment,
        # after 45 users on this merchant, 12 an hour would be ordinary variation: the next burst is larger).
        transition(s, inc, "resolved", "channel fixed", at=T0 + timedelta(days=1))
        users(s, 25, T0 + timedelta(days=2), step_minutes=2, tag="next", merchant="快捷支付通道")
        t = process(s, app_config)
        assert len(t.opened) == 1 and t.opened != [opened]
        assert s.get(Incident, opened).user_count == 12 + sev.p2_users


def test_slow_wave_over_two_days_is_caught_by_the_daily_window(sqlite_url: str, app_config: AppConfig) -> None:
    with session_scope(sqlite_url) as s:
        n = 0
        for hour in range(48):  # 0 users an hour at first, 3 an hour by the end of day two
            for _ in range(hour // 16):
                complaint(s, f"手续费突然从0.1%涨到0.6%，没有任何通知 {n}", contact=f"w{n}@example.com",
                          merchant="信用卡还款", at=T0 + timedelta(hours=hour, minutes=n % 60))
                n += 1
        t = process(s, app_config)
        [inc] = incidents(s)
        assert t.opened == [inc.id] and inc.reason["window_hours"] == 24
        assert inc.opened_window >= T0 + timedelta(hours=16)  # not while it was a trickle
        # The slow start, within the daily window before the alarm, belongs to the incident.
        assert inc.first_complaint_at < inc.opened_window


def test_slow_trickle_does_not_alarm(sqlite_url: str, app_config: AppConfig) -> None:
    with session_scope(sqlite_url) as s:
        users(s, 20, T0, step_minutes=180, merchant="快捷支付通道")  # one user every 3 hours
        assert process(s, app_config).opened == []


def _monday_peaks(s: Session, weeks: int) -> None:
    """Payroll Mondays: about 30 users between 09:00 and 12:00 every week, a few users on other days."""
    for week in range(weeks):
        monday = MONDAY + timedelta(weeks=week)
        users(s, 28 + week % 3, monday, step_minutes=6, tag=f"m{week}-", merchant="工资代发",
              body="工资代发到账延迟")
        for day in range(1, 7):
            users(s, 2, monday + timedelta(days=day, hours=2), step_minutes=90, tag=f"d{week}-{day}-",
                  merchant="工资代发", body="工资代发到账延迟")


def test_weekly_monday_peaks_do_not_alarm(db_url: str, app_config: AppConfig) -> None:
    with session_scope(db_url) as s:
        _monday_peaks(s, 5)
        batch = unprocessed(s, 100_000)
        classify_complaints(s, app_config.taxonomy, batch)
        last_week = MONDAY + timedelta(weeks=4)
        t = detect_window(s, app_config.detection, app_config.taxonomy, last_week, last_week + timedelta(days=7))
        assert t.hours > 0 and t.opened == [], [i.reason for i in incidents(s)]
        # The same Monday without history (the first week) is a burst against the floor.
        t = detect_window(s, app_config.detection, app_config.taxonomy, MONDAY, MONDAY + timedelta(days=1))
        assert len(t.opened) == 1 and incidents(s)[0].reason["baseline"] == "floor"


def _stream(s: Session) -> None:
    """Two days of background plus a fraud wave at one merchant and a crash after a release."""
    background = ["客服态度很差，电话打不通", "界面太难用了，找不到入口", "退款申请了一周还没退回",
                  "优惠券过期了不能用", "提现手续费太高了", "实名认证一直失败"]
    for h in range(48):
        complaint(s, f"{background[h % 6]} {h}", contact=f"bg{h}@example.com", at=T0 + timedelta(hours=h, minutes=7))
    users(s, 40, T0 + timedelta(hours=5), step_minutes=4, tag="f", merchant="某某游戏充值",
          body="账户被盗刷，陌生交易，不是我本人操作")
    users(s, 30, T0 + timedelta(hours=20), step_minutes=9, tag="c", body="升级到版本 8.1.0 后一打开就闪退")


def _incident_keys(s: Session) -> set[tuple[str, datetime, int, str]]:
    return {(i.signature, i.opened_window, i.user_count, i.severity) for i in incidents(s)}


def test_backfill_and_reruns_reproduce_the_hourly_incidents(db_url: str, app_config: AppConfig,
                                                           tmp_path: Path) -> None:
    det, tax = app_config.detection, app_config.taxonomy
    with session_scope(db_url) as s:
        _stream(s)
        classify_complaints(s, tax, unprocessed(s, 100_000))
        by_hour: dict[datetime, list[Complaint]] = {}
        for c in s.execute(select(Complaint).order_by(Complaint.received_at)).scalars():
            by_hour.setdefault(c.received_at.replace(minute=0, second=0, microsecond=0), []).append(c)
        opened = [i for hour in sorted(by_hour) for i in detect(s, det, tax, by_hour[hour]).opened]
        live = _incident_keys(s)
        assert len(opened) == len(live) == 2
        assert {sig.split("|")[1] for sig, *_ in live} == {"merchant=某某游戏充值", "app_version=8.1.0"}
        # Re-running the whole window, twice, opens nothing and changes no figure.
        for _ in range(2):
            assert detect_window(s, det, tax, T0, T0 + timedelta(days=2)).opened == []
        assert _incident_keys(s) == live
    backfill_url = f"sqlite:///{tmp_path / 'backfill.db'}"
    migrate(backfill_url)
    with session_scope(backfill_url) as s:
        _stream(s)
        classify_complaints(s, tax, unprocessed(s, 100_000))
        assert len(detect_window(s, det, tax, T0 - timedelta(days=1), T0 + timedelta(days=3)).opened) == 2
        assert _incident_keys(s) == live


def test_detection_stage_resumes_what_a_dead_run_left(db_url: str, app_config: AppConfig) -> None:
    det, tax = app_config.detection, app_config.taxonomy
    with session_scope(db_url) as s:
        users(s, 12, T0, merchant="快捷支付通道")
        batch = unprocessed(s, 100_000)
        dedupe(s, batch)
        classify_complaints(s, tax, batch)  # the run dies here, before detecting
    calls: list[tuple[int, int]] = []
    with session_scope(db_url) as s:
        t = detect_pending(s, det, tax, lambda done, total: calls.append((done, total)))
        assert len(t.opened) == 1 and t.linked == 12 and t.hours == 1  # 12 users five minutes apart: one hour
        assert calls == [(0, 1), (1, 1)]
    with session_scope(db_url) as s:
        assert s.execute(select(func.count()).where(Complaint.detected_at.is_(None))).scalar_one() == 0
        again = detect_pending(s, det, tax)
        assert (again.hours, again.opened, again.linked) == (0, [], 0)
        [inc] = incidents(s)
        assert inc.user_count == 12


def test_lifecycle_transitions_and_close_through_plan(db_url: str, app_config: AppConfig) -> None:
    with session_scope(db_url) as s:
        users(s, 12, T0, merchant="快捷支付通道")
        [inc] = [s.get(Incident, i) for i in process(s, app_config).opened]
        with pytest.raises(TransitionError, match="open -> closed"):
            transition(s, inc, "closed", "skip ahead")
        for status in ("investigating", "remediating", "resolved"):
            transition(s, inc, status, f"now {status}", at=T0 + timedelta(days=1))
        assert inc.resolved_at == T0 + timedelta(days=1)
        plan = Plan(subject_type="incident", subject_id=inc.id, category=inc.category, template="default",
                    team="payments", due_at=T0 + timedelta(days=3))
        s.add(plan)
        with pytest.raises(TransitionError, match="closed plan"):
            transition(s, inc, "closed", "done", plan=plan)
        plan.closed_at, plan.status = T0 + timedelta(days=2), "closed"
        change = transition(s, inc, "closed", "plan closed", plan=plan)
        assert (change.from_status, change.to_status) == ("resolved", "closed")
        assert [h["to"] for h in s.get(Incident, inc.id).history] == ["investigating", "remediating", "resolved",
                                                                       "closed"]
        with pytest.raises(TransitionError, match="unknown status"):
            transition(s, inc, "archived", "")


@pytest.fixture
def events_worker(request: pytest.FixtureRequest) -> Iterator[EventsWorker]:
    """Prefect's asserting_events_worker, which records emitted events; started under an API URL that is
    never contacted, since without one its client would start a temporary Prefect server (~10 s)."""
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        yield request.getfixturevalue("asserting_events_worker")


def test_events_carry_incident_labels(sqlite_url: str, app_config: AppConfig, events_worker: EventsWorker) -> None:
    with session_scope(sqlite_url) as s:
        users(s, 12, T0, merchant="快捷支付通道")
        [opened] = process(s, app_config).opened
    announce_incidents(sqlite_url, [opened], [opened])
    with session_scope(sqlite_url) as s:
        inc = s.get(Incident, opened)
        transition(s, inc, "resolved", "fixed")
        emit_incident_event("resolved", inc)
    events_worker.drain()
    events = events_worker._client.events  # type: ignore[attr-defined]
    assert [e.event for e in events] == ["complaints.incident.opened", "complaints.incident.escalated",
                                         "complaints.incident.resolved"]
    # A retried task re-sends the same event id, so the Prefect server keeps one.
    assert [e.id for e in events] == [event_id(k, inc) for k in ("opened", "escalated", "resolved")]
    for e in events:
        assert e.resource.id == f"complaints.incident.{opened}"
        assert e.resource["complaints.incident.category"] == "transfer_delay"
        assert e.resource["complaints.incident.severity"] == "P3"


def test_evaluation_on_injected_bursts(app_config: AppConfig) -> None:
    from complaints.evaluation.detection import evaluate_synthetic

    r = evaluate_synthetic(app_config.detection, seed=3, weeks=5, per_day=150, bursts=3)
    assert r["bursts"] == 3 and r["recall"] == 1.0
    assert all(b["detected_after_h"] is not None and b["signature"] for b in r["per_burst"])
    assert r["false_per_week"] <= 1
    # The ramp has too few users for any test in its first 3 hours; once it has 10, it is caught within the hour.
    [ramp] = [b for b in r["per_burst"] if b["shape"] == "ramp"]
    assert ramp["min_users_after_h"] > 2 and ramp["detected_after_h"] - ramp["min_users_after_h"] <= 1
    assert r["within_2h_of_min_users"] == 1.0
