"""Message building, address checks, error classification and the .eml sender (no network here)."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest

from complaints.core.models import Notification
from complaints.core.settings import Settings
from complaints.notify.channels.email import (
    EmlSender,
    InvalidRecipient,
    Outgoing,
    SmtpSender,
    build_message,
    classify_error,
    envelope_sender,
    make_message_id,
    make_sender,
    one_line,
    valid_address,
)

FROM = "投诉中心 <complaints@wallet.example>"
CREATED = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)


def notification(**kw: object) -> Notification:
    values: dict[str, object] = {
        "id": 7,
        "idempotency_key": "ack:complaint:7",
        "kind": "acknowledgement",
        "recipient": "zhang@example.com",
        "language": "zh",
        "subject": "【C00000007】我们已收到您的投诉",
        "body_text": "您好：我们已收到您的投诉。\n",
        "body_html": "<p>您好：&lt;script&gt;</p>",
        "attachments": [],
        "message_id": make_message_id("ack:complaint:7", FROM),
        "created_at": CREATED,
    }
    values.update(kw)
    return Notification(**values)


def parse(msg: EmailMessage) -> EmailMessage:
    parsed = message_from_bytes(msg.as_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_message_structure_and_chinese_roundtrip() -> None:
    n = notification()
    msg = parse(build_message(n, FROM))
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["To"] == "zhang@example.com"
    assert msg["From"].addresses[0].display_name == "投诉中心"
    assert msg["Subject"] == n.subject
    assert msg["Message-ID"] == n.message_id
    assert msg["Date"].datetime == CREATED
    text, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert text is not None and html is not None
    # Base64 text is encoded in canonical CRLF form (RFC 2045).
    assert text.get_content() == n.body_text.replace("\n", "\r\n")
    assert html.get_content().strip() == n.body_html
    # Base64, not raw 8-bit: survives relays without 8BITMIME.
    assert text["Content-Transfer-Encoding"] == "base64"
    assert all(b < 128 for b in build_message(n, FROM).as_bytes())


def test_attachments_make_a_mixed_message(tmp_path: Path) -> None:
    pdf = tmp_path / "crisis-2026-W47-zh.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%%EOF\n")
    msg = parse(build_message(notification(attachments=[str(pdf)]), FROM))
    assert msg.get_content_type() == "multipart/mixed"
    [att] = list(msg.iter_attachments())
    assert att.get_content_type() == "application/pdf"
    assert att.get_filename() == pdf.name and att.get_content() == pdf.read_bytes()
    assert msg.get_body(("plain",)) is not None


def test_missing_attachment_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        build_message(notification(attachments=[str(tmp_path / "gone.pdf")]), FROM)


@pytest.mark.parametrize(
    "subject",
    [
        "Hi\r\nBcc: evil@example.com",
        "Hi\nBcc: evil@example.com",
        "Hi\rBcc: evil@example.com",
        "Hi\x00\x0bBcc: evil@example.com",
        "Hi\u2028Bcc: evil@example.com",
        "Hi\x85Bcc: evil@example.com",
    ],
)
def test_hostile_subject_cannot_add_headers(subject: str) -> None:
    raw = build_message(notification(subject=subject), FROM).as_bytes()
    msg = parse(build_message(notification(subject=subject), FROM))
    assert msg["Bcc"] is None and b"\nBcc:" not in raw
    assert msg["Subject"] == "Hi Bcc: evil@example.com"


@pytest.mark.parametrize(
    "bad",
    [
        "zhang@example.com\r\nBcc: evil@example.com",
        "zhang@example.com, evil@example.com",
        "Zhang <zhang@example.com>",
        "zhang@example.com\x00",
        "no-at-sign",
        "zhang@localhost",
        "zhang@@example.com",
        ".zhang@example.com",
        "张@例子.中国",
        "a" * 65 + "@example.com",
        "",
        "none@qq.com",  # what a form gets for no address: someone else's mailbox
        "No.Email@163.com",
    ],
)
def test_invalid_recipients_are_rejected(bad: str) -> None:
    with pytest.raises(InvalidRecipient):
        build_message(notification(recipient=bad), FROM)


def test_invalid_recipient_reason_is_masked() -> None:
    with pytest.raises(InvalidRecipient) as err:
        valid_address("Zhang <zhang.wei@example.com>")
    assert "zhang.wei@example.com" not in str(err.value)


def test_valid_addresses() -> None:
    assert valid_address("  Li.Na+complaints@mail.example.co.uk ") == "Li.Na+complaints@mail.example.co.uk"
    assert valid_address("o'brien@example.com") == "o'brien@example.com"
    assert valid_address("na@163.com") == "na@163.com"  # Na is a given name
    # Staff addresses are theirs to choose: a noreply@ sender, a report to test@.
    assert envelope_sender("Wallet Complaints <noreply@wallet.example>") == "noreply@wallet.example"
    assert build_message(notification(kind="report", recipient="test@wallet.example"), FROM)["To"] == (
        "test@wallet.example")
    assert envelope_sender(FROM) == "complaints@wallet.example"
    with pytest.raises(ValueError):
        envelope_sender("Complaints Desk")


def test_one_line() -> None:
    assert one_line(" a\r\n\tb\x1b[31m c ") == "a b [31m c"


def test_message_id_is_stable_per_key() -> None:
    a = make_message_id("ack:complaint:1", FROM)
    assert a == make_message_id("ack:complaint:1", FROM)
    assert a != make_message_id("ack:complaint:2", FROM)
    assert a.startswith("<notif-") and a.endswith("@wallet.example>")


@pytest.mark.parametrize(
    ("exc", "status", "text"),
    [
        (aiosmtplib.SMTPResponseException(451, "4.3.0 try later"), "temporary", "451"),
        (aiosmtplib.SMTPDataError(552, "5.3.4 message too big"), "permanent", "552"),
        (
            aiosmtplib.SMTPRecipientsRefused(
                [aiosmtplib.SMTPRecipientRefused(550, "5.1.1 <zhang@example.com> unknown", "zhang@example.com")]
            ),
            "permanent",
            "550 5.1.1 <z***@example.com> unknown",
        ),
        (
            aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(450, "mailbox busy", "a@b.com")]),
            "temporary",
            "450",
        ),
        (ConnectionRefusedError(111, "Connection refused"), "temporary", "ConnectionRefusedError"),
        (aiosmtplib.SMTPConnectTimeoutError("timed out"), "temporary", "SMTPConnectTimeoutError"),
        (aiosmtplib.SMTPServerDisconnected("gone"), "temporary", "SMTPServerDisconnected"),
        (aiosmtplib.SMTPNotSupported("SMTPUTF8 is not supported"), "permanent", "SMTPUTF8"),
    ],
)
def test_error_classification(exc: BaseException, status: str, text: str) -> None:
    outcome = classify_error(exc)
    assert outcome.status == status
    assert text in outcome.detail


def test_eml_sender_writes_atomically_and_idempotently(tmp_path: Path) -> None:
    sender = EmlSender(tmp_path / "outbox")
    item = Outgoing(7, "complaints@wallet.example", "zhang@example.com", build_message(notification(), FROM))
    assert sender.deliver([item]) == {7: sender.deliver([item])[7]}
    files = list((tmp_path / "outbox").iterdir())
    assert files == [sender.path_for(item)]  # one file, no temp files left behind
    assert files[0].name.startswith("notif-") and files[0].suffix == ".eml"
    msg = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert msg["Message-ID"] == item.message["Message-ID"]


def test_eml_sender_write_error_is_temporary(tmp_path: Path) -> None:
    item = Outgoing(7, "complaints@wallet.example", "zhang@example.com", build_message(notification(), FROM))
    blocker = tmp_path / "outbox"
    blocker.write_text("a file where the folder should be")
    outcome = EmlSender(blocker).deliver([item])[7]
    assert outcome.status == "temporary" and "cannot write" in outcome.detail

    sender = EmlSender(tmp_path / "ok")
    sender.path_for(item).mkdir(parents=True)  # os.replace onto a directory fails
    assert sender.deliver([item])[7].status == "temporary"
    assert [p.name for p in (tmp_path / "ok").iterdir()] == [sender.path_for(item).name]  # temp file removed


def test_make_sender_follows_smtp_host(tmp_path: Path) -> None:
    assert isinstance(make_sender(Settings(var_dir=tmp_path)), EmlSender)
    assert isinstance(make_sender(Settings(var_dir=tmp_path, smtp_host="smtp.example.com")), SmtpSender)
