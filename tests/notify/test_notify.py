"""Outbox end to end against a real SMTP server (aiosmtpd on an ephemeral port), not mocks."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from complaints.core.config import AppConfig, NotificationsConfig, SlaConfig, SlaTarget, StakeholderList
from complaints.core.db import get_engine, session_scope
from complaints.core.models import Complaint, Notification, Report
from complaints.core.settings import Settings
from complaints.notify.channels.email import SmtpSender
from complaints.notify.outbox import (
    claim_batch,
    queue_acknowledgements,
    queue_message,
    queue_report_emails,
    resolve_due,
    send_pending,
)

NOW = datetime.now(UTC)
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


# --- SMTP server ------------------------------------------------------------------------------


@dataclass
class Recorder:
    """aiosmtpd handler: records accepted messages; can refuse addresses or answer 451 a few times."""

    refuse: set[str] = field(default_factory=set)
    temp_failures: int = 0
    received: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: user unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.temp_failures:
            self.temp_failures -= 1
            return "451 4.3.0 try later"
        msg = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), msg))
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"mailer", b"s3cret")
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)  # False: aiosmtpd sends the 535 itself

    def message_ids(self) -> list[str]:
        return [str(m["Message-ID"]) for _, _, m in self.received]


class EphemeralController(Controller):
    """Binds port 0; the real port is read back before the start-up probe connects."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@pytest.fixture
def server() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    ctl = EphemeralController(recorder, hostname="127.0.0.1", port=0)
    ctl.start()
    yield recorder, ctl.port
    ctl.stop()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def _server_tls(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*tls_files)
    return ctx


def _client_tls(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tls_files[0]))


def _settings(tmp_path: Path, url: str, port: int | None = None, **kw: Any) -> Settings:
    """Settings for SMTP on 127.0.0.1:port (plain unless kw say otherwise); no port: .eml outbox."""
    values: dict[str, Any] = {"var_dir": tmp_path / "var", "database_url": url, "smtp_timeout": 5}
    if port is not None:
        values |= {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_starttls": False}
    return Settings(**(values | kw))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- seeding ----------------------------------------------------------------------------------


def add_complaint(session: Session, n: int, contact: str | None, **kw: Any) -> Complaint:
    received = kw.pop("received_at", NOW - timedelta(hours=2))
    values: dict[str, Any] = {
        "source": "app",
        "external_id": f"e{n}",
        "received_at": received,
        "channel": "app",
        "contact": contact,
        "body": f"complaint body {n}",
        "text_hash": f"h{n}",
        "language": "zh",
        "category": "refund_after_sales",
        "severity": "minor",
        "first_seen_at": received,
        "last_seen_at": received,
        "processed_at": received,
    }
    values.update(kw)
    c = Complaint(**values)
    session.add(c)
    session.flush()
    return c


def queue_progress(session: Session, settings: Settings, n: int, recipient: str, **kw: Any) -> bool:
    return queue_message(
        session,
        key=f"progress:{n}",
        kind="progress",
        recipient=recipient,
        language=kw.pop("language", "en"),
        template="progress",
        context={"ticket": f"C{n:08d}", "progress_note": f"update {n}"},
        settings=settings,
        **kw,
    )


def rows(url: str) -> list[Notification]:
    with session_scope(url) as s:
        return list(s.scalars(select(Notification).order_by(Notification.id)))


def own_sessionmaker(url: str) -> sessionmaker[Session]:
    """A separate engine (own pool and connections), as a second process would have."""
    return sessionmaker(get_engine.__wrapped__(url), expire_on_commit=False)


def run_threads(*targets: Any) -> list[Any]:
    results: list[Any] = [None] * len(targets)
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(targets))

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = targets[i]()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(targets))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


# --- acknowledgements -------------------------------------------------------------------------


