"""Production topology on loopback: a real Prefect server (own port and PREFECT_HOME), `prefect deploy --all`
from prefect.yaml, a process worker, and the pipeline deployment run through the API against PostgreSQL.
Every process is stopped afterwards, whatever happens."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from cli.main import DEMO_AS_OF, DEMO_WEEK
from complaints.core.db import session_scope
from complaints.core.settings import PROJECT_ROOT
from complaints.reports.stats import stats
from tests.conftest import _pg_database

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    home = tmp_path_factory.mktemp("prefect-home")
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": api,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false",
           "COMPLAINTS_PROJECT_DIR": str(PROJECT_ROOT)}
    log = (home / "server.log").open("w")
    proc = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (home / "server.log").read_text()
            time.sleep(1)
        else:
            pytest.fail("Prefect server did not become healthy in 180 s")
        yield api, env
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
        log.close()


def _prefect(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "prefect"), *args], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def deployed(prefect_server: tuple[str, dict[str, str]]) -> tuple[str, dict[str, str]]:
    api, env = prefect_server
    created = _prefect(env, "work-pool", "create", "complaints", "--type", "process")
    assert created.returncode == 0, created.stdout + created.stderr
    result = _prefect(env, "--no-prompt", "deploy", "--all")
    assert result.returncode == 0, result.stdout + result.stderr
    return api, env


def test_deploy_all_registers_every_deployment(deployed: tuple[str, dict[str, str]]) -> None:
    api, _ = deployed

    declared = {d["name"]: d for d in yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())["deployments"]}
    found = httpx.post(f"{api}/deployments/filter", json={}, timeout=30).json()
    assert {d["name"] for d in found} == set(declared)
    for d in found:
        spec = declared[d["name"]]
        assert d["entrypoint"] == spec["entrypoint"]
        assert d["work_pool_name"] == "complaints"
        crons = sorted((s["schedule"]["cron"], s["schedule"]["timezone"]) for s in d["schedules"])
        assert crons == sorted((s["cron"], s["timezone"]) for s in spec.get("schedules") or [])
    ingest = next(d for d in found if d["name"] == "ingest")
    assert ingest["schedules"][0]["schedule"] == {"cron": "*/15 * * * *", "timezone": "Asia/Shanghai", "day_or": True}


def test_worker_runs_pipeline_deployment_on_postgresql(deployed: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    api, env = deployed
    databases = _pg_database()
    db_url = next(databases)
    worker_env = {**env, "COMPLAINTS_DATABASE_URL": db_url, "COMPLAINTS_VAR_DIR": str(tmp_path / "var"),
                  "PATH": f"{BIN}:{env.get('PATH', '')}"}
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [str(BIN / "prefect"), "worker", "start", "--pool", "complaints", "--install-policy", "never"],
        env=worker_env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deployment = httpx.get(f"{api}/deployments/name/pipeline/pipeline", timeout=30).json()
        run = httpx.post(
            f"{api}/deployments/{deployment['id']}/create_flow_run",
            json={"parameters": {"week": DEMO_WEEK, "now": DEMO_AS_OF.isoformat()}},
            timeout=30,
        ).json()
        deadline = time.monotonic() + 400
        state = run["state"]["type"]
        while time.monotonic() < deadline and state not in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            time.sleep(2)
            state = httpx.get(f"{api}/flow_runs/{run['id']}", timeout=30).json()["state"]["type"]
        assert state == "COMPLETED", (tmp_path / "worker.log").read_text()[-5000:]
        with session_scope(db_url) as s:
            figures = stats(s, DEMO_AS_OF)
        assert figures["records"] == 320 and figures["incidents"] >= 1 and figures["reports"] == 4
        assert (tmp_path / "var" / "reports" / DEMO_WEEK / "crisis-zh.pdf").is_file()
        artifacts = httpx.post(f"{api}/artifacts/filter", json={}, timeout=30).json()
        assert {"ingest-summary", "process-summary", "weekly-report"} <= {a["key"] for a in artifacts}
    finally:
        os.killpg(worker.pid, 15)
        worker.wait(timeout=30)
        log.close()
        databases.close()
