"""Production topology on loopback, driven through the API the UI uses: a real Prefect server (own port and
PREFECT_HOME, API authentication on), `prefect deploy --all` from prefect.yaml, a process worker, PostgreSQL.

In order: the pipeline deployment runs the demo; the incidents it opens start the plan deployment through the
shipped automation; a backfill with plain dates from the CLI; the review-plan run pauses with the plan and resumes
with a choice; closing a plan from the CLI gets the incident's `resolved` event emitted by the next plan run.
Every process is stopped afterwards, whatever happens."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from cli.main import DEMO_AS_OF, DEMO_WEEK
from cli.main import app as cli_app
from complaints.core.config import AppConfig
from complaints.core.db import session_scope
from complaints.core.models import Incident, Plan
from complaints.core.settings import PROJECT_ROOT
from complaints.core.statuses import STEP_OPEN
from complaints.reports.stats import stats
from tests.conftest import _pg_database

BIN = Path(sys.executable).parent
AUTH = ("ops", "loopback-secret")  # PREFECT_SERVER_API_AUTH_STRING is "user:password" (HTTP basic)
FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Retrying(httpx.HTTPTransport):
    """A busy server answers 503 (its SQLite database locked) and rolls the request back; Prefect's own client
    retries those, so every call here does too. A read that times out while the worker's flow holds both cores is
    asked again (only reads, GET or a /filter query: a write may have been done)."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = super().handle_request(request)
            except httpx.TimeoutException:
                if attempt == 5 or not (request.method == "GET" or request.url.path.endswith("/filter")):
                    raise
                continue
            if attempt == 5 or response.status_code not in (502, 503):
                return response
            response.read()
            response.close()
            time.sleep(2 * attempt)


@dataclass
class Server:
    api: str
    env: dict[str, str]
    http: httpx.Client


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("prefect-home")
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    auth = ":".join(AUTH)
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": api, "PREFECT_API_AUTH_STRING": auth,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false",
           "COMPLAINTS_PROJECT_DIR": str(PROJECT_ROOT)}
    log = (home / "server.log").open("w")
    proc = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                            env={**env, "PREFECT_SERVER_API_AUTH_STRING": auth}, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    http = httpx.Client(base_url=api, auth=AUTH, timeout=30, transport=_Retrying())
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:  # probes need no credentials
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (home / "server.log").read_text()
            time.sleep(1)
        else:
            pytest.fail("Prefect server did not become healthy in 180 s")
        yield Server(api, env, http)
    finally:
        http.close()
        _stop(proc)
        log.close()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server or worker and its children: asked first, killed when a loaded machine keeps it (a worker
    finishing a flow run) past 30 s; a teardown tests nothing about a graceful exit."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def _prefect(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "prefect"), *args], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def deployed(prefect_server: Server) -> Server:
    created = _prefect(prefect_server.env, "work-pool", "create", "complaints", "--type", "process")
    assert created.returncode == 0, created.stdout + created.stderr
    result = _prefect(prefect_server.env, "--no-prompt", "deploy", "--all")
    assert result.returncode == 0, result.stdout + result.stderr
    return prefect_server


