"""Issue 16 through a real Prefect API: a source that fails does not stop the others nor the stages after ingest, a
degraded source marks the run (state, artifact, event), neither is retried when it cannot heal, and the CLI says so
in one line with a non-zero exit."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from complaints.core import runtime as runtime_module
from complaints.core.settings import PROJECT_ROOT
from flows.ingest import DEGRADED_EVENT
from flows.outcome import DEGRADED

AT = "2026-11-16T09:00:00+08:00"
SOURCES = """
sources:
  - {name: good, kind: file, channel: app, path: good/*.jsonl, mapping: {external_id: id, received_at: at, body: text}}
  - {name: missing, kind: file, channel: app, path: no_such_folder,
     mapping: {external_id: id, received_at: at, body: text}}
  - {name: mistyped, kind: file, channel: app, path: bad/*.jsonl,
     mapping: {external_id: id, received_at: at, body: txt}}
"""


@pytest.fixture
def env(tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A config folder with three sources: one good, one whose folder is missing, one whose body column is
    mistyped (every row quarantined)."""
    config = tmp_path / "config"
    config.mkdir()
    for f in (PROJECT_ROOT / "config").glob("*.yaml"):
        (config / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    (config / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    for folder in ("good", "bad"):
        (config / folder).mkdir()
        rows = [{"id": f"{folder}{i}", "at": AT, "text": f"提现未到账 {i}"} for i in range(12)]
        (config / folder / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    monkeypatch.setenv("COMPLAINTS_CONFIG_DIR", str(config))
    monkeypatch.setenv("COMPLAINTS_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("COMPLAINTS_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.delenv("COMPLAINTS_SMTP_HOST", raising=False)
    runtime_module.reset()
    yield config
    runtime_module.reset()


def _task_runs(flow_run_id: object) -> dict[str, int]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return {r.name: r.run_count for r in runs}


def _events(name: str, since: float) -> list[dict]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        for _ in range(50):  # events reach the API through a background worker
            found = client.request("POST", "/events/filter", json={"filter": {
                "event": {"name": [name]},
                "occurred": {"since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since - 5))}},
                "limit": 50}).json()["events"]
            if found:
                return found
            time.sleep(0.2)
    return []


def test_a_failed_and_a_degraded_source_mark_the_run_the_others_are_stored(prefect_api: None, env: Path) -> None:
    """Issue 16: one source's failure failed the ingest flow (after three retries, minutes) and nothing after it
    ran; a source quarantining every row left a run that said Completed. Now: the good source is stored, the run
    ends Failed naming both, the missing folder fails once without retries, the artifact lists both, and
    complaints.source.degraded is emitted for the mistyped source."""
    from flows.ingest import ingest

    start = time.time()
    state = ingest(return_state=True)
    elapsed = time.time() - start
    assert state.is_failed()
    assert "source missing failed: " in state.message and "no_such_folder does not exist" in state.message
    assert "source mistyped degraded: 12 of 12 records quarantined (most: 'missing body' x12" in state.message
    results = {r["source"]: r for r in state.result(raise_on_failure=False)}
    assert set(results) == {"good", "mistyped"} and results["good"]["inserted"] == 12
    runs = _task_runs(state.state_details.flow_run_id)
    assert runs["ingest-missing"] == 1 and elapsed < 60  # a FileNotFoundError is not retried (5+30+120 s)
    events = _events(DEGRADED_EVENT, start)
    assert [e["resource"]["prefect.resource.id"] for e in events] == ["complaints.source.mistyped"]
    assert "12 of 12 records quarantined" in events[0]["payload"]["reason"]


def test_a_degraded_run_is_completed_named_degraded_and_the_cli_exits_1(prefect_api: None, env: Path) -> None:
    """Degraded alone is a Completed state named Degraded (the good source's work is done); the CLI exits 1 with
    one line. A re-run over the same, unchanged file reads nothing new: not degraded again."""
    from flows.ingest import ingest

    out = CliRunner().invoke(app, ["run", "ingest", "--source", "mistyped"])
    assert out.exit_code == 1
    [line] = [x for x in out.output.splitlines() if x.strip() and "running flow" not in x]
    assert line.startswith("flow ingest degraded: source mistyped degraded: 12 of 12 records quarantined")
    assert CliRunner().invoke(app, ["run", "ingest", "--source", "mistyped"]).exit_code == 0
    (env / "bad" / "b.jsonl").write_text("".join(json.dumps({"id": f"b{i}", "at": AT, "text": "x"}) + "\n"
                                                 for i in range(11)), encoding="utf-8")
    state = ingest(sources=["good", "mistyped"], return_state=True)
    assert state.is_completed() and state.name == DEGRADED
    assert state.message.startswith("source mistyped degraded: 11 of 11 records quarantined")


def test_the_pipeline_goes_on_past_a_failed_source_and_says_so(prefect_api: None, env: Path, tmp_path: Path) -> None:
    """The stages after ingest run for the sources that worked; the pipeline ends Failed naming the sources, and
    `complaints demo` (the pipeline) prints that in one line and exits 1."""
    from sqlalchemy import func, select

    from complaints.core.db import session_scope
    from complaints.core.models import Complaint

    (env / "bad" / "a.jsonl").unlink()
    (env / "bad").rmdir()
    (env / "sources.yaml").write_text(SOURCES.replace("path: bad/*.jsonl", "path: bad/a.jsonl"), encoding="utf-8")
    runtime_module.reset()
    out = CliRunner().invoke(app, ["demo"])
    assert out.exit_code == 1
    [line] = [x for x in out.output.splitlines() if x.strip() and "running flow" not in x]
    assert line.startswith("flow pipeline failed: ingest: source missing failed: ")
    assert "source mistyped failed: " in line and line.endswith("(the later stages ran)")
    with session_scope(runtime_module.runtime().db_url) as s:
        processed = s.scalar(select(func.count()).select_from(Complaint).where(Complaint.processed_at.is_not(None)))
    assert processed == 12
    assert len(list((tmp_path / "var" / "reports" / "2026-W47").glob("*.pdf"))) == 4  # the weekly report ran


def test_a_config_error_in_a_source_task_is_not_retried(prefect_api: None, env: Path) -> None:
    """Issue 16: a config error was retried three times with back-off. An unknown source name fails its task run
    once; the good source is stored."""
    from flows.ingest import ingest

    state = ingest(sources=["good", "nope"], return_state=True)
    assert state.is_failed() and "source nope failed: " in state.message and "no source named 'nope'" in state.message
    assert _task_runs(state.state_details.flow_run_id) == {"ingest-good": 1, "ingest-nope": 1}


def test_reversed_window_is_refused_by_the_cli_and_the_flow(prefect_api: None, env: Path) -> None:
    """Issue 16: reversed --since/--until were accepted (a run that read everything and stored nothing)."""
    from flows.ingest import ingest

    out = CliRunner().invoke(app, ["run", "ingest", "--since", "2026-11-18", "--until", "2026-11-16"])
    assert out.exit_code == 2 and "--since 2026-11-18 00:00 is not before --until 2026-11-16 00:00" in out.output
    out = CliRunner().invoke(app, ["backfill", "--source", "good", "--since", "2026-11-16", "--until", "2026-11-16"])
    assert out.exit_code == 2 and "is not before" in out.output
    state = ingest(since="2026-11-18", until="2026-11-16", return_state=True)
    assert state.is_failed() and "is not before until" in state.message
    assert _task_runs(state.state_details.flow_run_id) == {}  # refused before any source was read
