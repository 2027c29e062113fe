"""Periodic satisfaction call-backs: a sample of recent complainants once a month, resting those just asked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from complaints.core.config import AppConfig
from complaints.core.db import session_scope
from complaints.core.models import Notification
from complaints.core.settings import Settings
from complaints.notify.updates import queue_periodic_callbacks, queue_updates
from complaints.regulatory.outcomes import record_outcome
from tests.factories import complaint

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def _enabled(cfg: AppConfig, share: float) -> AppConfig:
    callbacks = cfg.notifications.callbacks
    periodic = callbacks.periodic.model_copy(update={"enabled": True, "share": share})
    notifications = cfg.notifications.model_copy(
        update={"callbacks": callbacks.model_copy(update={"enabled": False, "periodic": periodic})})
    return cfg.model_copy(update={"notifications": notifications})


def test_monthly_sample_once_per_person_and_period(db_url: str, app_config: AppConfig, settings: Settings) -> None:
    cfg = _enabled(app_config, 0.5)
    with session_scope(db_url) as s:
        for i in range(40):
            c = complaint(s, f"转账延迟 {i}", contact=f"user{i}@example.com", at=NOW - timedelta(days=40))
            record_outcome(s, c.id, decided_at=NOW - timedelta(days=20), decided_by="cs.sun", outcome="upheld",
                           relief="explanation")
        old = complaint(s, "很久以前的投诉", contact="old@example.com", at=NOW - timedelta(days=200))
        record_outcome(s, old.id, decided_at=NOW - timedelta(days=150), decided_by="cs.sun", outcome="upheld",
                       relief="explanation")
        complaint(s, "还没处理完", contact="open@example.com", at=NOW - timedelta(days=5))
    with session_scope(db_url) as s:
        first = queue_periodic_callbacks(s, cfg, settings, NOW)
        assert 10 <= first <= 30  # about half of the 40 closed in the lookback; never the old or the open one
        assert queue_periodic_callbacks(s, cfg, settings, NOW + timedelta(days=1)) == 0  # once per period
        rows = s.execute(select(Notification).where(Notification.kind == "callback")).scalars().all()
        assert len(rows) == first and all(r.idempotency_key.startswith("callback:periodic:2026-11:") for r in rows)
        assert {r.recipient for r in rows}.isdisjoint({"old@example.com", "open@example.com"})
        asked = {r.recipient for r in rows}
    # Next month draws a new sample, but those asked within rest_days (30) rest.
    with session_scope(db_url) as s:
        later = NOW + timedelta(days=12)  # 2026-12-02: a new period, 12 days after the first call-backs
        again = queue_periodic_callbacks(s, cfg, settings, later)
        new = {r.recipient for r in s.execute(select(Notification).where(
            Notification.idempotency_key.like("callback:periodic:2026-12:%"))).scalars()}
        assert len(new) == again and new.isdisjoint(asked)
    # queue_updates runs it when enabled, and not otherwise.
    with session_scope(db_url) as s:
        january = queue_updates(s, cfg, settings, NOW + timedelta(days=45))["callback"]
        assert january > 0 and january == len(s.execute(select(Notification.id).where(
            Notification.idempotency_key.like("callback:periodic:2027-01:%"))).all())
        assert queue_updates(s, app_config, settings, NOW + timedelta(days=80))["callback"] == 0
