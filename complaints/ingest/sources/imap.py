"""IMAP connector: each unseen message of a folder becomes a record; it is marked \\Seen after its batch commits.

Messages are fetched with BODY.PEEK (reading does not set \\Seen). A crash before the commit leaves them
unseen, so the next run reads them again; a crash between the commit and the flag update does too, and the
unique (source, external_id) key absorbs the repeat. A backfill searches seen and unseen messages by their
Date header and changes no flags.
"""

from __future__ import annotations

import codecs
import contextlib
import email
import email.policy
import hashlib
import imaplib
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, MIMEPart
from email.utils import parsedate_to_datetime
from functools import partial
from html.parser import HTMLParser
from typing import Any, cast

from complaints.core.config import ImapSourceSpec
from complaints.core.records import IncomingFile, RawRecord
from complaints.ingest.sources.base import Batch, Window, resolve_secret
from complaints.ingest.sources.encoding import detect_encoding

# An unreadable message is quarantined with its source text cut to this size (attachments can be huge).
MAX_RAW_CHARS = 200_000
_UID_RE = re.compile(rb"\bUID (\d+)")
_INTERNALDATE_RE = re.compile(rb'INTERNALDATE "([^"]+)"')
# Elements whose text is not content, and elements that end a line.
_SKIPPED_TAGS = {"script", "style", "head", "title", "template"}
_BLOCK_TAGS = {"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table"}


class ImapError(RuntimeError):
    """The server refused a login, a folder or a command."""


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """The visible text of an HTML mail body: tags, scripts and styles dropped, entities decoded."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def _decode_part(part: MIMEPart) -> str:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    declared = part.get_content_charset() or "us-ascii"
    try:
        name = codecs.lookup(declared).name
        # Chinese mail declared gb2312 routinely holds GBK characters; GB18030 is a superset of both.
        return data.decode("gb18030" if name in ("gb2312", "gbk") else name)
    except (LookupError, UnicodeDecodeError):
        guess = detect_encoding(data)
    try:
        return data.decode(guess)
    except (LookupError, UnicodeDecodeError) as exc:
        raise UnicodeError(f"broken encoding in body (declared {declared}, guessed {guess})") from exc


def _body(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    text = _decode_part(part)
    return html_to_text(text) if part.get_content_subtype() == "html" else text


def _attachments(msg: EmailMessage, max_bytes: int | None) -> tuple[IncomingFile, ...]:
    """The message's attachments (every part that is not its text body), as sent: decoded from their transfer
    encoding, nothing else; a part that does not decode (a forwarded message, a broken encoding) is unreadable, and
    one whose encoding is already over `max_bytes` is not decoded."""
    files = []
    for part in msg.iter_attachments():
        encoded = part.get_payload()
        # Base64 (how mail carries files) is sized before decoding; other encodings are never larger decoded.
        base64 = str(part.get("Content-Transfer-Encoding", "")).strip().lower() == "base64"
        if base64 and isinstance(encoded, str) and (big := IncomingFile.undecoded(
                part.get_filename(), part.get_content_type(), encoded, max_bytes)):
            files.append(big)
            continue
        try:
            payload = part.get_payload(decode=True)
        except Exception:  # the email package raises assorted errors on malformed parts
            payload = None
        name = part.get_filename()
        declared = part.get_content_type()
        if isinstance(payload, bytes):
            files.append(IncomingFile(name, declared, payload, len(payload)))
        else:
            files.append(IncomingFile(name, declared, None, 0, f"a {declared} part that does not decode to a file"))
    return tuple(files)


def _received(msg: EmailMessage, internaldate: datetime | None) -> datetime | None:
    """The Date header; the server's arrival time when it is missing or unreadable."""
    try:
        sent = parsedate_to_datetime(str(msg["Date"])) if msg["Date"] else None
    except (TypeError, ValueError):
        sent = None
    if sent is None:
        return internaldate
    return sent if sent.tzinfo else sent.replace(tzinfo=UTC)  # "-0000": UTC, sender's zone unknown