@pytest.fixture(scope="module")
def worker(deployed: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str, Path]]:
    """A process worker on the pool, its flows on a fresh PostgreSQL database. Yields (server, db url, var dir)."""
    tmp = tmp_path_factory.mktemp("worker")
    databases = _pg_database()
    db_url = next(databases)
    worker_env = {**deployed.env, "COMPLAINTS_DATABASE_URL": db_url, "COMPLAINTS_VAR_DIR": str(tmp / "var"),
                  "PATH": f"{BIN}:{deployed.env.get('PATH', '')}", "PREFECT_WORKER_QUERY_SECONDS": "2"}
    log = (tmp / "worker.log").open("w")
    proc = subprocess.Popen(
        [str(BIN / "prefect"), "worker", "start", "--pool", "complaints", "--install-policy", "never"],
        env=worker_env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        yield deployed, db_url, tmp
    finally:
        _stop(proc)
        log.close()
        databases.close()


def _deployment(server: Server, name: str) -> dict[str, Any]:
    return server.http.get(f"/deployments/name/{name}/{name}").json()


def _create_run(server: Server, deployment: str, parameters: dict[str, Any]) -> dict[str, Any]:
    url = f"/deployments/{_deployment(server, deployment)['id']}/create_flow_run"
    response = server.http.post(url, json={"parameters": parameters})
    assert response.status_code == 201, response.text
    return response.json()


def _wait(server: Server, run_id: str, states: tuple[str, ...] = FINAL, seconds: float = 400) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        run = server.http.get(f"/flow_runs/{run_id}").json()
        if run["state"]["type"] in states or time.monotonic() > deadline:
            return run
        time.sleep(1)


def _run_input(server: Server, run_id: str, key: str, seconds: float = 60) -> Any:
    """A paused run's input value (its form's description or schema). Prefect proposes the Paused state before it
    saves them, so a reader that comes at once, as the UI may, waits for them a moment."""
    deadline = time.monotonic() + seconds
    while True:
        response = server.http.get(f"/flow_runs/{run_id}/input/{key}")
        if response.status_code == 200 or time.monotonic() > deadline:
            return response.json()
        time.sleep(0.5)


def _runs_of(server: Server, deployment: str) -> list[dict[str, Any]]:
    dep_id = _deployment(server, deployment)["id"]
    return server.http.post("/flow_runs/filter", json={"flow_runs": {"deployment_id": {"any_": [dep_id]}}}).json()


def _worker_log(tmp: Path) -> str:
    return (tmp / "worker.log").read_text()[-5000:]


def test_deploy_all_registers_every_deployment_behind_authentication(deployed: Server) -> None:
    assert httpx.post(f"{deployed.api}/deployments/filter", json={}, timeout=30).status_code == 401
    declared = {d["name"]: d for d in yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())["deployments"]}
    found = deployed.http.post("/deployments/filter", json={}).json()
    assert {d["name"] for d in found} == set(declared)
    for d in found:
        spec = declared[d["name"]]
        assert d["entrypoint"] == spec["entrypoint"]
        assert d["work_pool_name"] == "complaints"
        crons = sorted((s["schedule"]["cron"], s["schedule"]["timezone"]) for s in d["schedules"])
        assert crons == sorted((s["cron"], s["timezone"]) for s in spec.get("schedules") or [])
        # The custom-run form explains every parameter.
        props = d["parameter_openapi_schema"]["properties"]
        assert props and all(p.get("description") for p in props.values()), d["name"]
    ingest = next(d for d in found if d["name"] == "ingest")
    assert ingest["schedules"][0]["schedule"] == {"cron": "*/15 * * * *", "timezone": "Asia/Shanghai", "day_or": True}
    automations = deployed.http.post("/automations/filter", json={}).json()
    assert [(a["name"], a["enabled"]) for a in automations] == [("plan-on-incident-opened", True)]


def test_worker_runs_pipeline_deployment_on_postgresql(worker: tuple[Server, str, Path]) -> None:
    server, db_url, tmp = worker
    run = _create_run(server, "pipeline", {"week": DEMO_WEEK, "now": DEMO_AS_OF.isoformat()})
    run = _wait(server, run["id"])
    assert run["state"]["type"] == "COMPLETED", _worker_log(tmp)
    assert run["name"] == f"pipeline report {DEMO_WEEK} as of 2026-11-23 09:00"
    with session_scope(db_url) as s:
        figures = stats(s, DEMO_AS_OF)
    assert figures["records"] == 320 and figures["incidents"] >= 1 and figures["reports"] == 4
    assert (tmp / "var" / "reports" / DEMO_WEEK / "crisis-zh.pdf").is_file()
    keys = {a["key"] for a in server.http.post("/artifacts/filter", json={}).json()}
    assert {"ingest-summary", "process-summary", "weekly-report", "pipeline-summary", "incident-board"} <= keys
    summary = server.http.post("/artifacts/latest/filter", json={"artifacts": {"key": {"any_": ["pipeline-summary"]}}}
                               ).json()[0]["data"]
    children = server.http.post("/flow_runs/filter", json={"flow_runs": {"parent_flow_run_id": {"any_": [run["id"]]}}}
                                ).json()
    assert len(children) == 6 and all(f"/runs/flow-run/{c['id']}" in summary for c in children)
    # Not "320 new": a scheduled ingest run (deploy --all ships the schedules) may have pulled the demo files first.
    assert "plans created by this run" in summary and " new, " in summary and "quarantined" in summary, summary


def test_incident_opened_starts_plan_deployment_through_the_automation(worker: tuple[Server, str, Path]) -> None:
    server, db_url, tmp = worker
    with session_scope(db_url) as s:
        incidents = list(s.execute(select(Incident.id)).scalars())
    opened = server.http.post("/events/filter", json={"filter": {"event": {"name": ["complaints.incident.opened"]}}}
                              ).json()["events"]
    assert {e["resource"]["prefect.resource.id"] for e in opened} == {f"complaints.incident.{i}" for i in incidents}
    deadline = time.monotonic() + 120
    # The pipeline runs plan as a subflow, not through the deployment: a run of the deployment is the automation's.
    while not (runs := [r for r in _runs_of(server, "plan") if r["state"]["type"] in FINAL
                        and (r.get("created_by") or {}).get("type") == "AUTOMATION"]):
        assert time.monotonic() < deadline, "the automation never started the plan deployment"
        time.sleep(2)
    assert runs[0]["state"]["type"] == "COMPLETED", _worker_log(tmp)
    board = server.http.post("/artifacts/latest/filter", json={"artifacts": {"key": {"any_": ["incident-board"]}}}
                             ).json()[0]["data"]
    assert f"I{incidents[0]:08d}" in str(board) and "next_deadline" in str(board)


