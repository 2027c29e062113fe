"""Major-event reporting: classes and deadlines from incidents, plan steps added once, the draft written report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from complaints.core.config import AppConfig
from complaints.core.db import session_scope
from complaints.core.models import Incident, MajorEvent, Plan, PlanStep
from complaints.core.settings import Settings
from complaints.regulatory.major_events import PHONE_KIND, WRITTEN_KIND, assess_major_events, draft_report
from tests.factories import complaint

DETECTED = datetime(2026, 11, 16, 1, 0, tzinfo=UTC)  # Monday 09:00 Asia/Shanghai


def incident(s: Session, title: str, users: int, *, category: str = "transfer_delay", severity: str = "P3",
             amount: str = "5000") -> Incident:
    i = Incident(signature=f"category={category}|text={title}", opened_window=DETECTED, category=category,
                 title=title, severity=severity, status="open", detected_at=DETECTED,
                 first_complaint_at=DETECTED - timedelta(hours=5), last_complaint_at=DETECTED,
                 user_count=users, complaint_count=users, amount_at_risk=Decimal(amount), reason={})
    s.add(i)
    s.flush()
    return i


def report_steps(s: Session, incident_id: int) -> dict[str, PlanStep]:
    plan = s.execute(select(Plan).where(Plan.subject_type == "incident", Plan.subject_id == incident_id)).scalar_one()
    return {st.kind: st for st in plan.steps if st.kind in (PHONE_KIND, WRITTEN_KIND)}


def test_classes_deadlines_and_plan_steps(db_url: str, app_config: AppConfig) -> None:
    now = DETECTED + timedelta(minutes=30)
    with session_scope(db_url) as s:
        collective = incident(s, "转账延迟到账", 6).id
        big = incident(s, "App cannot log in", 120, category="system_fault", severity="P2").id
        leak = incident(s, "个人信息泄露", 1, category="privacy", amount="0").id
        small = incident(s, "优惠券无法使用", 3, category="marketing").id
    with session_scope(db_url) as s:
        events = {e.incident_id: e for e in assess_major_events(s, app_config, now)}
        assert {k: e.event_class for k, e in events.items()} == {collective: 2, big: 1, leak: 2}
        assert small not in events
        assert events[collective].reasons == ["6 consumers >= 5"]
        # Class 2: phone within 24 hours, written within 5 working days (Mon 09:00 -> Fri 18:00 Shanghai).
        assert events[collective].phone_due_at == DETECTED + timedelta(hours=24)
        assert events[collective].written_due_at == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
        # Class 1: phone within 2 hours, written within 2 working days (Tue 18:00 Shanghai).
        assert events[big].phone_due_at == DETECTED + timedelta(hours=2)
        assert events[big].written_due_at == datetime(2026, 11, 17, 10, 0, tzinfo=UTC)
        steps = report_steps(s, collective)
        assert {k: (st.owner, st.due_at) for k, st in steps.items()} == {
            PHONE_KIND: ("payops.lead", DETECTED + timedelta(hours=24)),
            WRITTEN_KIND: ("compliance", datetime(2026, 11, 20, 10, 0, tzinfo=UTC)),
        }
        step_count = s.execute(select(func.count()).select_from(PlanStep)).scalar_one()
    with session_scope(db_url) as s:  # re-run: nothing new
        assert assess_major_events(s, app_config, now) == []
        assert s.execute(select(func.count()).select_from(PlanStep)).scalar_one() == step_count
        assert s.execute(select(func.count()).select_from(MajorEvent)).scalar_one() == 3
    upgraded_at = DETECTED + timedelta(hours=3)
    with session_scope(db_url) as s:  # the collective complaint grows past 100 consumers: class 1 from now
        s.get_one(Incident, collective).user_count = 130
        s.flush()
        (event,) = assess_major_events(s, app_config, upgraded_at)
        assert (event.incident_id, event.event_class) == (collective, 1)
        steps = report_steps(s, collective)
        assert steps[PHONE_KIND].due_at == upgraded_at + timedelta(hours=2)
        assert steps[PHONE_KIND].title.startswith("Report the class 1 major event")
        assert s.execute(select(func.count()).select_from(PlanStep)).scalar_one() == step_count


def test_draft_report_has_the_facts_and_no_personal_data(db_url: str, app_config: AppConfig,
                                                         settings: Settings) -> None:
    with session_scope(db_url) as s:
        inc = incident(s, "提现到银行卡延迟", 6, amount="12345.60")
        for n in range(6):
            complaint(s, f"提现三天未到账，请联系我 1381234567{n}", contact=f"1391234567{n}",
                      at=DETECTED - timedelta(hours=n), incident_id=inc.id, category="transfer_delay")
        inc.root_cause = "清算通道升级后批量代付失败，客户 13812345670 反映最早"
        incident_id = inc.id
    with session_scope(db_url) as s:
        assess_major_events(s, app_config, DETECTED)
        steps = report_steps(s, incident_id)
        plan = steps[PHONE_KIND].plan
        first = plan.steps[0]
        first.status, first.done_at, first.note = "done", DETECTED, "已切换备用通道"
    with session_scope(db_url) as s:
        path = draft_report(s, app_config, settings, incident_id)
        assert s.execute(select(MajorEvent.report_path)).scalar_one() == str(path)
    assert path == Path(settings.reports_path / "major-events" / f"incident-{incident_id}-zh.pdf")
    text = "".join(page.extract_text() for page in PdfReader(path).pages)
    flat = "".join(text.split())
    for fact in ("重大事件书面报告（草稿）", "2类重大事件", "涉及客户数", "12,345.60", "2026-11-1604:00",
                 "2026-11-1609:00", "清算通道升级后批量代付失败", "已切换备用通道", "电话报告", "书面报告"):
        assert fact in flat, fact
    assert "【待补充：系统中尚无记录】" in flat  # redress paid: nothing recorded
    assert not any(f"1381234567{n}" in flat or f"1391234567{n}" in flat for n in range(6))
    assert "138****5670" in flat
