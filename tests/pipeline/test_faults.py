"""Faults injected for real: SIGKILL of a stage process mid-run, a dropped PostgreSQL connection, overlapping
runs, SMTP down / 421, a full disk and an unwritable folder. After each: exact counts, nothing lost, nothing twice.

Stages run in a subprocess (tests/fault_driver.py) calling the domain functions the Prefect tasks wrap.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from pypdf import PdfReader
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import DBAPIError

from complaints.core.config import AppConfig
from complaints.core.db import migrate, session_scope
from complaints.core.models import Complaint, ComplaintEvent, Notification, QuarantinedRecord, Report
from complaints.core.settings import PROJECT_ROOT, Settings
from complaints.ingest.store import ingest_source
from complaints.notify.outbox import RenderedEmail, insert_new, outbox_row, send_pending
from tests.conftest import PG_ADMIN_URL, _pg_database
from tests.fault_driver import BULK
from tests.notify.test_notify import EphemeralController, Recorder, _closed_port, _settings
from tests.reports.test_reports import WEEK, seed

T0 = datetime(2026, 11, 16, 1, 0, tzinfo=UTC)
N_RECORDS = 3000  # 30 batches of 100
BAD_EVERY = 97  # one record in 97 has no text: quarantined
N_BAD = len(range(0, N_RECORDS, BAD_EVERY))
# Complaints stored after k whole batches of 100: a killed run leaves one of these, never a part of a batch.
WHOLE_BATCHES = {k * 100 - len(range(0, k * 100, BAD_EVERY)) for k in range(N_RECORDS // 100 + 1)}


def count(url: str, model: Any, *where: Any) -> int:
    with session_scope(url) as s:
        return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def start(*args: str) -> subprocess.Popen[str]:
    """A driver process; returns once it has imported everything and begun the work."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.fault_driver", *args], cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "started", proc.stderr.read() if proc.stderr else line
    return proc


def kill(proc: subprocess.Popen[str]) -> int:
    proc.kill()  # SIGKILL: no cleanup, no rollback in the process
    rc = proc.wait(10)
    for stream in (proc.stdout, proc.stderr):
        if stream:
            stream.close()
    return rc


