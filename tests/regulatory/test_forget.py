"""`complaints forget` follows the person key across channels, says what it erased and what it could not."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cli.main import app
from complaints.core.config import AppConfig
from complaints.core.db import session_scope
from complaints.core.evidence import evidence_file, link_files
from complaints.core.models import (
    Complaint,
    ComplaintAttachment,
    InboundMessage,
    Notification,
    OptOut,
    QuarantinedRecord,
    Report,
)
from complaints.core.pii import contact_key
from complaints.core.records import IncomingFile
from complaints.notify.channels.email import eml_path
from complaints.regulatory.forget import forget
from complaints.regulatory.outcomes import record_outcome
from complaints.regulatory.retention import purge
from tests.factories import T0, complaint

KEY, MARKER = "test-key", "[purged]"


def seed(db_url: str, outbox: Path) -> dict[str, int]:
    """Person U1001: an app complaint (email, reference) and an SMS one (mobile, reference); from other channels
    with no reference the same email in capitals (hotline) and the mobile written another way (web); a complaint
    under another reference U3003 from the same mobile (linked: same person key) whose other complaint, by email
    only under U3003, is one hop further (kept). Li is someone else. An acknowledgement (.eml in the outbox) went to
    the hotline complaint; weekly reports exist for the complaints' week and for an earlier one."""
    outbox.mkdir(parents=True)
    with session_scope(db_url) as s:
        ids = {
            "app": complaint(s, "提现未到账，卡 6222021234567890128", contact="zhang@example.cn",
                             customer_ref="U1001").id,
            "sms": complaint(s, "还是没到账", contact="13912345678", channel="sms", customer_ref="U1001").id,
            "hotline": complaint(s, "电话投诉：提现未到账 13912345678", contact="ZHANG@example.cn", channel="hotline",
                                 at=T0 + timedelta(days=1)).id,
            "web": complaint(s, "Withdrawal stuck", contact="+86 139 1234 5678", channel="web").id,
            "u3003_phone": complaint(s, "家里人也遇到", contact="139-1234-5678", customer_ref="U3003").id,
            "u3003_email": complaint(s, "another issue", contact="wang@example.cn", customer_ref="U3003").id,
            "li": complaint(s, "Refund missing", contact="li@example.cn", customer_ref="U2002").id,
        }
        for name in ("hotline", "li"):
            c = s.get_one(Complaint, ids[name])
            message_id = f"<ack-{name}@wallet.example>"
            s.add(Notification(idempotency_key=f"ack:{name}", kind="acknowledgement", recipient=c.contact,
                               language="zh", subject="已收到", body_text=f"您好 {c.contact}", complaint_id=c.id,
                               contact_key=c.contact_key, message_id=message_id, status="sent"))
            eml_path(outbox, message_id).write_text(f"To: {c.contact}\n\nhello\n")
            s.add(InboundMessage(complaint_id=c.id, channel="email", message_id=f"<re-{name}@mail>", received_at=T0,
                                 contact_key=c.contact_key, body_masked=f"reply from {name}: 5", score=5))
        s.add(OptOut(contact_key=contact_key("13912345678", KEY)))
        s.add(Report(kind="crisis", period="2026-W47", language="zh", path="/var/reports/crisis-2026-W47-zh.pdf"))
        s.add(Report(kind="crisis", period="2026-W40", language="zh", path="/var/reports/crisis-2026-W40-zh.pdf"))
    return ids


