"""Webhook channel for SMS and in-app push: JSON POSTs to a gateway, signed with HMAC-SHA256.

The gateway checks `X-Complaints-Signature: sha256=<hex>` over the exact body bytes with the shared
secret, and can drop a re-send by the `Idempotency-Key` header (the outbox row's stable Message-ID). Users' replies
come back the other way (inbound_app), signed the same way, and are recorded on their complaints.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import httpx

from complaints.core import pii
from complaints.core.models import Notification
from complaints.core.settings import Settings
from complaints.notify.channels.email import InvalidRecipient, Outcome, one_line
from complaints.notify.replies import Reply, record_reply

SIGNATURE_HEADER = "X-Complaints-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# Rate limiting and request timeouts are worth retrying; any other 4xx means the request itself is wrong.
_TEMPORARY_4XX = {408, 425, 429}


def sign(body: bytes, secret: str) -> str:
    """The HMAC-SHA256 signature of the body, as sent in the signature header."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, signature: str | None) -> bool:
    """True when the signature matches the body (constant-time comparison)."""
    return signature is not None and hmac.compare_digest(sign(body, secret), signature)


def phone_number(value: str) -> str:
    """The normalised mainland mobile number, else InvalidRecipient (13800138000 too: a message queued before it
    was known to stand for no one)."""
    number = pii.normalise_contact(value) if pii.PHONE_RE.fullmatch(value.strip()) else None
    if not number:
        raise InvalidRecipient(f"invalid mobile number {pii.mask_text(one_line(value))!r}")
    return number


@dataclass(frozen=True)
class WebhookMessage:
    notification_id: int
    message_id: str
    body: bytes  # exactly the signed bytes


def build_webhook_message(n: Notification) -> WebhookMessage:
    """The notification as a compact, key-sorted JSON body, so its signature is reproducible."""
    payload = {
        "id": n.message_id,
        "kind": n.kind,
        "to": phone_number(n.recipient),
        "language": n.language,
        "subject": one_line(n.subject),
        "text": n.body_text,
    }
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    return WebhookMessage(n.id, n.message_id, body)


def classify_response(status_code: int, text: str) -> Outcome:
    """Sent for 2xx; 5xx and retryable 4xx are temporary, the rest permanent (with a masked reason)."""
    if 200 <= status_code < 300:
        return Outcome("sent")
    kind = "temporary" if status_code >= 500 or status_code in _TEMPORARY_4XX else "permanent"
    return Outcome(kind, pii.mask_text(one_line(f"HTTP {status_code} {text[:200]}")))


class WebhookSender:
    """Bounded-concurrency POSTs over one connection pool; temporary failures retried with backoff and jitter."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout: float = 10.0,
        concurrency: int = 8,
        tries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        self.url, self.secret, self.timeout = url, secret, timeout
        self.concurrency, self.tries, self.backoff = concurrency, tries, backoff

    def deliver(self, batch: Sequence[WebhookMessage]) -> dict[int, Outcome]:
        return asyncio.run(self._deliver(batch))

    async def _deliver(self, batch: Sequence[WebhookMessage]) -> dict[int, Outcome]:
        limits = httpx.Limits(max_connections=self.concurrency)
        gate = asyncio.Semaphore(self.concurrency)
        async with httpx.AsyncClient(timeout=self.timeout, limits=limits) as client:

            async def one(item: WebhookMessage) -> tuple[int, Outcome]:
                async with gate:
                    return item.notification_id, await self._post(client, item)

            return dict(await asyncio.gather(*(one(item) for item in batch)))

    async def _post(self, client: httpx.AsyncClient, item: WebhookMessage) -> Outcome:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign(item.body, self.secret),
            IDEMPOTENCY_HEADER: item.message_id,
        }
        attempt = 0
        while True:
            try:
                response = await client.post(self.url, content=item.body, headers=headers)
                outcome = classify_response(response.status_code, response.text)
            except httpx.HTTPError as exc:  # connect errors, timeouts, dropped connections
                outcome = Outcome("temporary", pii.mask_text(one_line(f"{type(exc).__name__}: {exc}")))
            attempt += 1
            if outcome.status != "temporary" or attempt >= self.tries:
                return outcome
            await asyncio.sleep(self.backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.5))


def make_webhook_sender(settings: Settings) -> WebhookSender | None:
    """A sender when a webhook URL is configured, else None; a URL without a secret is refused."""
    if not settings.webhook_url:
        return None
    if not settings.webhook_secret.get_secret_value():
        raise ValueError(
            "COMPLAINTS_WEBHOOK_URL is set but COMPLAINTS_WEBHOOK_SECRET is empty: requests would be unsigned"
        )
    return WebhookSender(
        settings.webhook_url, settings.webhook_secret.get_secret_value(), timeout=settings.webhook_timeout
    )


# --- inbound: the gateway posts users' SMS and push replies back --------------------------------

MAX_INBOUND_BYTES = 64 * 1024


class InboundRefused(ValueError):
    """An inbound request that is not a signed, well-formed reply; `status` is the HTTP status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def parse_inbound(body: bytes, secret: str, signature: str | None, now: datetime) -> Reply:
    """A gateway's reply callback, signed as our own requests are (X-Complaints-Signature over the exact body):
    {"id": gateway message id, "from": mobile, "text": ..., "reply_to": our message's id (optional),
    "received_at": ISO 8601 (optional, default now)}."""
    if not secret or not verify(body, secret, signature):
        raise InboundRefused(401, "bad or missing signature")
    try:
        payload = json.loads(body)
        received = datetime.fromisoformat(payload["received_at"]) if payload.get("received_at") else now
        reply = Reply(channel="webhook", message_id=str(payload["id"]), sender=str(payload["from"]),
                      text=str(payload["text"]), received_at=received if received.tzinfo else received.replace(
                          tzinfo=UTC), answers=(str(payload["reply_to"]),) if payload.get("reply_to") else ())
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InboundRefused(400, f"not a reply: {type(exc).__name__}") from exc
    return reply


def inbound_app(db_url: str, secret: str, pii_key: str) -> Callable[..., Iterable[bytes]]:
    """A WSGI application taking the gateway's POSTed replies: 200 with the ticket when recorded on a complaint (the
    transaction, for a reply to a call-back after a transaction), 404 when nothing matches (the gateway can then
    submit it as a new complaint), 400/401/413 when refused."""
    from complaints.core.db import session_scope

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def answer(status: int, payload: dict[str, Any]) -> list[bytes]:
            start_response(f"{status} {HTTPStatus(status).phrase}", [("Content-Type", "application/json")])
            return [json.dumps(payload).encode()]

        if environ.get("REQUEST_METHOD") != "POST":
            return answer(405, {"error": "POST only"})
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX_INBOUND_BYTES:
            return answer(413, {"error": "too large"})
        body = environ["wsgi.input"].read(length)
        try:
            reply = parse_inbound(body, secret, environ.get("HTTP_X_COMPLAINTS_SIGNATURE"), datetime.now(UTC))
        except InboundRefused as exc:
            return answer(exc.status, {"error": str(exc)})
        with session_scope(db_url) as session:
            recorded = record_reply(session, reply, pii_key)
        if recorded is None:
            return answer(404, {"error": "no complaint matches this reply"})
        subject = ({"ticket": f"C{recorded.complaint_id:08d}"} if recorded.complaint_id is not None
                   else {"transaction": recorded.transaction_id})
        return answer(200, {**subject, "new": recorded.new, "score": recorded.score})

    return app
