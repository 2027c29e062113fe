"""Email: turn an outbox row into a safe MIME message, and deliver batches (SMTP or .eml files).

Senders never touch the database: they get built messages and return one outcome per
notification id; complaints.notify.outbox owns the outbox state.
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import os
import re
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from email import encoders
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import Literal, Protocol

import aiosmtplib

from complaints.core.models import Notification
from complaints.core.pii import mask_text, no_one
from complaints.core.settings import Settings
from complaints.core.statuses import MessageKind

# ASCII addr-spec only: internationalised addresses would need SMTPUTF8 end to end.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDRESS_RE = re.compile(
    rf"{_ATOM}(?:\.{_ATOM})*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+[A-Za-z]{{2,63}}"
)
# C0/C1 controls plus the Unicode line and paragraph separators some mail clients honour.
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_FILE_UNSAFE_RE = re.compile(r"[^A-Za-z0-9._@-]")


class InvalidRecipient(ValueError):
    """The address cannot be sent to; retrying will not help."""


def one_line(value: str) -> str:
    """Header-safe text: control characters (CR/LF included) become spaces, whitespace collapses."""
    return " ".join(_CONTROL_RE.sub(" ", value).split())


def valid_address(value: str) -> str:
    """The bare address if it is a single plain addr-spec, else InvalidRecipient."""
    address = value.strip()
    local = address.partition("@")[0]
    if len(address) > 254 or len(local) > 64 or not _ADDRESS_RE.fullmatch(address):
        raise InvalidRecipient(f"invalid recipient address {mask_text(one_line(value))!r}")
    return address


def envelope_sender(mail_from: str) -> str:
    """The addr-spec of the From setting; raises ValueError on a misconfigured From."""
    return valid_address(parseaddr(one_line(mail_from))[1])


def make_message_id(key: str, mail_from: str) -> str:
    """Stable per outbox row, so a receiver can recognise a re-send of the same message."""
    domain = envelope_sender(mail_from).rpartition("@")[2]
    return f"<notif-{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def _header(value: str) -> str | Header:
    value = one_line(value)
    return value if value.isascii() else Header(value, "utf-8")


def _text_part(text: str, subtype: str) -> MIMEText:
    if text.isascii() and all(len(line) <= 998 for line in text.splitlines()):
        return MIMEText(text, subtype, "us-ascii")  # 7bit
    # Base64 (not raw 8bit: servers without 8BITMIME would break it), over the canonical CRLF form.
    return MIMEText(text.replace("\r\n", "\n").replace("\n", "\r\n"), subtype, "utf-8")


# Staff get escalations and reports (noreply@ and test@ are theirs to use); every other message is a complainant's.
STAFF_KINDS = frozenset({MessageKind.escalation, MessageKind.report})


def _recipient(n: Notification) -> str:
    """The bare address to send to; a complainant's address that stands for no one (none@qq.com, queued before that
    was known) is InvalidRecipient: someone else's mailbox."""
    address = valid_address(n.recipient)
    if n.kind not in STAFF_KINDS and no_one(address):
        raise InvalidRecipient(f"no one's address {mask_text(one_line(n.recipient))!r} (what is typed for none)")
    return address


def build_message(n: Notification, mail_from: str) -> Message:
    """A multipart/alternative message (plus attachments) for one outbox row.

    Raises InvalidRecipient for an unusable address and OSError for an unreadable attachment.
    Every header value is flattened to one line first (the recipient must be a bare address),
    so no user-supplied text can add a header. Built with the compat32 classes: the modern
    EmailMessage API re-parses every header and cost ~3 ms a message, the bulk of a send.
    """
    body = MIMEMultipart("alternative", _subparts=[_text_part(n.body_text, "plain")])
    if n.body_html:
        body.attach(_text_part(n.body_html, "html"))
    msg = body
    if n.attachments:
        msg = MIMEMultipart("mixed", _subparts=[body])
        for name in n.attachments:
            path = Path(name)
            maintype, _, subtype = (mimetypes.guess_type(path.name)[0] or "application/octet-stream").partition("/")
            part = MIMEBase(maintype, subtype)
            part.set_payload(path.read_bytes())
            encoders.encode_base64(part)
            part.add_header("Content-Disposition", "attachment", filename=one_line(path.name))
            msg.attach(part)
    display, address = parseaddr(one_line(mail_from))
    msg["From"] = formataddr((display, address), "utf-8")
    msg["To"] = _recipient(n)
    msg["Subject"] = _header(n.subject)
    msg["Date"] = format_datetime(n.created_at)
    msg["Message-ID"] = one_line(n.message_id)
    return msg


@dataclass(frozen=True)
class Outgoing:
    notification_id: int
    sender: str  # envelope sender
    recipient: str  # the only envelope recipient; never taken from headers
    message: Message


