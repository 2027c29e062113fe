"""Shared fixtures. Storage tests take `db_url`, which runs them on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from complaints.core.config import AppConfig, load_config
from complaints.core.db import get_engine, migrate, scratch_database
from complaints.core.settings import PROJECT_ROOT, Settings

PG_ADMIN_URL = os.environ.get("COMPLAINTS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database per test, dropped afterwards."""
    with scratch_database(PG_ADMIN_URL, "ct") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: SQLite file or PostgreSQL on 127.0.0.1:5432."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'complaints.db'}"
        migrate(url)
        yield url
        get_engine(url).dispose()
        return
    gen = _pg_database()
    url = next(gen)
    migrate(url)
    yield url
    gen.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """For tests whose subject is not storage (one backend is enough)."""
    url = f"sqlite:///{tmp_path / 'complaints.db'}"
    migrate(url)
    return url


@pytest.fixture(scope="session")
def app_config() -> AppConfig:
    return load_config(PROJECT_ROOT / "config")


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return Settings(var_dir=tmp_path / "var", database_url=db_url)


@pytest.fixture(scope="module")
def prefect_api() -> Iterator[None]:
    """A real (temporary) Prefect API for the module's flow runs. Module scope: harnesses must not nest, and
    only the few modules that run flows pay its ~12 s start."""
    from complaints.core.runtime import prefect_defaults

    prefect_defaults()
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture
def app_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The CLI, flows and tasks read their settings from the environment: point them at this test's
    database and var folder (files only, no SMTP). Yields the database URL."""
    from complaints.core import runtime
    monkeypatch.setenv("COMPLAINTS_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("COMPLAINTS_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "250")  # rich tables wide enough to read whole cells
    monkeypatch.delenv("COMPLAINTS_SMTP_HOST", raising=False)
    runtime.reset()
    yield db_url
    runtime.reset()
