"""Issue 16: a failure in one process partition stopped the run's remaining partitions and batches, detection and
(in the pipeline) every later stage. Now a complaint that makes dedupe or classification raise is isolated by halves
and held out with its reason, the rest is processed; a partition that fails as a whole waits for the next run while
the run goes on; the run's state, result, artifact and event say what happened. On SQLite and PostgreSQL.

The faults are injected into the real functions (monkeypatch; the flow's partitions run on threads of this process):
dedupe raises for a text containing POISON-DEDUPE, severity assessment for one containing POISON-CLASSIFY, each with
the complaint's text (and a mobile number in it) in the error message, as a real parsing error would quote it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select
from typer.testing import CliRunner

from cli.main import app
from complaints.core import runtime as runtime_module
from complaints.core.config import AppConfig
from complaints.core.db import session_scope
from complaints.core.models import Complaint, ComplaintEvent, Incident
from complaints.core.settings import PROJECT_ROOT
from complaints.process import classify, dedupe, stage
from complaints.process.classify import unprocessed_query
from complaints.process.stage import ProcessingError, process_partition, release
from flows.outcome import DEGRADED
from tests.factories import T0, complaint
from tests.ingest.test_ingest_flow import _events

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


def test_forget_erases_the_text_a_hold_reason_quotes(db_url: str, app_config: AppConfig, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A hold reason quotes the complaint's text (masked): `forget` replaces it with the marker, the hold stays."""
    from complaints.regulatory.forget import forget

    _poison(monkeypatch)
    with session_scope(db_url) as s:
        ids = list(_seed(s).values())
    with session_scope(db_url) as s:
        process_partition(s, app_config.taxonomy, ids)
    bad = _poisoned(db_url)[0]  # user3's
    with session_scope(db_url) as s:
        forget(s, "user3@example.com", pii_key="test-key", outbox_dir=tmp_path, marker="[purged]")
    with session_scope(db_url) as s:
        row = s.execute(select(Complaint.held_at, Complaint.held_reason).where(Complaint.id == bad)).one()
    assert row.held_at is not None and row.held_reason == "[purged]"


# --- the flows, through a Prefect API ------------------------------------------------------------------------------


