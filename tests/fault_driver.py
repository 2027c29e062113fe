"""A flow stage run as its own process, so tests can kill it with SIGKILL or starve it of disk.

    python -m tests.fault_driver ingest DB_URL CONFIG_DIR      # the `bulk` source of tests/pipeline/test_faults.py
    python -m tests.fault_driver send DB_URL VAR_DIR SMTP_PORT
    python -m tests.fault_driver report DB_URL VAR_DIR WEEK [FSIZE_LIMIT]

Each calls the same domain functions the Prefect tasks wrap (no Prefect: no API start-up) and prints
"started" once its imports are done, so the test kills it during the work and not during start-up.
"""

from __future__ import annotations

import json
import resource
import signal
import sys
from pathlib import Path

from complaints.core.config import FileSourceSpec, load_config
from complaints.core.db import session_scope
from complaints.core.settings import PROJECT_ROOT, Settings

BULK = FileSourceSpec(
    name="bulk", kind="file", channel="app", path="bulk/*.jsonl", batch_size=100,
    mapping={"external_id": "id", "received_at": "at", "contact": "email", "body": "text"},
)


def ingest(db_url: str, config_dir: str) -> None:
    from complaints.ingest.store import ingest_source

    cfg = load_config(PROJECT_ROOT / "config").model_copy(update={"directory": Path(config_dir)})
    print("started", flush=True)
    with session_scope(db_url) as session:
        print(json.dumps(ingest_source(session, cfg, BULK, "k").as_dict()), flush=True)


def send(db_url: str, var_dir: str, port: str) -> None:
    from complaints.notify.outbox import send_pending

    settings = Settings(var_dir=Path(var_dir), database_url=db_url, smtp_host="127.0.0.1", smtp_port=int(port),
                        smtp_starttls=False, smtp_timeout=5)
    print("started", flush=True)
    print(send_pending(db_url, settings, 5, batch_size=10).sent, flush=True)


def report(db_url: str, var_dir: str, week: str, fsize_limit: str | None = None) -> None:
    from complaints.reports import render_weekly_reports

    if fsize_limit:
        # A full disk, as far as this process can tell: writes past the limit fail with EFBIG, even for root.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (int(fsize_limit), int(fsize_limit)))
    cfg = load_config(PROJECT_ROOT / "config")
    settings = Settings(var_dir=Path(var_dir), database_url=db_url)
    print("started", flush=True)
    with session_scope(db_url) as session:
        print(len(render_weekly_reports(session, cfg, settings, week)), flush=True)


if __name__ == "__main__":
    {"ingest": ingest, "send": send, "report": report}[sys.argv[1]](*sys.argv[2:])
