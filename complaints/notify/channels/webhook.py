"""Webhook channel for SMS and in-app push: JSON POSTs to a gateway, signed with HMAC-SHA256.

The gateway checks `X-Complaints-Signature: sha256=<hex>` over the exact body bytes with the shared
secret, and can drop a re-send by the `Idempotency-Key` header (the outbox row's stable Message-ID).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from complaints.core import pii
from complaints.core.models import Notification
from complaints.core.settings import Settings
from complaints.notify.channels.email import InvalidRecipient, Outcome, one_line

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
    """The normalised mainland mobile number, else InvalidRecipient."""
    if not pii.PHONE_RE.fullmatch(value.strip()):
        raise InvalidRecipient(f"invalid mobile number {pii.mask_text(one_line(value))!r}")
    return pii.normalise_contact(value) or ""


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
