"""The webhook channel (SMS / in-app push) against a real loopback HTTP server that checks signatures."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from complaints.core.config import AppConfig, UserPolicy
from complaints.core.db import session_scope
from complaints.core.models import Incident, Notification
from complaints.core.settings import Settings
from complaints.notify.channels.webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    WebhookSender,
    make_webhook_sender,
    sign,
    verify,
)
from complaints.notify.outbox import queue_acknowledgements, queue_message, route_user, send_pending
from complaints.notify.updates import queue_updates
from tests.factories import complaint
from tests.notify.test_notify_updates import NOW, incident

SECRET = "gateway-shared-secret"


@dataclass
class Gateway:
    """Answers each POST with the next scripted status (200 when the script is used up); 401 on a bad signature."""

    script: list[int] = field(default_factory=list)
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    bad_signatures: int = 0
    url: str = ""

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        if not verify(body, SECRET, headers.get(SIGNATURE_HEADER)):
            self.bad_signatures += 1
            return 401
        self.requests.append((headers, body))
        return self.script.pop(0) if self.script else 200


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    gw = Gateway()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = gw.answer(dict(self.headers.items()), body)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    gw.url = f"http://127.0.0.1:{server.server_address[1]}/sms"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield gw
    server.shutdown()
    server.server_close()


def _settings(tmp_path: Path, url: str, gw: Gateway) -> Settings:
    return Settings(var_dir=tmp_path / "var", database_url=url, webhook_url=gw.url, webhook_secret=SECRET)


def _sender(gw: Gateway, secret: str = SECRET, tries: int = 3) -> WebhookSender:
    return WebhookSender(gw.url, secret, tries=tries, backoff=0.01, timeout=5)


def _queue_sms(url: str, settings: Settings, n: int, phone: str = "+86 138-1234-5678") -> None:
    pol = UserPolicy()
    with session_scope(url) as s:
        queue_message(
            s,
            key=f"progress:{n}",
            kind="progress",
            recipient=phone,
            language="zh",
            template="progress",
            context={"ticket": f"C{n:08d}", "progress_note": "正在处理"},
            settings=settings,
            user=route_user(phone, f"k{n}", None, settings, pol, kind="progress", now=NOW),
        )


def rows(url: str) -> list[Notification]:
    with session_scope(url) as s:
        return list(s.scalars(select(Notification).order_by(Notification.id)))


def test_incident_update_by_sms_retries_503_then_delivers(
    db_url: str, tmp_path: Path, app_config: AppConfig, gateway: Gateway
) -> None:
    gateway.script = [503]
    settings = _settings(tmp_path, db_url, gateway)
    with session_scope(db_url) as s:
        inc = incident(s, "investigating")
        complaint(s, "转账延迟", contact="138 1234 5678", incident_id=inc.id)
        complaint(s, "转账延迟两天", contact="+8613812345678", incident_id=inc.id)  # same person
        complaint(s, "transfer delayed", contact="b@example.com", incident_id=inc.id)
        assert queue_updates(s, app_config, settings, NOW)["progress"] == 2

    summary = send_pending(db_url, settings, max_attempts=3, webhook=_sender(gateway), now=NOW)
    assert (summary.sent, summary.failed, summary.retried) == (2, 0, 0)
    assert gateway.bad_signatures == 0
    [(first_headers, first), (headers, body)] = gateway.requests  # the 503, then the same request again
    assert first == body and first_headers[SIGNATURE_HEADER] == headers[SIGNATURE_HEADER] == sign(body, SECRET)
    payload = json.loads(body)
    sms = next(n for n in rows(db_url) if n.channel == "webhook")
    assert payload["to"] == "13812345678" and payload["kind"] == "progress" and payload["id"] == sms.message_id
    assert headers[IDEMPOTENCY_HEADER] == sms.message_id
    assert "正在调查原因" in payload["text"] and "\n" not in payload["subject"]
    assert {(n.channel, n.status) for n in rows(db_url)} == {("webhook", "sent"), ("email", "sent")}
    with session_scope(db_url) as s:
        assert s.scalar(select(Incident.status)) == "investigating"


def test_wrong_secret_is_a_permanent_failure(sqlite_url: str, tmp_path: Path, gateway: Gateway) -> None:
    settings = _settings(tmp_path, sqlite_url, gateway)
    _queue_sms(sqlite_url, settings, 1)
    summary = send_pending(sqlite_url, settings, max_attempts=3, webhook=_sender(gateway, "wrong"), now=NOW)
    assert (summary.sent, summary.failed) == (0, 1)
    assert gateway.bad_signatures == 1  # 401 is not retried
    [n] = rows(sqlite_url)
    assert n.status == "failed" and "HTTP 401" in (n.last_error or "")


def test_server_errors_retry_on_later_runs(sqlite_url: str, tmp_path: Path, gateway: Gateway) -> None:
    gateway.script = [500, 502]
    settings = _settings(tmp_path, sqlite_url, gateway)
    _queue_sms(sqlite_url, settings, 1)
    first = send_pending(sqlite_url, settings, max_attempts=3, webhook=_sender(gateway, tries=2), now=NOW)
    assert first.retried == 1 and "HTTP 502" in first.failures[0]
    [n] = rows(sqlite_url)
    assert (n.status, n.attempts) == ("pending", 1)
    later = NOW + timedelta(minutes=5)
    assert send_pending(sqlite_url, settings, max_attempts=3, webhook=_sender(gateway), now=later).sent == 1
    assert len(gateway.requests) == 3


def test_unreachable_gateway_is_temporary(sqlite_url: str, tmp_path: Path, gateway: Gateway) -> None:
    settings = _settings(tmp_path, sqlite_url, gateway)
    _queue_sms(sqlite_url, settings, 1)
    closed = WebhookSender("http://127.0.0.1:9/sms", SECRET, tries=2, backoff=0.01, timeout=2)
    assert send_pending(sqlite_url, settings, max_attempts=3, webhook=closed, now=NOW).retried == 1
    [n] = rows(sqlite_url)
    assert n.status == "pending" and "ConnectError" in (n.last_error or "")


def test_bad_number_fails_and_unconfigured_channel_suppresses(
    sqlite_url: str, tmp_path: Path, gateway: Gateway
) -> None:
    settings = _settings(tmp_path, sqlite_url, gateway)
    with session_scope(sqlite_url) as s:
        # A header smuggled into the number; the operator's own number, queued before it was known to stand for no
        # one (it was posted with an empty "to").
        for key, recipient in (("evil", "13812345678\r\nX-Evil: 1"), ("placeholder", "13800138000")):
            s.add(Notification(idempotency_key=key, kind="progress", recipient=recipient, language="en", subject="s",
                               body_text="t", message_id=f"<{key}@wallet.example>", channel="webhook",
                               created_at=NOW))
    _queue_sms(sqlite_url, settings, 2)
    assert send_pending(sqlite_url, settings, max_attempts=3, webhook=_sender(gateway), now=NOW).failed == 2
    [evil, placeholder, ok] = rows(sqlite_url)
    for failed in (evil, placeholder):
        assert failed.status == "failed" and "invalid mobile number" in (failed.last_error or "")
    assert "12345678" not in (evil.last_error or "")  # masked
    assert ok.status == "sent"

    _queue_sms(sqlite_url, settings, 3)
    no_webhook = Settings(var_dir=tmp_path / "var", database_url=sqlite_url)
    assert send_pending(sqlite_url, no_webhook, max_attempts=3, now=NOW).suppressed == 1
    assert rows(sqlite_url)[-1].last_error == "no channel"
    assert len(gateway.requests) == 1


def test_signature_helpers() -> None:
    body = json.dumps({"a": 1}).encode()
    assert verify(body, SECRET, sign(body, SECRET))
    assert not verify(body + b" ", SECRET, sign(body, SECRET))
    assert not verify(body, SECRET, None)


def test_phone_acknowledgement_goes_by_webhook_when_configured_and_never_to_a_placeholder(
    sqlite_url: str, tmp_path: Path, app_config: AppConfig, gateway: Gateway
) -> None:
    settings = _settings(tmp_path, sqlite_url, gateway)
    with session_scope(sqlite_url) as s:
        complaint(s, "转账延迟", contact="138 1234 5678", processed_at=NOW, at=NOW - timedelta(hours=1))
        complaint(s, "转账延迟", contact="wechat:zhang", processed_at=NOW, at=NOW - timedelta(hours=1))
        # What an agent typed for a caller without a number, or a form for no address: the operator's number, a
        # stranger's mailbox. Never sent to.
        for typed in ("138 0013 8000", "none@qq.com"):
            complaint(s, "转账延迟", contact=typed, processed_at=NOW, at=NOW - timedelta(hours=1))
        assert queue_acknowledgements(s, app_config, settings, NOW) == 1
    assert send_pending(sqlite_url, settings, max_attempts=3, webhook=_sender(gateway), now=NOW).sent == 1
    [(_, body)] = gateway.requests
    assert json.loads(body)["kind"] == "acknowledgement" and json.loads(body)["to"] == "13812345678"


def test_webhook_needs_a_secret(tmp_path: Path) -> None:
    assert make_webhook_sender(Settings(var_dir=tmp_path)) is None
    with pytest.raises(ValueError, match="WEBHOOK_SECRET"):
        make_webhook_sender(Settings(var_dir=tmp_path, webhook_url="http://127.0.0.1:9/sms"))
