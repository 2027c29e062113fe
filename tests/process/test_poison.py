"""Issue 16: a failure in one process partition stopped the run's remaining partitions and batches, detection and
(in the pipeline) every later stage. Now a complaint that makes dedupe or classification raise is isolated by halves
and held out with its reason, the rest is processed; a partition that fails as a whole waits for the next run while
the run goes on; the run's state, result, artifact and event say what happened. On SQLite and PostgreSQL.

The faults are injected into the real functions (monkeypatch; the flow's partitions run on threads of this process):
dedupe raises for a text containing POISON-DEDUPE, severity assessment for one containing POISON-CLASSIFY, each with
the complaint's text (and a mobile number in it) in the error message, as a real parsing error would quote it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import select

from complaints.core.config import AppConfig
from complaints.core.db import session_scope
from complaints.core.models import Complaint, ComplaintEvent
from complaints.process import classify, dedupe, stage
from complaints.process.classify import unprocessed_query
from complaints.process.stage import ProcessingError, process_partition, release
from tests.factories import T0, complaint

PHONE = "13912345678"


def _poison(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dedupe raises for POISON-DEDUPE, classification (severity) for POISON-CLASSIFY, quoting the text."""
    real_key, real_assess = dedupe.person_key, classify.assess

    def person_key(c: Any) -> str | None:
        if "POISON-DEDUPE" in (getattr(c, "body", "") or ""):
            raise ValueError(f"cannot read {c.body}")
        return real_key(c)

    def assess(*args: Any, **kwargs: Any) -> Any:
        if "POISON-CLASSIFY" in kwargs["text"]:
            raise KeyError(f"no rule for {kwargs['text'].strip()}")
        return real_assess(*args, **kwargs)

    monkeypatch.setattr(dedupe, "person_key", person_key)
    monkeypatch.setattr(classify, "assess", assess)


def _seed(s: Any, n: int = 10, crowd: int = 0) -> dict[str, int]:
    """n people with one complaint each (two of them poisoned), and a crowd of users about one merchant in one
    hour (a collective complaint detection opens an incident for); ids by external id."""
    made = {}
    for i in range(n):
        body = f"提现{i}天未到账，请尽快处理"
        if i == 3:
            body = f"POISON-DEDUPE 提现未到账 请回电 {PHONE}"
        if i == 7:
            body = f"POISON-CLASSIFY 退款未到账 请回电 {PHONE}"
        c = complaint(s, body, contact=f"user{i}@example.com", at=T0 + timedelta(minutes=i))
        made[c.external_id] = c.id
    for k in range(crowd):
        c = complaint(s, "扫码支付被重复扣款，请退回", contact=f"crowd{k}@example.com", merchant="快捷支付通道",
                      at=T0 + timedelta(hours=2, minutes=3 * k))
        made[c.external_id] = c.id
    return made


def _state(db_url: str) -> dict[str, set[int]]:
    with session_scope(db_url) as s:
        rows = s.execute(select(Complaint.id, Complaint.processed_at, Complaint.held_at)).all()
    return {"processed": {r.id for r in rows if r.processed_at}, "held": {r.id for r in rows if r.held_at},
            "waiting": {r.id for r in rows if not r.processed_at and not r.held_at}}


def _poisoned(db_url: str) -> tuple[int, int]:
    with session_scope(db_url) as s:
        find = select(Complaint.id).where(Complaint.body.contains("POISON-DEDUPE"))
        return s.scalar(find), s.scalar(select(Complaint.id).where(Complaint.body.contains("POISON-CLASSIFY")))


# --- the stage function ------------------------------------------------------------------------------------------


