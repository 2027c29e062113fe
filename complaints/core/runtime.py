"""Process-wide set-up shared by the CLI and the Prefect tasks: settings, config, migrated database."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from complaints.core.config import AppConfig, load_config
from complaints.core.db import migrate
from complaints.core.pii import install_log_masking
from complaints.core.settings import Settings, get_settings

# Prefect's local ephemeral API needs ~30 s on its first start (migrations): past its 20 s default.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "INFO",
}


def prefect_defaults() -> None:
    """Call before importing prefect; explicit environment settings win."""
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    config: AppConfig

    @property
    def db_url(self) -> str:
        return self.settings.db_url


@lru_cache(maxsize=1)
def runtime() -> Runtime:
    """Settings and validated config for this process; the schema is migrated once on first use."""
    settings = get_settings()
    config = load_config(settings.config_dir)
    migrate(settings.db_url)
    mask_logs()
    return Runtime(settings, config)


def mask_logs() -> None:
    """Mask personal data on every handler Prefect and the root logger write to (console and API).
    Call again after Prefect has configured its logging; it is idempotent."""
    install_log_masking("", "prefect", "prefect.flow_runs", "prefect.task_runs", "prefect.extra", "prefect.workers")


def reset() -> None:
    """Forget cached settings and config (tests change the environment between cases)."""
    runtime.cache_clear()
    get_settings.cache_clear()