def test_backfill_with_plain_dates_from_the_cli(worker: tuple[Server, str, Path]) -> None:
    server, _, tmp = worker
    started = _prefect(server.env, "deployment", "run", "ingest/ingest", "-p", "since=2026-11-16",
                       "-p", "until=2026-11-18")
    assert started.returncode == 0, started.stdout + started.stderr
    run = next(r for r in _runs_of(server, "ingest") if r["parameters"].get("since"))  # not a scheduled run
    run = _wait(server, run["id"])
    assert run["state"]["type"] == "COMPLETED", _worker_log(tmp)
    assert run["name"] == "ingest 2026-11-16..2026-11-18"
    assert run["parameters"] == {"since": "2026-11-16", "until": "2026-11-18"}


def test_review_plan_pauses_with_the_plan_and_resumes_with_a_choice(worker: tuple[Server, str, Path],
                                                                      app_config: AppConfig) -> None:
    server, db_url, tmp = worker
    with session_scope(db_url) as s:
        plan = s.execute(select(Plan).where(Plan.subject_type == "incident").order_by(Plan.id)).scalars().first()
        plan_id = plan.id
        before = {st.seq: st.owner for st in plan.steps}
    run = _create_run(server, "review-plan", {"plan_id": plan_id, "poll_interval": 1})
    run = _wait(server, run["id"], ("PAUSED", *FINAL), 120)
    assert run["state"]["type"] == "PAUSED", _worker_log(tmp)
    assert run["name"] == f"review plan {plan_id}"
    keys = run["state"]["state_details"]["run_input_keyset"]
    schema = _run_input(server, run["id"], keys["schema"])
    description = _run_input(server, run["id"], keys["description"])
    assert f"## Plan {plan_id}" in description and "### Steps" in description
    owner = schema["properties"]["owner"]["enum"][1]
    refused = server.http.post(f"/flow_runs/{run['id']}/resume", json={"run_input": {"owner": "someone.else"}})
    assert refused.status_code == 200 and refused.json()["status"] == "REJECT", refused.text
    resumed = server.http.post(f"/flow_runs/{run['id']}/resume",
                               json={"run_input": {"owner": owner, "reviewer": "alice", "approve": True}})
    assert resumed.status_code == 201 and resumed.json()["status"] == "ACCEPT", resumed.text
    assert _wait(server, run["id"], seconds=120)["state"]["type"] == "COMPLETED", _worker_log(tmp)
    with session_scope(db_url) as s:
        plan = s.get(Plan, plan_id)
        assert plan.approved_by == "prefect-ui:alice"
        team = app_config.routing.teams[plan.team].members
        # Only the steps the team's members held moved; the lead's, compliance's and escalated steps stayed.
        assert {st.seq: st.owner for st in plan.steps} == {
            seq: owner if was in team else was for seq, was in before.items()}


def test_plan_closed_from_the_cli_emits_resolved(worker: tuple[Server, str, Path],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from complaints.core import runtime

    server, db_url, tmp = worker
    with session_scope(db_url) as s:
        plan = s.execute(select(Plan).where(Plan.subject_type == "incident").order_by(Plan.id)).scalars().first()
        plan_id, incident_id = plan.id, plan.subject_id
        steps = [st.seq for st in plan.steps if st.status in STEP_OPEN]
    monkeypatch.setenv("COMPLAINTS_DATABASE_URL", db_url)
    monkeypatch.setenv("COMPLAINTS_VAR_DIR", str(tmp / "var"))
    runtime.reset()
    try:
        for seq in steps:
            done = CliRunner().invoke(cli_app, ["plan", "done", str(plan_id), str(seq), "--note", "fixed the route",
                                                "--by", "payops.lead"])
            assert done.exit_code == 0, done.output
    finally:
        runtime.reset()
    with session_scope(db_url) as s:
        assert s.get(Incident, incident_id).status == "resolved"
    run = _create_run(server, "plan", {})
    assert _wait(server, run["id"])["state"]["type"] == "COMPLETED", _worker_log(tmp)
    deadline = time.monotonic() + 30
    while not (resolved := server.http.post("/events/filter", json={"filter": {
            "event": {"name": ["complaints.incident.resolved"]}}}).json()["events"]):
        assert time.monotonic() < deadline, "no complaints.incident.resolved event"
        time.sleep(1)
    assert [e["resource"]["prefect.resource.id"] for e in resolved] == [f"complaints.incident.{incident_id}"]