def test_acknowledgements_delivered(
    db_url: str, tmp_path: Path, app_config: AppConfig, server: tuple[Recorder, int]
) -> None:
    recorder, port = server
    settings = _settings(tmp_path, db_url, port)
    with session_scope(db_url) as s:
        zh = add_complaint(s, 1, "zhang@example.com", title="提现一直未到账")
        en = add_complaint(s, 2, " li@example.com ", language="en", title="<script>alert(1)</script>")
        add_complaint(s, 3, "dup@example.com", duplicate_of_id=zh.id)
        add_complaint(s, 4, "13812345678")  # phone contact: no email to send
        add_complaint(s, 5, "new@example.com", processed_at=None)  # not through dedupe/classify yet
        add_complaint(s, 6, "old@example.com", received_at=NOW - timedelta(days=60))  # deadline long past
        zh_id, en_id = zh.id, en.id
    with session_scope(db_url) as s:
        assert queue_acknowledgements(s, app_config, settings, NOW) == 2

    summary = send_pending(db_url, settings, max_attempts=3)
    assert (summary.sent, summary.failed, summary.retried) == (2, 0, 0)
    by_rcpt = {rcpts[0]: msg for _, rcpts, msg in recorder.received}
    assert sorted(by_rcpt) == ["li@example.com", "zhang@example.com"]
    assert all(len(rcpts) == 1 and frm == "complaints@wallet.example" for frm, rcpts, _ in recorder.received)

    zh_msg = by_rcpt["zhang@example.com"]
    assert f"C{zh_id:08d}" in zh_msg["Subject"] and "已收到" in zh_msg["Subject"]
    zh_text = zh_msg.get_body(("plain",))
    assert zh_text is not None
    text = zh_text.get_content()
    assert "我们已收到您于" in text and "提现一直未到账" in text and "退款与售后" in text
    due = (NOW - timedelta(hours=2) + timedelta(days=15)).astimezone(dt.timezone(timedelta(hours=8)))
    assert f"{due.year}年{due.month}月{due.day}日" in text

    en_msg = by_rcpt["li@example.com"]
    assert f"C{en_id:08d}" in en_msg["Subject"]
    html_part = en_msg.get_body(("html",))
    assert html_part is not None
    html = html_part.get_content()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert "Refunds and after-sales" in html

    sent = rows(db_url)
    assert {n.status for n in sent} == {"sent"}
    assert {n.message_id for n in sent} == set(recorder.message_ids())
    assert all(n.attempts == 1 and n.sent_at is not None for n in sent)


def test_rerunning_queue_and_send_sends_each_once(
    db_url: str, tmp_path: Path, app_config: AppConfig, server: tuple[Recorder, int]
) -> None:
    recorder, port = server
    settings = _settings(tmp_path, db_url, port)
    with session_scope(db_url) as s:
        for i in range(5):
            add_complaint(s, i, f"user{i}@example.com")
    for expected in (5, 0):
        with session_scope(db_url) as s:
            assert queue_acknowledgements(s, app_config, settings, NOW) == expected
        send_pending(db_url, settings, max_attempts=3)
    assert len(recorder.received) == 5
    assert len(set(recorder.message_ids())) == 5


def test_concurrent_queue_runs_queue_once(db_url: str, tmp_path: Path, app_config: AppConfig) -> None:
    settings = _settings(tmp_path, db_url)
    with session_scope(db_url) as s:
        for i in range(40):
            add_complaint(s, i, f"user{i}@example.com")

    def run() -> int:
        with own_sessionmaker(db_url).begin() as s:
            return queue_acknowledgements(s, app_config, settings, NOW)

    assert sum(run_threads(run, run)) == 40
    assert len(rows(db_url)) == 40


def test_acknowledge_settings(sqlite_url: str, tmp_path: Path, app_config: AppConfig) -> None:
    settings = _settings(tmp_path, sqlite_url)
    with session_scope(sqlite_url) as s:
        add_complaint(s, 1, "a@example.com", channel="hotline")
        add_complaint(s, 2, "b@example.com", channel="email")
    off = app_config.model_copy(update={"notifications": NotificationsConfig(acknowledge=False)})
    only_email = app_config.model_copy(
        update={"notifications": NotificationsConfig(acknowledge_channels=["email", "web"])}
    )
    with session_scope(sqlite_url) as s:
        assert queue_acknowledgements(s, off, settings, NOW) == 0
        assert queue_acknowledgements(s, only_email, settings, NOW) == 1
    assert [n.recipient for n in rows(sqlite_url)] == ["b@example.com"]


