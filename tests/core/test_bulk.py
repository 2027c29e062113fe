"""Set-based writes: the COPY paths PostgreSQL takes for large batches give what the statements give."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select, text

from complaints.core.bulk import COPY_MIN, update_by_id
from complaints.core.db import insert_ignore, refresh_statistics, session_scope
from complaints.core.models import Escalation, Plan, PlanEvent, PlanStep
from tests.factories import T0


def test_large_insert_ignore_and_update_by_id(db_url: str) -> None:
    n = COPY_MIN + 100  # large enough for the COPY path on PostgreSQL
    with session_scope(db_url) as s:
        [plan] = insert_ignore(s, Plan, [{"subject_type": "incident", "subject_id": 1, "category": "other",
                                         "template": "default", "team": "ops", "status": "open",
                                         "created_at": T0, "due_at": T0 + timedelta(days=15)}],
                               returning=(Plan.id,))
        steps = [{"plan_id": plan.id, "seq": i, "title": f"步骤 {i}", "owner": "li", "due_at": T0} for i in range(n)]
        first = insert_ignore(s, PlanStep, steps[: n // 2], returning=(PlanStep.id, PlanStep.seq))
        # Half of these exist already: only the new half is inserted and returned.
        second = insert_ignore(s, PlanStep, steps, returning=(PlanStep.id, PlanStep.seq))
        assert sorted(r.seq for r in first) == list(range(n // 2))
        assert sorted(r.seq for r in second) == list(range(n // 2, n))
        stored = s.execute(select(PlanStep).order_by(PlanStep.seq)).scalars().all()
        # Python-side defaults are filled in as the ORM would (status, escalation level, kind, unit).
        assert len(stored) == n and {(p.status, p.escalation_level, p.kind, p.unit) for p in stored} == {
            ("pending", 0, "task", "calendar_hours")}
        insert_ignore(s, PlanEvent, [{"plan_id": plan.id, "step_id": p.id, "at": T0, "actor": "system",
                                      "action": "warned", "detail": {"to": "王", "level": 0}} for p in stored])
        update_by_id(s, PlanStep.__table__, [{"_id": p.id, "owner": f"o{p.seq}", "escalation_level": 1}
                                             for p in stored])
        insert_ignore(s, Escalation, [{"step_id": p.id, "level": 1, "from_owner": "li", "to_owner": "wang",
                                       "reason": "overdue", "created_at": T0} for p in stored])
    with session_scope(db_url) as s:
        stored = s.execute(select(PlanStep).order_by(PlanStep.seq)).scalars().all()
        assert [(p.owner, p.escalation_level) for p in stored] == [(f"o{i}", 1) for i in range(n)]
        events = s.execute(select(PlanEvent)).scalars().all()
        assert len(events) == n and all(e.detail == {"to": "王", "level": 0} for e in events)
        assert {e.at for e in events} == {T0}
        assert len(s.execute(select(Escalation)).scalars().all()) == n


def test_statistics_are_refreshed_after_a_bulk_load(db_url: str) -> None:
    """PostgreSQL (autovacuum may be off, as on this machine): a table changed by far more than 10% since its
    statistics were taken is analysed once; then it is fresh. SQLite has nothing to analyse."""
    with session_scope(db_url) as s:
        insert_ignore(s, Plan, [{"subject_type": "complaint", "subject_id": i, "category": "other",
                                 "template": "default", "team": "ops", "status": "open", "created_at": T0,
                                 "due_at": T0} for i in range(3000)])
    if not db_url.startswith("postgresql"):
        assert refresh_statistics(db_url) == []
        return
    analysed: list[str] = []
    for _ in range(20):  # the server publishes table counters within a second or so of the commit
        analysed = refresh_statistics(db_url)
        if analysed:
            break
        time.sleep(0.25)
    assert analysed == ["plans"]
    assert refresh_statistics(db_url) == []
    with session_scope(db_url) as s:
        assert s.execute(text("SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables "
                              "WHERE relname = 'plans'")).scalar_one()
