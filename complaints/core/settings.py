"""Runtime settings from the environment (prefix COMPLAINTS_), with embedded defaults under ./var."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COMPLAINTS_", env_file=".env", extra="ignore")

    var_dir: Path = Field(default=PROJECT_ROOT / "var")
    database_url: str = ""  # empty: SQLite file var_dir/complaints.db
    config_dir: Path = PROJECT_ROOT / "config"
    templates_dir: Path = PROJECT_ROOT / "templates"
    outbox_dir: Path | None = None  # default var_dir/outbox
    reports_dir: Path | None = None  # default var_dir/reports
    evidence_dir: Path | None = None  # default var_dir/evidence: files that came with complaints, by hash
    timezone: str = "Asia/Shanghai"
    # Key for hashing contacts (dedupe matching); set a real secret in production.
    pii_key: SecretStr = SecretStr("dev-only-pii-key")

    smtp_host: str = ""  # empty: write .eml files to outbox_dir instead of sending
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = True
    smtp_implicit_tls: bool = False
    smtp_timeout: float = 30.0
    mail_from: str = "Complaints Desk <complaints@wallet.example>"
    # SMS / in-app push gateway: JSON POSTs signed with HMAC-SHA256 of the body; empty URL: no such channel.
    webhook_url: str = ""
    webhook_secret: SecretStr = SecretStr("")
    webhook_timeout: float = 10.0
    # The process flow splits each batch into this many parts (by person key) for its task runner:
    # "threads" (one process) or "dask" (a local cluster of that many worker processes, or dask_address).
    process_partitions: int = Field(2, ge=1, le=64)
    task_runner: Literal["threads", "dask"] = "threads"
    dask_address: str = ""  # e.g. tcp://scheduler:8786; empty: a local cluster per flow run

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'complaints.db'}"

    @property
    def outbox_path(self) -> Path:
        return self.outbox_dir or self.var_dir / "outbox"

    @property
    def reports_path(self) -> Path:
        return self.reports_dir or self.var_dir / "reports"

    @property
    def evidence_path(self) -> Path:
        return self.evidence_dir or self.var_dir / "evidence"


@lru_cache
def get_settings() -> Settings:
    """The settings from the environment, read once per process."""
    return Settings()
