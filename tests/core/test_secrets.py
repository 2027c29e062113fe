"""Secrets: none in the repository or prefect.yaml; the SMTP password and database URL come from the environment;
the database password never reaches a command's output, on success or on failure."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text

from complaints.core.settings import PROJECT_ROOT, Settings
from tests.conftest import PG_ADMIN_URL

# Credential shapes: key material, URLs with a password, well-known token formats, literal assignments.
PATTERNS = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "URL with a password": re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:[^/\s@'\"{}$<>]+@"),
    "AWS key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "API key": re.compile(r"\bsk-[A-Za-z0-9]{20,}\b"),
    "assigned secret": re.compile(
        r"(?i)\b(password|passwd|secret|token|api_?key)\b[\"']?\s*[:=]\s*[\"'][^\"'\s{}$<>]{6,}[\"']"),
}
# Loopback test servers (and the settings test below) need a credential to check that login or signing works;
# these fixed, fake values are allowed.
TEST_ONLY = {"s3cret", "gateway-shared-secret", "from-env-"}


def repository_files() -> list[Path]:
    """Tracked files plus new ones not ignored: what a commit would publish."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=PROJECT_ROOT,
                         capture_output=True, text=True, check=True).stdout
    return [PROJECT_ROOT / name for name in out.splitlines() if (PROJECT_ROOT / name).is_file()]


def test_no_credentials_in_the_repository() -> None:
    """Scans every tracked or new file (text only) for the PATTERNS; only the fake loopback value may appear."""
    hits = []
    files = repository_files()
    assert len(files) > 100
    for path in files:
        try:
            content = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for name, pattern in PATTERNS.items():
            for m in pattern.finditer(content):
                if not any(fake in m.group(0) for fake in TEST_ONLY):
                    hits.append(f"{path.relative_to(PROJECT_ROOT)}: {name}: {m.group(0)[:60]}")
    assert hits == []


def test_prefect_yaml_has_no_secret_parameters_or_env() -> None:
    """Deployments carry no password, token or URL in parameters or job variables: workers get them from their
    environment or Prefect Secret blocks."""
    doc = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    for d in doc["deployments"]:
        keys = [*d.get("parameters", {}), *d.get("job_variables", {}).get("env", {})]
        assert not [k for k in keys if re.search(r"(?i)password|secret|token|database_url|smtp|pii_key", k)], d["name"]


def test_smtp_password_and_database_url_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPLAINTS_SMTP_PASSWORD", "from-env-pw")
    monkeypatch.setenv("COMPLAINTS_DATABASE_URL", "postgresql://app:from-env-db@db/complaints")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.smtp_password.get_secret_value() == "from-env-pw" and s.db_url.endswith("@db/complaints")
    assert "from-env-pw" not in repr(s) and "from-env-pw" not in str(s.model_dump())


@pytest.fixture
def password_db() -> Iterator[tuple[str, str]]:
    """A PostgreSQL role with a password owning a fresh database; yields (url with the password, password)."""
    name, password = f"ct_{uuid.uuid4().hex[:10]}", f"Pw{secrets.token_hex(12)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'"))
        conn.execute(text(f'CREATE DATABASE "{name}" OWNER {name}'))
    host = PG_ADMIN_URL.split("@", 1)[1].rsplit("/", 1)[0]
    try:
        yield f"postgresql://{name}:{password}@{host}/{name}", password
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f"DROP ROLE IF EXISTS {name}"))
        admin.dispose()


def cli(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"COMPLAINTS_DATABASE_URL": url, "COMPLAINTS_VAR_DIR": str(tmp_path / "var"),
                        "COLUMNS": "200"}
    return subprocess.run([str(PROJECT_ROOT / ".venv" / "bin" / "complaints"), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def test_database_password_never_printed(password_db: tuple[str, str], tmp_path: Path) -> None:
    """Injects: a database URL with a password, for `migrate`, `stats --json` and `forget`; then the same URL to a
    database that does not exist (a connection error with a traceback). Asserts: the runs succeed / fail as
    expected and the password appears in none of their output."""
    url, password = password_db
    for args in (["migrate"], ["stats", "--json"], ["forget", "li.lei@example.com"]):
        run = cli(url, tmp_path, *args)
        assert run.returncode == 0, run.stderr
        assert password not in run.stdout + run.stderr, args
    failed = cli(url.rsplit("/", 1)[0] + "/no_such_database", tmp_path, "stats", "--json")
    assert failed.returncode != 0 and "no_such_database" in failed.stdout + failed.stderr
    assert password not in failed.stdout + failed.stderr