@pytest.fixture
def env(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Flows and the CLI on this database, with a config folder whose one source is a JSON lines file."""
    config = tmp_path / "config"
    config.mkdir()
    for f in (PROJECT_ROOT / "config").glob("*.yaml"):
        (config / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    (config / "sources.yaml").write_text(
        "sources:\n  - {name: app, kind: file, channel: app, path: in/*.jsonl, mapping: "
        "{external_id: id, received_at: at, body: text, contact: email, merchant: merchant}}\n", encoding="utf-8")
    (config / "in").mkdir()
    monkeypatch.setenv("COMPLAINTS_CONFIG_DIR", str(config))
    monkeypatch.setenv("COMPLAINTS_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("COMPLAINTS_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.delenv("COMPLAINTS_SMTP_HOST", raising=False)
    runtime_module.reset()
    yield db_url
    runtime_module.reset()


@pytest.mark.prefect
def test_the_process_flow_holds_the_poison_complaints_and_processes_every_other_batch(
        prefect_api: None, env: str) -> None:
    """Injects: 10 people and a crowd of 7 about one merchant; a dedupe poison in the first batch of 5, a
    classification poison in the second (4 batches, 2 partitions each). Before: the first failure failed the flow,
    the later batches and detection never ran. Now: the flow ends Completed named Degraded, its message names both
    complaints and why; 15 processed, 2 held, detection ran (the crowd's incident); a complaints.process.degraded event;
    a second run has nothing to do and is Degraded again while they are held; `quarantine held` lists them,
    `quarantine release` and a run without the fault process them (a plain Completed)."""
    from flows.process import DEGRADED_EVENT, process

    poison = pytest.MonkeyPatch()  # its own: undoing it must leave the env fixture's variables
    _poison(poison)
    with session_scope(env) as s:
        made = _seed(s, crowd=7)
    bad_dedupe, bad_classify = _poisoned(env)
    start = time.time()
    state = process(batch_size=5, partitions=2, return_state=True)
    assert state.is_completed() and state.name == DEGRADED, state
    assert f"complaint {bad_dedupe} held out of processing: dedupe failed: ValueError: cannot read" in state.message
    assert f"complaint {bad_classify} held out of processing: classify failed: KeyError: " in state.message
    assert PHONE not in state.message
    result = state.result()
    assert (result["processed"], result["held_out"]) == (15, 2) and set(result["held"]) == {bad_dedupe, bad_classify}
    got = _state(env)
    assert got["held"] == {bad_dedupe, bad_classify} and got["processed"] == set(made.values()) - got["held"]
    with session_scope(env) as s:  # detection ran after the batches: the crowd's incident (the last batches)
        signatures = set(s.scalars(select(Incident.signature).where(Incident.id.in_(result["incidents_opened"]))))
        assert any("快捷支付通道" in sig for sig in signatures), signatures
        assert s.scalar(select(func.count()).where(Complaint.detected_at.is_not(None))) == 15
    events = _events(DEGRADED_EVENT, start)
    assert events and events[0]["payload"]["held"] == 2

    # Nothing to do, but the two are still held: every run says so until ops release them (no acknowledgement,
    # plan or statutory clock starts for a held complaint).
    again = process(batch_size=5, partitions=2, return_state=True)
    assert again.is_completed() and again.name == DEGRADED and again.result().get("processed", 0) == 0
    assert "2 complaints still held out of processing by earlier runs" in again.message

    listed = CliRunner().invoke(app, ["quarantine", "held"])
    assert listed.exit_code == 0 and "dedupe failed: ValueError" in listed.output and PHONE not in listed.output
    poison.undo()
    assert CliRunner().invoke(app, ["quarantine", "release"]).output.strip() == "released 2 complaint(s)"
    fixed = process(batch_size=5, partitions=2, return_state=True)
    assert fixed.name == "Completed" and fixed.result()["processed"] == 2
    assert _state(env)["processed"] == set(made.values())


@pytest.mark.prefect
def test_a_failed_partition_fails_the_run_and_the_rest_is_processed(prefect_api: None, env: str) -> None:
    """Injects: classification fails for every complaint of one partition of the first batch (a fault no single
    complaint causes). Asserts: that partition's complaints wait (not held), the other partition and the later
    batches are processed, detection ran; the flow ends Failed naming the partition and why, with its counts;
    the next run, without the fault, processes the rest."""
    from complaints.process.dedupe import partition
    from flows.process import process

    with session_scope(env) as s:
        made = _seed(s, n=12)
        first = s.execute(unprocessed_query(Complaint.id, Complaint.contact_key, Complaint.customer_ref,
                                            Complaint.source).limit(6)).all()
    broken = set(partition(first, 2)[0])
    real = stage.classify_ids

    def classify_ids(session: Any, taxonomy: Any, ids: list[int]) -> Any:
        if broken & set(ids):
            raise ValueError("category model unreadable")
        return real(session, taxonomy, ids)

    fault = pytest.MonkeyPatch()  # its own: undoing it must leave the env fixture's variables
    fault.setattr(stage, "classify_ids", classify_ids)
    state = process(batch_size=6, partitions=2, return_state=True)
    assert state.is_failed(), state
    assert f"a partition of {len(broken)} complaints" in state.message and "failed and waits for the next run" in \
        state.message
    assert (f"classify failed: ValueError: category model unreadable (no single complaint's fault: 0 of {len(broken)} "
            "processed, none held") in state.message
    result = state.result(raise_on_failure=False)
    assert result["processed"] == 12 - len(broken) and result["in_failed_partitions"] == len(broken)
    assert result["held_out"] == 0
    got = _state(env)
    assert got["waiting"] == broken and got["held"] == set()
    with session_scope(env) as s:
        assert s.scalar(select(func.count()).where(Complaint.detected_at.is_not(None))) == 12 - len(broken)
    fault.undo()
    fixed = process(batch_size=6, partitions=2, return_state=True)
    assert fixed.name == "Completed" and fixed.result()["processed"] == len(broken)
    assert _state(env)["processed"] == set(made.values())


@pytest.mark.prefect
def test_the_pipeline_runs_every_stage_past_a_held_complaint_and_says_so(
        prefect_api: None, env: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The pipeline (as `complaints demo` and the schedule run it): with a poisoned complaint among 12, plan, notify
    and the weekly report run for the others; the run ends Degraded naming the complaint, the CLI exits 1 with
    one line; the held complaint gets no acknowledgement, the others do."""
    from complaints.core.models import Notification
    from flows.pipeline import pipeline

    _poison(monkeypatch)
    rows = [{"id": f"A{i}", "at": (T0 + timedelta(minutes=i)).isoformat(), "email": f"user{i}@example.com",
             "text": f"POISON-CLASSIFY 退款未到账 请回电 {PHONE}" if i == 4 else f"提现{i}天未到账，请尽快处理"}
            for i in range(12)]
    (Path(runtime_module.runtime().settings.config_dir) / "in" / "a.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    state = pipeline(week="2026-W47", now="2026-11-23T10:00:00+08:00", return_state=True)
    assert state.is_completed() and state.name == DEGRADED, state
    assert state.message.startswith("process: complaint ")
    assert "held out of processing: classify failed" in state.message
    results = state.result()
    assert results["process"]["processed"] == 11 and results["process"]["held_out"] == 1
    assert len(results["weekly_report"]) == 4 and "plan" in results and "notify" in results
    with session_scope(env) as s:
        acknowledged = set(s.scalars(select(Notification.recipient).where(Notification.kind == "acknowledgement")))
    assert acknowledged == {f"user{i}@example.com" for i in range(12) if i != 4}
    out = CliRunner().invoke(app, ["run", "process"])
    # Held complaints are not retried blindly, and every run says they wait for ops (their clocks are running).
    assert out.exit_code == 1 and "1 complaints still held out of processing by earlier runs" in out.output
    (Path(runtime_module.runtime().settings.config_dir) / "in" / "a.jsonl").write_text(
        json.dumps({"id": "B1", "at": T0.isoformat(), "email": "x@example.com",
                    "text": f"POISON-CLASSIFY again {PHONE}"}, ensure_ascii=False) + "\n", encoding="utf-8")
    out = CliRunner().invoke(app, ["run", "pipeline", "--week", "2026-W47"])
    assert out.exit_code == 1
    [line] = [x for x in out.output.splitlines() if x.strip() and "running flow" not in x]
    assert line.startswith("flow pipeline degraded: process: complaint ") and PHONE not in line