def wait_until(condition: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


# --- kill -9 during ingest ----------------------------------------------------------------------


def write_bulk(folder: Path) -> None:
    (folder / "bulk").mkdir(parents=True, exist_ok=True)
    with (folder / "bulk" / "a.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(N_RECORDS):
            at = (T0 + timedelta(seconds=i)).isoformat()
            body = "" if i % BAD_EVERY == 0 else f"提现第{i}笔一直未到账 withdrawal {i} pending"
            fh.write(json.dumps({"id": f"B{i}", "at": at, "email": f"u{i}@example.cn", "text": body},
                                ensure_ascii=False) + "\n")


@pytest.mark.parametrize("seed_", [1, 2])
def test_kill9_during_ingest_then_rerun_stores_each_record_once(db_url: str, app_config: AppConfig,
                                                                tmp_path: Path, seed_: int) -> None:
    """Injects: SIGKILL of an ingest process once a random number (1-20) of its 30 batches committed.
    Asserts: the killed run left whole batches only; a normal run then holds every record exactly once, one
    "received" event each, and every bad record quarantined once."""
    write_bulk(tmp_path)
    target = random.Random(seed_).randint(1, 20) * 100
    proc = start("ingest", db_url, str(tmp_path))
    wait_until(lambda: count(db_url, Complaint) >= target - 100 or proc.poll() is not None)
    assert kill(proc) == -9, "the ingest finished before it was killed: make the input larger"
    stored = count(db_url, Complaint)
    assert stored in WHOLE_BATCHES and stored < N_RECORDS - N_BAD
    with session_scope(db_url) as s:
        summary = ingest_source(s, app_config.model_copy(update={"directory": tmp_path}), BULK, "k")
    assert count(db_url, Complaint) == N_RECORDS - N_BAD
    assert summary.inserted + stored == N_RECORDS - N_BAD
    with session_scope(db_url) as s:
        ids = s.execute(select(Complaint.external_id)).scalars().all()
        assert len(set(ids)) == len(ids) == N_RECORDS - N_BAD
    assert count(db_url, ComplaintEvent, ComplaintEvent.kind == "received") == N_RECORDS - N_BAD
    assert count(db_url, QuarantinedRecord) == N_BAD


# --- kill -9 during send ------------------------------------------------------------------------


@pytest.fixture
def smtp() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    ctl = EphemeralController(recorder, hostname="127.0.0.1", port=0)
    ctl.start()
    yield recorder, ctl.port
    ctl.stop()


def queue(url: str, n: int, prefix: str = "m") -> None:
    rendered = RenderedEmail("Update", "text " * 200, "<p>html</p>")
    rows = [outbox_row(key=f"{prefix}:{i}", kind="progress", recipient=f"user{i}@example.com", language="en",
                       rendered=rendered, attachments=(), complaint_id=None, incident_id=None,
                       mail_from="Desk <desk@wallet.example>", now=T0) for i in range(n)]
    with session_scope(url) as s:
        assert insert_new(s, rows) == n


@pytest.mark.parametrize("seed_", [1, 2])
def test_kill9_during_send_then_rerun_sends_every_row(db_url: str, tmp_path: Path, smtp: tuple[Recorder, int],
                                                      seed_: int) -> None:
    """Injects: SIGKILL of a sending process after the SMTP server accepted a random number of its 400 messages.
    Asserts: after a normal run (the dead run's lease expired) every row is sent, the server received every
    Message-ID, none more than twice, and the re-sent ones (crash between SMTP acceptance and the commit) are
    at most one claimed batch."""
    recorder, port = smtp
    total = 400
    queue(db_url, total)
    target = random.Random(seed_).randint(5, 300)
    proc = start("send", db_url, str(tmp_path / "var"), str(port))
    wait_until(lambda: len(recorder.received) >= target or proc.poll() is not None)
    assert kill(proc) == -9, "the send finished before it was killed"
    assert count(db_url, Notification, Notification.status == "sent") < total

    settings = _settings(tmp_path, db_url, port)
    send_pending(db_url, settings, 5, lease=timedelta(0))  # the dead run's claims count as expired
    assert count(db_url, Notification, Notification.status == "sent") == total
    with session_scope(db_url) as s:
        expected = set(s.execute(select(Notification.message_id)).scalars())
    received = Counter(recorder.message_ids())
    assert set(received) == expected
    assert max(received.values()) <= 2
    assert sum(received.values()) - total <= 10  # batch_size of the killed run


# --- kill -9 during report rendering --------------------------------------------------------------


@pytest.mark.parametrize("delay", [1.0])
def test_kill9_during_report_leaves_no_partial_pdf(sqlite_url: str, tmp_path: Path, delay: float) -> None:
    """Injects: SIGKILL of a report process `delay` seconds into rendering four PDFs.
    Asserts: every .pdf present is a whole PDF and no Report row exists for a PDF not written; a normal run then
    gives exactly 4 rows and 4 readable PDFs."""
    with session_scope(sqlite_url) as s:
        seed(s, _closed_port())
    var = tmp_path / "var"
    proc = start("report", sqlite_url, str(var), WEEK)
    time.sleep(delay)
    kill(proc)
    folder = var / "reports" / WEEK
    pdfs = sorted(folder.glob("*.pdf")) if folder.exists() else []
    for pdf in pdfs:
        assert pdf.read_bytes().rstrip().endswith(b"%%EOF") and len(PdfReader(pdf).pages) >= 1
    with session_scope(sqlite_url) as s:
        for r in s.scalars(select(Report)):
            assert Path(r.path).is_file()

    proc = start("report", sqlite_url, str(var), WEEK)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.strip() == "4" and count(sqlite_url, Report) == 4
    assert sorted(p.name for p in folder.glob("*.pdf")) == [
        "crisis-en.pdf", "crisis-zh.pdf", "lessons-en.pdf", "lessons-zh.pdf"]
    assert all(len(PdfReader(p).pages) >= 1 for p in folder.glob("*.pdf"))


# --- PostgreSQL connection dropped mid-run -----------------------------------------------------------


@pytest.fixture
def pg_url() -> Iterator[str]:
    gen = _pg_database()
    url = next(gen)
    migrate(url)
    yield url
    gen.close()


def test_dropped_postgresql_connection_fails_the_run_cleanly_and_next_run_completes(
        pg_url: str, app_config: AppConfig, tmp_path: Path) -> None:
    """Injects: pg_terminate_backend() on the ingest's connection in the middle of a run. To hit it mid-batch,
    the test holds the `sources` row lock after some batches committed, so the next batch waits on its commit, and
    terminates that waiting backend.
    Asserts: the run raises a database error (no hang); only whole batches are stored; the next run stores every
    record exactly once."""
    write_bulk(tmp_path)
    cfg = app_config.model_copy(update={"directory": tmp_path})
    database = pg_url.rsplit("/", 1)[1]

    def run() -> Any:
        with session_scope(pg_url) as s:
            return ingest_source(s, cfg, BULK, "k")

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    locker = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"))
    waiting = text("SELECT pid FROM pg_stat_activity WHERE datname = :db AND wait_event_type = 'Lock'")
    try:
        with ThreadPoolExecutor(1) as pool, locker.connect() as lock:
            future = pool.submit(run)
            wait_until(lambda: count(pg_url, Complaint) >= 300 or future.done())
            lock.execute(text("SELECT id FROM sources WHERE name = 'bulk' FOR UPDATE"))
            assert not future.done(), "the ingest finished before the fault: make the input larger"
            with admin.connect() as conn:
                wait_until(lambda: conn.execute(waiting, {"db": database}).first() is not None)
                pid = conn.execute(waiting, {"db": database}).scalar_one()
                assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
            lock.rollback()
            with pytest.raises(DBAPIError):
                future.result(timeout=60)
    finally:
        admin.dispose()
        locker.dispose()
    stored = count(pg_url, Complaint)
    assert stored in WHOLE_BATCHES and stored < N_RECORDS - N_BAD
    summary = run()
    assert count(pg_url, Complaint) == N_RECORDS - N_BAD == stored + summary.inserted
    assert count(pg_url, ComplaintEvent) == N_RECORDS - N_BAD
    assert count(pg_url, QuarantinedRecord) == N_BAD


# --- overlapping runs -------------------------------------------------------------------------------


def test_overlapping_ingest_runs_store_each_record_once(db_url: str, app_config: AppConfig, tmp_path: Path) -> None:
    """Injects: two ingest runs of the same source at the same time (a schedule overlapping a manual backfill).
    Asserts: every record stored once, one event each, each bad record quarantined once; inserts add up."""
    write_bulk(tmp_path)
    cfg = app_config.model_copy(update={"directory": tmp_path})
    barrier = threading.Barrier(2)

    def run(backfill: bool) -> Any:
        window = {"since": T0 - timedelta(days=1), "until": T0 + timedelta(days=1)} if backfill else {}
        barrier.wait()
        with session_scope(db_url) as s:
            return ingest_source(s, cfg, BULK, "k", **window)

    with ThreadPoolExecutor(2) as pool:
        live, backfill = pool.map(run, [False, True])
    assert live.inserted + backfill.inserted == N_RECORDS - N_BAD
    assert count(db_url, Complaint) == count(db_url, ComplaintEvent) == N_RECORDS - N_BAD
    assert count(db_url, QuarantinedRecord) == N_BAD


# --- SMTP down then up; 421 then 250 ------------------------------------------------------------------


class Busy(Recorder):
    """Answers 421 (service not available, closing) to the first `busy` messages, then accepts."""

    busy = 3

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.busy:
            self.busy -= 1
            return "421 4.3.2 service shutting down"
        return await super().handle_DATA(server, session, envelope)


def test_smtp_down_then_up_sends_everything_once(sqlite_url: str, tmp_path: Path) -> None:
    """Injects: no SMTP server on the port for the first run; a server started there for the second.
    Asserts: first run sends 0 and keeps all 20 rows pending (attempt 1, reason recorded); second sends all 20,
    each Message-ID received once."""
    queue(sqlite_url, 20)
    port = _closed_port()
    first = send_pending(sqlite_url, _settings(tmp_path, sqlite_url, port), 5)
    assert (first.sent, first.retried, first.failed) == (0, 20, 0)
    assert count(sqlite_url, Notification, Notification.status == "pending", Notification.attempts == 1) == 20
    recorder = Recorder()
    ctl = Controller(recorder, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        second = send_pending(sqlite_url, _settings(tmp_path, sqlite_url, port), 5)
    finally:
        ctl.stop()
    assert (second.sent, second.retried, second.failed) == (20, 0, 0)
    assert len(recorder.received) == len(set(recorder.message_ids())) == 20


def test_421_is_retried_and_then_sent_once(sqlite_url: str, tmp_path: Path) -> None:
    """Injects: the server answers 421 to the first 3 messages, then 250.
    Asserts: run 1 sends 7 and keeps 3 pending; run 2 sends those 3; 10 distinct Message-IDs received once."""
    queue(sqlite_url, 10)
    recorder = Busy()
    ctl = EphemeralController(recorder, hostname="127.0.0.1", port=0)
    ctl.start()
    try:
        settings = _settings(tmp_path, sqlite_url, ctl.port)
        first = send_pending(sqlite_url, settings, 5)
        second = send_pending(sqlite_url, settings, 5)
    finally:
        ctl.stop()
    assert (first.sent, first.retried, second.sent, second.retried) == (7, 3, 3, 0)
    assert len(recorder.received) == len(set(recorder.message_ids())) == 10
    assert count(sqlite_url, Notification, Notification.status == "sent") == 10


# --- disk full, unwritable folder ---------------------------------------------------------------------


def test_report_folder_that_cannot_exist_is_a_clear_error_and_no_row(sqlite_url: str, tmp_path: Path,
                                                                      app_config: AppConfig) -> None:
    """Injects: the reports folder configured under a regular file (ENOTDIR, which stops root too).
    Asserts: the run raises NotADirectoryError naming the path; no Report row, no file written."""
    from complaints.reports import render_weekly_reports

    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    with session_scope(sqlite_url) as s:
        seed(s, _closed_port())
    settings = Settings(var_dir=tmp_path / "var", database_url=sqlite_url, reports_dir=blocker / "reports")
    with pytest.raises(NotADirectoryError, match="blocker"), session_scope(sqlite_url) as s:
        render_weekly_reports(s, app_config, settings, WEEK)
    assert count(sqlite_url, Report) == 0
    assert blocker.read_text() == "a file where a folder should be"


def test_disk_full_while_writing_a_pdf_leaves_no_partial_file_and_no_row(pg_url: str, tmp_path: Path) -> None:
    """Injects: a 20 kB file-size limit (RLIMIT_FSIZE: writes past it fail with EFBIG, even for root) on the
    report process, so the first PDF write fails like a full disk. PostgreSQL keeps the database out of the limit.
    Asserts: the process exits with the OSError; no .pdf and no temp file in the folder; no Report row."""
    with session_scope(pg_url) as s:
        seed(s, _closed_port())
    var = tmp_path / "var"
    proc = start("report", pg_url, str(var), WEEK, "20000")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "File too large" in err
    assert list((var / "reports" / WEEK).iterdir()) == []
    assert count(pg_url, Report) == 0


def test_disk_full_while_writing_an_eml_keeps_the_row_pending(tmp_path: Path) -> None:
    """Injects: a 4 kB file-size limit on a process writing a 50 kB message to the .eml outbox.
    Asserts: the outcome is temporary (retried next run) and nothing is left in the outbox, not even a temp file."""
    outbox = tmp_path / "outbox"
    script = (
        "import resource, signal, json\n"
        "from pathlib import Path\n"
        "from complaints.notify.channels.email import EmlSender, Outgoing, build_message\n"
        "from complaints.core.models import Notification\n"
        "from datetime import UTC, datetime\n"
        "n = Notification(id=1, kind='progress', recipient='a@example.com', language='en', subject='s',\n"
        "                 body_text='x' * 50000, body_html=None, attachments=[], message_id='<m1@wallet.example>',\n"
        "                 created_at=datetime.now(UTC))\n"
        "msg = build_message(n, 'Desk <desk@wallet.example>')\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        f"out = EmlSender(Path({str(outbox)!r})).deliver([Outgoing(1, 'desk@wallet.example', 'a@example.com', msg)])\n"
        "print(json.dumps([out[1].status, out[1].detail]))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=60, check=True)
    status, detail = json.loads(result.stdout)
    assert status == "temporary" and "File too large" in detail
    assert list(outbox.iterdir()) == []