def test_resolve_due_takes_the_strictest_target() -> None:
    sla = SlaConfig(
        by_severity={"critical": SlaTarget(resolve_days=7)}, by_channel={"regulator": SlaTarget(resolve_days=10)}
    )
    t0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
    assert resolve_due(sla, t0, "minor", "app") == t0 + timedelta(days=15)
    assert resolve_due(sla, t0, None, "regulator") == t0 + timedelta(days=10)
    assert resolve_due(sla, t0, "critical", "regulator") == t0 + timedelta(days=7)


def test_ack_for_complaint_merged_after_queuing_is_suppressed(
    sqlite_url: str, tmp_path: Path, app_config: AppConfig, server: tuple[Recorder, int]
) -> None:
    recorder, port = server
    settings = _settings(tmp_path, sqlite_url, port)
    with session_scope(sqlite_url) as s:
        first = add_complaint(s, 1, "a@example.com")
        later = add_complaint(s, 2, "a@example.com")
        assert queue_acknowledgements(s, app_config, settings, NOW) == 2
        later.duplicate_of_id = first.id
    summary = send_pending(sqlite_url, settings, max_attempts=3)
    assert (summary.sent, summary.suppressed) == (1, 1)
    assert len(recorder.received) == 1
    assert [n.status for n in rows(sqlite_url)] == ["sent", "suppressed"]


# --- concurrency and crashes ------------------------------------------------------------------


def test_two_concurrent_senders_send_each_once(db_url: str, tmp_path: Path, server: tuple[Recorder, int]) -> None:
    recorder, port = server
    settings = _settings(tmp_path, db_url, port)
    with session_scope(db_url) as s:
        for i in range(30):
            queue_progress(s, settings, i, f"user{i}@example.com")

    def run() -> int:
        return send_pending(own_sessionmaker(db_url), settings, max_attempts=3, batch_size=4).sent

    assert sum(run_threads(run, run)) == 30
    assert len(recorder.received) == 30
    assert len(set(recorder.message_ids())) == 30
    assert {(n.status, n.attempts) for n in rows(db_url)} == {("sent", 1)}


def test_claim_batch_takes_at_most_limit_and_reclaims_after_lease(db_url: str, tmp_path: Path) -> None:
    settings = _settings(tmp_path, db_url)
    with session_scope(db_url) as s:
        for i in range(10):
            queue_progress(s, settings, i, f"user{i}@example.com")

    def claim(limit: int, at: datetime) -> list[tuple[int, int]]:
        with session_scope(db_url) as s:
            return [(n.id, n.attempts) for n in claim_batch(s, limit, at)]

    ids = [n.id for n in rows(db_url)]
    assert claim(4, NOW) == [(i, 1) for i in ids[:4]]
    assert claim(100, NOW) == [(i, 1) for i in ids[4:]]
    assert claim(100, NOW + timedelta(minutes=9)) == []
    assert claim(3, NOW + timedelta(minutes=11)) == [(i, 2) for i in ids[:3]]
    assert {n.status for n in rows(db_url)} == {"sending"}


def test_crash_between_claim_and_send_resends_after_lease(
    db_url: str, tmp_path: Path, server: tuple[Recorder, int]
) -> None:
    recorder, port = server
    settings = _settings(tmp_path, db_url, port)
    with session_scope(db_url) as s:
        queue_progress(s, settings, 1, "a@example.com")
    with session_scope(db_url) as s:
        assert len(claim_batch(s, 10, NOW)) == 1  # committed as "sending", then the run "dies"

    assert send_pending(db_url, settings, max_attempts=3, now=NOW + timedelta(minutes=1)).sent == 0
    assert len(recorder.received) == 0
    assert send_pending(db_url, settings, max_attempts=3, now=NOW + timedelta(minutes=11)).sent == 1
    assert send_pending(db_url, settings, max_attempts=3, now=NOW + timedelta(minutes=30)).sent == 0
    assert len(recorder.received) == 1
    [n] = rows(db_url)
    assert (n.status, n.attempts) == ("sent", 2)


