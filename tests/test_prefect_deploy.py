"""prefect.yaml is accepted by a real, local Prefect server: `prefect deploy --all` registers every
deployment with its schedules (started on its own port and PREFECT_HOME, stopped afterwards)."""

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

from complaints.settings import PROJECT_ROOT

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


def test_deploy_all_registers_every_deployment(prefect_server: tuple[str, dict[str, str]]) -> None:
    api, env = prefect_server
    run = lambda *args: subprocess.run([str(BIN / "prefect"), *args], env=env, cwd=PROJECT_ROOT,  # noqa: E731
                                       capture_output=True, text=True, timeout=300)
    created = run("work-pool", "create", "complaints", "--type", "process")
    assert created.returncode == 0, created.stdout + created.stderr
    deployed = run("--no-prompt", "deploy", "--all")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr

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