@dataclass(frozen=True)
class Outcome:
    status: Literal["sent", "temporary", "permanent"]
    detail: str = ""


SENT = Outcome("sent")


class Sender(Protocol):
    def deliver(self, batch: Sequence[Outgoing]) -> dict[int, Outcome]:
        """One outcome per item, keyed by notification id; errors are outcomes, not exceptions."""
        ...


def eml_path(outbox_dir: Path, message_id: str) -> Path:
    """Where EmlSender writes the message with this Message-ID (also how `complaints forget` finds it)."""
    return outbox_dir / f"{_FILE_UNSAFE_RE.sub('_', message_id.strip().strip('<>'))}.eml"


class EmlSender:
    """Writes each message to outbox_dir as <message-id>.eml: a re-send overwrites the same file."""

    def __init__(self, outbox_dir: Path) -> None:
        self.outbox_dir = outbox_dir

    def path_for(self, item: Outgoing) -> Path:
        return eml_path(self.outbox_dir, str(item.message["Message-ID"]))

    def deliver(self, batch: Sequence[Outgoing]) -> dict[int, Outcome]:
        results: dict[int, Outcome] = {}
        for item in batch:
            try:
                self.outbox_dir.mkdir(parents=True, exist_ok=True)
                self._write(self.path_for(item), item.message.as_bytes())
                results[item.notification_id] = SENT
            except OSError as exc:
                results[item.notification_id] = Outcome("temporary", f"cannot write .eml: {exc}")
        return results

    def _write(self, target: Path, data: bytes) -> None:
        # Temp file in the same directory + os.replace: readers never see a half-written file.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".eml")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def classify_error(exc: BaseException) -> Outcome:
    """4xx, network trouble and timeouts are temporary; 5xx and unusable addresses are permanent."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        kind = "permanent" if 500 <= exc.code < 600 else "temporary"
        return Outcome(kind, mask_text(f"{exc.code} {one_line(exc.message)}"))
    if isinstance(exc, aiosmtplib.SMTPNotSupported | ValueError):
        # e.g. the message needs an extension the server lacks, or aiosmtplib rejects an address
        return Outcome("permanent", mask_text(one_line(str(exc))))
    return Outcome("temporary", mask_text(one_line(f"{type(exc).__name__}: {exc}")))


class SmtpSender:
    """aiosmtplib over a few parallel connections, each sending many messages in turn."""

    def __init__(self, settings: Settings, *, connections: int = 3, tls_context: ssl.SSLContext | None = None):
        self.settings = settings
        self.connections = connections
        # None means the system trust store; tests pass a context trusting their own CA.
        self.tls_context = tls_context

    def _client(self) -> aiosmtplib.SMTP:
        s = self.settings
        return aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username or None,
            password=s.smtp_password.get_secret_value() or None,
            use_tls=s.smtp_implicit_tls,
            # Explicit False: aiosmtplib would otherwise upgrade opportunistically.
            start_tls=s.smtp_starttls and not s.smtp_implicit_tls,
            timeout=s.smtp_timeout,
            tls_context=self.tls_context,
        )

    def deliver(self, batch: Sequence[Outgoing]) -> dict[int, Outcome]:
        return asyncio.run(self._deliver(batch))

    async def _deliver(self, batch: Sequence[Outgoing]) -> dict[int, Outcome]:
        results: dict[int, Outcome] = {}
        lanes = [list(batch[i :: self.connections]) for i in range(self.connections)]
        await asyncio.gather(*(self._lane(lane, results) for lane in lanes if lane))
        return results

    async def _lane(self, lane: list[Outgoing], results: dict[int, Outcome]) -> None:
        client = self._client()
        try:
            for pos, item in enumerate(lane):
                if not client.is_connected:
                    try:
                        await client.connect()  # also STARTTLS and AUTH
                    except (aiosmtplib.SMTPException, OSError) as exc:
                        # Refused, unreachable, TLS or login trouble: nothing in this lane was
                        # sent; all of it waits for the next run.
                        outcome = classify_error(exc)
                        outcome = Outcome("temporary", f"connect: {outcome.detail}")
                        results.update({rest.notification_id: outcome for rest in lane[pos:]})
                        return
                try:
                    await client.send_message(item.message, sender=item.sender, recipients=[item.recipient])
                    results[item.notification_id] = SENT
                except (aiosmtplib.SMTPException, OSError, ValueError) as exc:
                    # A dropped connection is re-opened for the next message by the check above.
                    results[item.notification_id] = classify_error(exc)
        finally:
            if client.is_connected:
                try:
                    await client.quit()
                except (aiosmtplib.SMTPException, OSError):
                    client.close()


def make_sender(settings: Settings) -> Sender:
    """SMTP when a host is configured, else .eml files in the outbox directory."""
    if settings.smtp_host:
        return SmtpSender(settings)
    return EmlSender(settings.outbox_path)