def test_a_complaint_that_raises_is_held_with_its_reason_and_the_rest_processed(
        db_url: str, app_config: AppConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    """Injects: one complaint that makes dedupe raise and one that makes severity assessment raise, among 10.
    Asserts: both held (reason: the step, the error, the text masked), a `held` event each; the 8 others processed;
    a second call skips them; unprocessed_query leaves them out; released, they are processed."""
    _poison(monkeypatch)
    with session_scope(db_url) as s:
        ids = list(_seed(s).values())
    with session_scope(db_url) as s:
        summary = process_partition(s, app_config.taxonomy, ids)
    bad_dedupe, bad_classify = _poisoned(db_url)
    assert set(summary.held) == {bad_dedupe, bad_classify} and summary.classify.classified == 8
    assert summary.held[bad_dedupe].startswith("dedupe failed: ValueError: cannot read POISON-DEDUPE")
    assert summary.held[bad_classify].startswith("classify failed: KeyError: ")
    assert all(PHONE not in why and "139****5678" in why for why in summary.held.values())
    state = _state(db_url)
    assert state["held"] == {bad_dedupe, bad_classify} and state["waiting"] == set() and len(state["processed"]) == 8
    with session_scope(db_url) as s:
        events = s.execute(select(ComplaintEvent.complaint_id, ComplaintEvent.detail)
                           .where(ComplaintEvent.kind == "held")).all()
        assert {e.complaint_id: e.detail["reason"] for e in events} == summary.held
        assert list(s.scalars(unprocessed_query(Complaint.id))) == []
        again = process_partition(s, app_config.taxonomy, ids)
    assert again.classify.classified == 0 and again.held == {}
    monkeypatch.undo()
    with session_scope(db_url) as s:
        assert release(s, [bad_classify]) == 1
    with session_scope(db_url) as s:
        assert list(s.scalars(unprocessed_query(Complaint.id))) == [bad_classify]
        assert process_partition(s, app_config.taxonomy, ids).classify.classified == 1
    assert _state(db_url)["held"] == {bad_dedupe}


def test_an_error_that_can_heal_is_raised_and_nothing_is_held(
        db_url: str, app_config: AppConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    """A locked or dropped database is no complaint's fault: raised (the task retries it), nothing held."""
    def locked(*args: Any, **kwargs: Any) -> Any:
        raise sa_exc.OperationalError("UPDATE complaints", {}, Exception("database is locked"))

    with session_scope(db_url) as s:
        ids = list(_seed(s).values())
    monkeypatch.setattr(stage, "classify_ids", locked)
    with session_scope(db_url) as s, pytest.raises(sa_exc.OperationalError):
        process_partition(s, app_config.taxonomy, ids)
    assert _state(db_url)["held"] == set() and _state(db_url)["processed"] == set()


def test_a_fault_that_fails_every_complaint_holds_none(
        db_url: str, app_config: AppConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every complaint of the partition raising is no single complaint's fault: the error is raised, nothing is
    held, and the complaints wait for the next run."""
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("model file unreadable")

    with session_scope(db_url) as s:
        ids = list(_seed(s).values())
    monkeypatch.setattr(stage, "classify_ids", broken)
    with session_scope(db_url) as s, pytest.raises(ProcessingError, match=r"classify failed: ValueError: model file "
                                                                           r"unreadable \(no single complaint's fault: "
                                                                           r"0 of 10 processed, none held"):
        process_partition(s, app_config.taxonomy, ids)
    state = _state(db_url)
    assert state["held"] == set() and len(state["waiting"]) == 10


def test_more_complaints_failing_than_allowed_is_a_fault_not_a_hold(
        db_url: str, app_config: AppConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_HELD complaints failing one by one, the partition fails instead of holding a whole batch out; the
    halves processed before stay processed."""
    monkeypatch.setattr(stage, "MAX_HELD", 1)
    _poison(monkeypatch)
    with session_scope(db_url) as s:
        ids = list(_seed(s).values())
    with session_scope(db_url) as s, pytest.raises(ProcessingError, match="no single complaint's fault"):
        process_partition(s, app_config.taxonomy, ids)
    state = _state(db_url)
    assert state["held"] == set() and set(_poisoned(db_url)) <= state["waiting"] and state["processed"]