def test_forget_follows_the_person_key_across_channels(db_url: str, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    ids = seed(db_url, outbox)
    with session_scope(db_url) as s:
        dry = forget(s, "U1001", pii_key=KEY, outbox_dir=outbox, marker=MARKER, dry_run=True)
        assert s.get_one(Complaint, ids["hotline"]).contact == "ZHANG@example.cn"  # a dry run changes nothing
    with session_scope(db_url) as s:
        done = forget(s, "U1001", pii_key=KEY, outbox_dir=outbox, marker=MARKER)
    for summary in (dry, done):
        assert (summary.complaints, summary.linked_complaints, summary.notifications, summary.opt_outs,
                summary.replies) == (5, 3, 1, 1, 1)
        assert summary.not_erased == [{"kind": "crisis", "period": "2026-W47", "language": "zh",
                                       "path": "/var/reports/crisis-2026-W47-zh.pdf"}]
    assert (dry.eml_files, done.eml_files) == (0, 1)
    assert not eml_path(outbox, "<ack-hotline@wallet.example>").exists()
    assert eml_path(outbox, "<ack-li@wallet.example>").exists()
    with session_scope(db_url) as s:
        rows = {c.id: c for c in s.scalars(select(Complaint))}
        for name in ("app", "sms", "hotline", "web", "u3003_phone"):
            c = rows[ids[name]]
            assert (c.contact, c.contact_key, c.customer_ref, c.body) == (None, None, None, MARKER), name
            assert c.channel and c.received_at  # what the statistics need stays
        assert rows[ids["u3003_email"]].contact == "wang@example.cn"  # one hop further: not this person
        assert rows[ids["li"]].contact == "li@example.cn" and rows[ids["li"]].body == "Refund missing"
        messages = {n.idempotency_key: n for n in s.scalars(select(Notification))}
        assert messages["ack:hotline"].recipient == MARKER and "ZHANG" not in messages["ack:hotline"].body_text
        assert messages["ack:li"].recipient == "li@example.cn"
        assert s.scalars(select(OptOut)).all() == []
        replies = {m.message_id: m for m in s.scalars(select(InboundMessage))}
        mine, lis = replies["<re-hotline@mail>"], replies["<re-li@mail>"]
        assert (mine.body_masked, mine.contact_key, mine.score) == (MARKER, None, 5)  # the score is a statistic
        assert lis.body_masked == "reply from li: 5" and lis.contact_key
        again = forget(s, "U1001", pii_key=KEY, outbox_dir=outbox, marker=MARKER)
    assert (again.complaints, again.notifications, again.eml_files, again.opt_outs, again.replies) == (0, 0, 0, 0, 0)


def test_forget_by_email_reaches_the_other_channel(db_url: str, tmp_path: Path) -> None:
    """Named by email (other case): the app complaint, the hotline one with no reference, and through the app
    complaint's reference U1001 the SMS one; the mobile's other complaints are a hop further and stay."""
    outbox = tmp_path / "outbox"
    ids = seed(db_url, outbox)
    with session_scope(db_url) as s:
        done = forget(s, "Zhang@Example.cn", pii_key=KEY, outbox_dir=outbox, marker=MARKER)
        assert (done.complaints, done.linked_complaints, done.eml_files) == (3, 1, 1)
        kept = {c.id for c in s.scalars(select(Complaint).where(Complaint.contact.is_not(None)))}
    assert kept == {ids["web"], ids["u3003_phone"], ids["u3003_email"], ids["li"]}


def test_forget_of_what_strangers_typed_for_none_reaches_none_of_them(db_url: str, tmp_path: Path) -> None:
    """Before placeholders keyed no one, three callers' acknowledgements were queued to 13800138000 (the operator's
    number an agent typed). Erasing "13800138000" looks it up as an account reference only (wallets number accounts
    by mobile): nothing of theirs is found. N/A names no one at all and is refused."""
    with session_scope(db_url) as s:
        for n in range(3):
            c = complaint(s, f"付款失败 {n}", contact="13800138000", channel="hotline")
            s.add(Notification(idempotency_key=f"ack:{n}", kind="acknowledgement", recipient="13800138000",
                               language="zh", subject="已收到", body_text="您好", complaint_id=c.id,
                               message_id=f"<ack-{n}@wallet.example>", status="pending"))
        account = complaint(s, "账户被冻结", contact="li@example.cn", customer_ref="13800138000")
        complaint(s, "没有留联系方式", channel="hotline", customer_ref="U9")  # a stranger without a contact
        s.add(QuarantinedRecord(source="hotline", location="calls.csv:7", reason="bad date", fingerprint="f7",
                                raw=json.dumps({"phone": "13800138000", "note": "付款失败"})))
        done = forget(s, "13800138000", pii_key=KEY, outbox_dir=tmp_path, marker=MARKER, dry_run=True)
        assert (done.complaints, done.notifications, done.quarantined) == (1, 0, 0)
        assert account.contact == "li@example.cn"  # the account's complaint; a dry run changes nothing
        with pytest.raises(ValueError, match="placeholder"):
            forget(s, "N/A", pii_key=KEY, outbox_dir=tmp_path, marker=MARKER, dry_run=True)


def test_cli_prints_what_it_erased_and_what_it_could_not(app_env: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPLAINTS_PII_KEY", KEY)
    seed(app_env, tmp_path / "var" / "outbox")
    result = CliRunner().invoke(app, ["forget", "U1001"])
    assert result.exit_code == 0, result.output
    assert "erased 5 complaints (3 found through the person key" in result.output
    assert "1 .eml files" in result.output
    assert "not erased: 1 reports" in result.output and "/var/reports/crisis-2026-W47-zh.pdf" in result.output
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert summary["complaints"] == 5 and summary["not_erased"][0]["period"] == "2026-W47"


def test_forget_and_retention_delete_evidence_files(db_url: str, app_config: AppConfig, tmp_path: Path) -> None:
    """Zhang's statement and ID photo go with him; the screenshot Li also sent stays for Li until retention takes
    Li's complaint, and then it goes too."""
    root, now = tmp_path / "evidence", datetime(2030, 1, 10, tzinfo=UTC)
    statement, photo, shot = b"%PDF-1.4 statement", b"\xff\xd8\xff\xe0 id card", b"\x89PNG\r\n\x1a\n shared"
    with session_scope(db_url) as s:
        zhang = complaint(s, "提现未到账", contact="zhang@example.cn", customer_ref="U1001", at=now)
        li = complaint(s, "Refund missing", contact="li@example.cn", customer_ref="U2002",
                       at=now - timedelta(days=1500))  # past the 3 years of retention.yaml
        record_outcome(s, li.id, decided_at=li.received_at, decided_by="cs.sun", outcome="upheld",
                       relief="explanation")
        link_files(s, {zhang.id: [IncomingFile("statement.pdf", "application/pdf", statement, len(statement)),
                                  IncomingFile("id.jpg", "image/jpeg", photo, len(photo)),
                                  IncomingFile("shot.png", "image/png", shot, len(shot))],
                       li.id: [IncomingFile("screenshot.png", "image/png", shot, len(shot))]},
                   root, app_config.sources.attachments)
        # Li also sent a copy of Zhang's statement, refused (one file a complaint here): a refused row has no file,
        # so it does not keep Zhang's statement on disk.
        one = app_config.sources.attachments.model_copy(update={"max_files": 1})
        refused = link_files(s, {li.id: [IncomingFile("copy.pdf", "application/pdf", statement, len(statement))]},
                             root, one)
        assert (refused.stored, refused.rejected) == (0, 1)
    files = {name: evidence_file(root, hashlib.sha256(data).hexdigest())
             for name, data in (("statement", statement), ("photo", photo), ("shot", shot))}
    assert all(p.is_file() for p in files.values())
    with session_scope(db_url) as s:
        dry = forget(s, "U1001", pii_key=KEY, outbox_dir=tmp_path, marker=MARKER, dry_run=True, evidence_dir=root)
        assert (dry.attachments, dry.evidence_files) == (3, 2) and all(p.is_file() for p in files.values())
        done = forget(s, "U1001", pii_key=KEY, outbox_dir=tmp_path, marker=MARKER, evidence_dir=root)
    assert (done.attachments, done.evidence_files) == (3, 2)
    assert [p.is_file() for p in files.values()] == [False, False, True]
    with session_scope(db_url) as s:
        assert sorted(s.scalars(select(ComplaintAttachment.file_name))) == ["copy.pdf", "screenshot.png"]
        purged = purge(s, app_config, now, evidence_dir=root)
    assert (purged.anonymised, purged.attachments, purged.evidence_files) == ([li.id], 2, 1)
    assert not files["shot"].exists()
    with session_scope(db_url) as s:
        assert s.scalars(select(ComplaintAttachment)).all() == []