def message_record(uid: int, raw: bytes, folder: str, internaldate: datetime | None = None,
                   max_file_bytes: int | None = None) -> RawRecord:
    """One fetched message as the fields IMAP_MAPPING names, or an error record the quarantine keeps."""
    location = f"imap:{folder} uid {uid}"
    try:
        msg = cast(EmailMessage, email.message_from_bytes(raw, policy=email.policy.default))
        message_id = " ".join(str(msg["Message-ID"] or "").split())
        received = _received(msg, internaldate)
        addresses = getattr(msg["From"], "addresses", ())
        data: dict[str, Any] = {
            "uid": uid,
            # Without a Message-ID the message's own bytes identify it (the same message is read again).
            "message_id": message_id or "sha256:" + hashlib.sha256(raw).hexdigest(),
            "date": received.isoformat() if received else None,
            "subject": " ".join(str(msg["Subject"] or "").split()),  # folds CR/LF, even RFC 2047-encoded ones
            "from": addresses[0].addr_spec if addresses else None,
            "body": _body(msg),
            # What a reply answers: matched against the outbox (complaints.notify.replies), not stored as a complaint.
            "in_reply_to": " ".join(str(msg["In-Reply-To"] or "").split()) or None,
            "references": " ".join(str(msg["References"] or "").split()) or None,
        }
        files = _attachments(msg, max_file_bytes)
    # The email package raises assorted exception types on malformed input; one message must not stop the run.
    except Exception as exc:
        return RawRecord(location, {"_raw": raw.decode("utf-8", "replace")[:MAX_RAW_CHARS]},
                         f"unreadable message: {exc}")
    return RawRecord(location, data, files=files)


def _check(response: tuple[str, list[Any]], what: str) -> list[Any]:
    status, data = response
    if status != "OK":
        raise ImapError(f"{what}: {status} {data!r}")
    return data


def _search_criteria(window: Window) -> list[str]:
    if not window.backfill:
        return ["UNSEEN"]
    # SENTSINCE/SENTBEFORE compare days of the Date header in its own zone: widen by a day each side,
    # ingest keeps only what falls in the exact window.
    criteria = ["ALL"]
    if window.since:
        criteria += ["SENTSINCE", (window.since - timedelta(days=1)).strftime("%d-%b-%Y")]
    if window.until:
        criteria += ["SENTBEFORE", (window.until + timedelta(days=1)).strftime("%d-%b-%Y")]
    return criteria


def _internaldate(meta: bytes) -> datetime | None:
    match = _INTERNALDATE_RE.search(meta)
    if not match:
        return None
    try:
        return datetime.strptime(match.group(1).decode().strip(), "%d-%b-%Y %H:%M:%S %z")
    except ValueError:
        return None


class ImapConnector:
    skipped = 0

    def __init__(self, spec: ImapSourceSpec, max_file_bytes: int | None = None) -> None:
        self.spec = spec
        self.max_file_bytes = max_file_bytes

    def _connect(self) -> imaplib.IMAP4:
        spec = self.spec
        port = spec.port or (993 if spec.ssl else 143)
        client = (imaplib.IMAP4_SSL if spec.ssl else imaplib.IMAP4)(spec.host, port, timeout=spec.timeout_seconds)
        try:
            try:
                client.login(spec.username, resolve_secret(spec.password))
            except imaplib.IMAP4.error as exc:
                raise ImapError(f"{spec.host}:{port}: login as {spec.username} failed: {exc}") from exc
            # Read-write: flags are set after each commit.
            _check(client.select(f'"{spec.folder}"'), f"folder {spec.folder!r}")
        except BaseException:
            self._close(client)
            raise
        return client

    @staticmethod
    def _close(client: imaplib.IMAP4) -> None:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            client.logout()

    @staticmethod
    def _mark_seen(client: imaplib.IMAP4, uids: list[bytes]) -> None:
        _check(client.uid("STORE", b",".join(uids).decode(), "+FLAGS.SILENT", r"(\Seen)"), "marking \\Seen")

    def _fetch(self, client: imaplib.IMAP4, uids: list[bytes]) -> list[RawRecord]:
        data = _check(client.uid("FETCH", b",".join(uids).decode(), "(BODY.PEEK[] INTERNALDATE)"), "FETCH")
        records = []
        for item in data:
            # A message is (b'<seq> (UID <n> INTERNALDATE "..." BODY[] {<size>}', <bytes>); b')' closes it.
            if not isinstance(item, tuple):
                continue
            meta, raw = item
            match = _UID_RE.search(meta)
            if match:
                records.append(message_record(int(match.group(1)), raw, self.spec.folder, _internaldate(meta),
                                              self.max_file_bytes))
        return records

    def batches(self, state: dict[str, Any], window: Window) -> Iterator[Batch]:
        client = self._connect()
        try:
            found = _check(client.uid("SEARCH", *_search_criteria(window)), "SEARCH")
            uids = found[0].split() if found and found[0] else []
            size = self.spec.batch_size
            for start in range(0, len(uids), size):
                chunk = uids[start : start + size]
                # Messages that cannot be read are quarantined (with their source text) and marked seen
                # like the rest: the quarantine is their retry path (`quarantine replay`), whereas leaving them
                # unseen would re-read them every run forever, and UIDs kept in state break when the server
                # resets UIDVALIDITY. A backfill leaves flags alone.
                yield Batch(
                    f"{self.spec.folder} uids {chunk[0].decode()}-{chunk[-1].decode()}",
                    self._fetch(client, chunk),
                    dict(state),
                    None if window.backfill else partial(self._mark_seen, client, chunk),
                )
        finally:
            self._close(client)