def test_crash_during_last_attempt_fails_without_resend(sqlite_url: str, tmp_path: Path) -> None:
    settings = _settings(tmp_path, sqlite_url)
    with session_scope(sqlite_url) as s:
        queue_progress(s, settings, 1, "a@example.com")
        assert len(claim_batch(s, 10, NOW)) == 1
    summary = send_pending(sqlite_url, settings, max_attempts=1, now=NOW + timedelta(minutes=11))
    assert (summary.sent, summary.failed) == (0, 1)
    [n] = rows(sqlite_url)
    assert n.status == "failed" and "gave up after 1 attempts" in (n.last_error or "")
    assert not settings.outbox_path.exists()


# --- SMTP errors ------------------------------------------------------------------------------


def test_451_is_retried_next_run(sqlite_url: str, tmp_path: Path, server: tuple[Recorder, int]) -> None:
    recorder, port = server
    recorder.temp_failures = 1
    settings = _settings(tmp_path, sqlite_url, port)
    with session_scope(sqlite_url) as s:
        queue_progress(s, settings, 1, "a@example.com")

    first = send_pending(sqlite_url, settings, max_attempts=3)
    assert (first.sent, first.retried, first.failed) == (0, 1, 0)
    [n] = rows(sqlite_url)
    assert (n.status, n.attempts) == ("pending", 1) and "451" in (n.last_error or "")

    second = send_pending(sqlite_url, settings, max_attempts=3)
    assert second.sent == 1
    [n] = rows(sqlite_url)
    assert (n.status, n.attempts) == ("sent", 2)
    assert len(recorder.received) == 1


def test_550_fails_only_that_recipient(sqlite_url: str, tmp_path: Path, server: tuple[Recorder, int]) -> None:
    recorder, port = server
    recorder.refuse = {"gone@example.com"}
    settings = _settings(tmp_path, sqlite_url, port)
    with session_scope(sqlite_url) as s:
        for i, rcpt in enumerate(["a@example.com", "gone@example.com", "b@example.com"]):
            queue_progress(s, settings, i, rcpt)

    summary = send_pending(sqlite_url, settings, max_attempts=3)
    assert (summary.sent, summary.failed, summary.retried) == (2, 1, 0)
    assert len(summary.failures) == 1 and "550" in summary.failures[0]
    assert "gone@example.com" not in summary.failures[0]  # masked
    status = {n.recipient: (n.status, n.last_error) for n in rows(sqlite_url)}
    assert status["gone@example.com"][0] == "failed" and "550" in (status["gone@example.com"][1] or "")
    assert status["a@example.com"] == ("sent", None) and status["b@example.com"] == ("sent", None)
    assert sorted(r[0] for _, r, _ in recorder.received) == ["a@example.com", "b@example.com"]


def test_connection_refused_retries_until_max_attempts(sqlite_url: str, tmp_path: Path) -> None:
    settings = _settings(tmp_path, sqlite_url, _closed_port())
    with session_scope(sqlite_url) as s:
        for i in range(4):
            queue_progress(s, settings, i, f"user{i}@example.com")

    first = send_pending(sqlite_url, settings, max_attempts=2)
    assert (first.sent, first.retried, first.failed) == (0, 4, 0)
    assert all(
        n.status == "pending" and n.attempts == 1 and "connect" in (n.last_error or "") for n in rows(sqlite_url)
    )

    second = send_pending(sqlite_url, settings, max_attempts=2)
    assert (second.retried, second.failed) == (0, 4)
    assert all(n.status == "failed" and "gave up after 2 attempts" in (n.last_error or "") for n in rows(sqlite_url))


def test_silent_server_times_out_as_temporary(sqlite_url: str, tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts TCP connections, never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        settings = _settings(tmp_path, sqlite_url, silent.getsockname()[1], smtp_timeout=0.3)
        with session_scope(sqlite_url) as s:
            queue_progress(s, settings, 1, "a@example.com")
        summary = send_pending(sqlite_url, settings, max_attempts=3)
    assert summary.retried == 1
    [n] = rows(sqlite_url)
    assert n.status == "pending" and "Timeout" in (n.last_error or "")


# --- TLS and AUTH -----------------------------------------------------------------------------


def test_starttls_with_auth(sqlite_url: str, tmp_path: Path, tls_files: tuple[Path, Path]) -> None:
    recorder = Recorder()
    ctl = EphemeralController(
        recorder,
        hostname="127.0.0.1",
        port=0,
        tls_context=_server_tls(tls_files),
        require_starttls=True,
        authenticator=recorder.authenticate,
        auth_required=True,
    )
    ctl.start()
    try:
        good = _settings(
            tmp_path, sqlite_url, ctl.port, smtp_starttls=True, smtp_username="mailer", smtp_password="s3cret"
        )
        bad = good.model_copy(update={"smtp_password": SecretStr("wrong")})
        with session_scope(sqlite_url) as s:
            queue_progress(s, good, 1, "a@example.com")

        refused = send_pending(
            sqlite_url, bad, max_attempts=3, sender=SmtpSender(bad, tls_context=_client_tls(tls_files))
        )
        assert refused.retried == 1 and not recorder.received
        [n] = rows(sqlite_url)
        assert n.status == "pending" and "535" in (n.last_error or "")

        ok = send_pending(sqlite_url, good, max_attempts=3, sender=SmtpSender(good, tls_context=_client_tls(tls_files)))
        assert ok.sent == 1
        assert recorder.logins == ["mailer"] and len(recorder.received) == 1
    finally:
        ctl.stop()


def test_starttls_with_untrusted_certificate_is_temporary(
    sqlite_url: str, tmp_path: Path, tls_files: tuple[Path, Path]
) -> None:
    recorder = Recorder()
    ctl = EphemeralController(
        recorder, hostname="127.0.0.1", port=0, tls_context=_server_tls(tls_files), require_starttls=True
    )
    ctl.start()
    try:
        settings = _settings(tmp_path, sqlite_url, ctl.port, smtp_starttls=True)
        with session_scope(sqlite_url) as s:
            queue_progress(s, settings, 1, "a@example.com")
        summary = send_pending(sqlite_url, settings, max_attempts=3)  # system trust store
        assert summary.retried == 1 and not recorder.received
    finally:
        ctl.stop()


def test_implicit_tls(sqlite_url: str, tmp_path: Path, tls_files: tuple[Path, Path]) -> None:
    recorder = Recorder()
    ctl = EphemeralController(recorder, hostname="127.0.0.1", port=0, ssl_context=_server_tls(tls_files))
    ctl.start()
    try:
        settings = _settings(tmp_path, sqlite_url, ctl.port, smtp_implicit_tls=True)
        with session_scope(sqlite_url) as s:
            queue_progress(s, settings, 1, "a@example.com")
        sender = SmtpSender(settings, tls_context=_client_tls(tls_files))
        assert send_pending(sqlite_url, settings, max_attempts=3, sender=sender).sent == 1
        assert len(recorder.received) == 1
    finally:
        ctl.stop()


# --- headers, .eml outbox, reports ------------------------------------------------------------


def test_header_injection_reaches_only_the_recipient(
    sqlite_url: str, tmp_path: Path, server: tuple[Recorder, int]
) -> None:
    recorder, port = server
    settings = _settings(tmp_path, sqlite_url, port)
    with session_scope(sqlite_url) as s:
        s.add(
            Notification(
                idempotency_key="evil",
                kind="progress",
                recipient="victim@example.com",
                language="en",
                subject="Hello\r\nBcc: evil@example.com\r\n\r\nbody",
                body_text="text",
                body_html=None,
                attachments=[],
                message_id="<evil@wallet.example>",
                created_at=NOW,
            )
        )
    assert send_pending(sqlite_url, settings, max_attempts=3).sent == 1
    [(_, rcpts, msg)] = recorder.received
    assert rcpts == ["victim@example.com"]
    assert msg["Bcc"] is None and msg["To"] == "victim@example.com"
    assert msg["Subject"] == "Hello Bcc: evil@example.com body"


def test_eml_outbox_is_idempotent(sqlite_url: str, tmp_path: Path) -> None:
    settings = _settings(tmp_path, sqlite_url)  # no smtp_host: .eml files
    with session_scope(sqlite_url) as s:
        queue_progress(s, settings, 1, "a@example.com", language="zh")
        queue_progress(s, settings, 2, "b@example.com")
    assert send_pending(sqlite_url, settings, max_attempts=3).sent == 2
    assert send_pending(sqlite_url, settings, max_attempts=3).sent == 0
    files = sorted(settings.outbox_path.iterdir())
    assert len(files) == 2 and all(f.suffix == ".eml" for f in files)

    # A re-send (as after a crash) rewrites the same files instead of adding new ones.
    with session_scope(sqlite_url) as s:
        s.execute(update(Notification).values(status="pending"))
    assert send_pending(sqlite_url, settings, max_attempts=3).sent == 2
    assert sorted(settings.outbox_path.iterdir()) == files

    by_to = {}
    for f in files:
        msg = message_from_bytes(f.read_bytes(), policy=policy.default)
        assert isinstance(msg, EmailMessage)
        by_to[str(msg["To"])] = msg
    assert {n.message_id for n in rows(sqlite_url)} == {str(m["Message-ID"]) for m in by_to.values()}
    zh = by_to["a@example.com"].get_body(("plain",))
    assert zh is not None and "处理进展" in zh.get_content()


def test_report_emails_carry_the_pdfs(
    sqlite_url: str, tmp_path: Path, app_config: AppConfig, server: tuple[Recorder, int]
) -> None:
    recorder, port = server
    settings = _settings(tmp_path, sqlite_url, port)
    settings.reports_path.mkdir(parents=True)
    reports = []
    for kind in ("crisis", "lessons"):
        for lang in ("zh", "en"):
            name = f"{kind}-2026-W47-{lang}.pdf"
            (settings.reports_path / name).write_bytes(PDF + name.encode())
            reports.append(Report(kind=kind, period="2026-W47", language=lang, path=name))
    cfg = app_config.model_copy(
        update={
            "notifications": NotificationsConfig(
                stakeholders=[
                    StakeholderList(
                        name="execs", language="zh", recipients=["ceo@wallet.example", "coo@wallet.example"]
                    ),
                    StakeholderList(name="risk", language="en", recipients=["risk@wallet.example"]),
                ]
            )
        }
    )
    with session_scope(sqlite_url) as s:
        assert queue_report_emails(s, cfg, settings, reports) == 3
        assert queue_report_emails(s, cfg, settings, reports) == 0
    assert send_pending(sqlite_url, settings, max_attempts=3).sent == 3
    send_pending(sqlite_url, settings, max_attempts=3)

    assert len(recorder.received) == 3
    for _, [rcpt], msg in recorder.received:
        lang = "en" if rcpt.startswith("risk") else "zh"
        attached = {a.get_filename(): a.get_content() for a in msg.iter_attachments()}
        assert sorted(attached) == [f"crisis-2026-W47-{lang}.pdf", f"lessons-2026-W47-{lang}.pdf"]
        for filename, data in attached.items():
            assert data == PDF + filename.encode()
        assert "2026-W47" in msg["Subject"]
        assert ("周报" in msg["Subject"]) == (lang == "zh")
    assert {n.idempotency_key for n in rows(sqlite_url)} == {
        "report:2026-W47:execs:ceo@wallet.example",
        "report:2026-W47:execs:coo@wallet.example",
        "report:2026-W47:risk:risk@wallet.example",
    }


def test_missing_attachment_is_retried_then_failed(sqlite_url: str, tmp_path: Path, app_config: AppConfig) -> None:
    settings = _settings(tmp_path, sqlite_url)
    cfg = app_config.model_copy(
        update={
            "notifications": NotificationsConfig(
                stakeholders=[StakeholderList(name="x", recipients=["x@wallet.example"])]
            )
        }
    )
    with session_scope(sqlite_url) as s:
        queue_report_emails(
            s, cfg, settings, [Report(kind="crisis", period="2026-W47", language="zh", path="gone.pdf")]
        )
    assert send_pending(sqlite_url, settings, max_attempts=2).retried == 1
    assert send_pending(sqlite_url, settings, max_attempts=2).failed == 1
    [n] = rows(sqlite_url)
    assert n.status == "failed" and "gone.pdf" in (n.last_error or "")
