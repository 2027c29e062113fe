"""`complaints customer show KEY`: one person's complaints across channels, messages both ways, outcome, score."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app
from complaints.core.config import AttachmentLimits
from complaints.core.db import session_scope
from complaints.core.evidence import link_files
from complaints.core.models import CallbackResult, InboundMessage, Notification
from complaints.core.pii import contact_key
from complaints.core.records import IncomingFile
from complaints.core.settings import get_settings
from complaints.regulatory.outcomes import record_outcome
from tests.factories import complaint

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


PDF = b"%PDF-1.7 bank statement"


def test_customer_show_every_channel_masked(app_env: str, tmp_path: Path) -> None:
    with session_scope(app_env) as s:
        # The same person: by email in the app, by phone on the hotline; the customer ref links the two contacts.
        first = complaint(s, "提现八百元未到账 ![x](http://evil.example/p.png)，请退款，我的卡号 6222021234567890128",
                          contact="li.na@example.com",
                          channel="app", customer_ref="U-1001", at=NOW - timedelta(days=10), amount="800",
                          demand="refund", owner="payops.wang")
        second = complaint(s, "客服电话一直打不通", contact="13812345678", channel="hotline",
                           customer_ref="U-1001", at=NOW - timedelta(days=2))
        stranger = complaint(s, "别人的投诉", contact="someone@example.com", at=NOW)
        pii_key = get_settings().pii_key.get_secret_value()
        for c in (first, second, stranger):  # keyed as the command keys them
            c.contact_key = contact_key(c.contact, pii_key)
        s.add(Notification(idempotency_key="ack:1", kind="acknowledgement", recipient="li.na@example.com",
                           language="zh", subject=f"【C{first.id:08d}】我们已收到您的投诉", body_text="x",
                           message_id="<a@x>", complaint_id=first.id, status="sent", sent_at=NOW - timedelta(days=10),
                           contact_key=first.contact_key))
        s.add(Notification(idempotency_key="esc:1", kind="escalation", recipient="cs.lead@wallet.example",
                           language="zh", subject="升级", body_text="x", message_id="<e@x>", complaint_id=first.id))
        s.flush()
        s.add(InboundMessage(complaint_id=first.id, channel="email", message_id="<r@x>", received_at=NOW,
                             contact_key=first.contact_key, score=5,
                             body_masked="5分 谢谢 <img src=http://evil.example/q.png> www.evil.example"))
        s.add(CallbackResult(complaint_id=first.id, reached=True, score=5))
        record_outcome(s, first.id, decided_at=NOW - timedelta(days=5), decided_by="payops.wang", outcome="upheld",
                       relief="monetary", redress_amount=Decimal("800"), redress_currency="CNY",
                       root_cause="system_fault")
        # Evidence: shown by name (masked, markup escaped), type, size and hash prefix; never opened.
        named = "13812345678 [点我](javascript:alert(1)).pdf"
        link_files(s, {first.id: [IncomingFile(named, "image/png", PDF, len(PDF)),
                                  IncomingFile("run.exe", "image/png", b"MZ\x90\x00", 4)]},
                   tmp_path / "evidence", AttachmentLimits())
        ids = (first.id, second.id, stranger.id)
    runner = CliRunner()
    sha = hashlib.sha256(PDF).hexdigest()
    for key in ("13812345678", "li.na@example.com", "U-1001"):
        # Read in a terminal: rendered, what a user wrote shown as the literal text it is (no escapes, no links).
        result = runner.invoke(app, ["customer", "show", key], env={"COLUMNS": "250"})
        assert result.exit_code == 0, result.output
        shown = result.output
        assert "138****5678 [点我](javascript_alert(1)).pdf · application/pdf" in shown
        assert "5分 谢谢 <img" in shown and "\\" not in shown and "\x1b" not in shown
        # The Markdown source, as the Prefect artifact renders it.
        result = runner.invoke(app, ["customer", "show", key, "--markdown"])
        assert result.exit_code == 0, result.output
        out = result.output
        for text in (shown, out):
            assert f"C{ids[0]:08d}" in text and f"C{ids[1]:08d}" in text and f"C{ids[2]:08d}" not in text
            assert "2 complaint(s)" in text and "hotline" in text and "app" in text
            assert "upheld, monetary, 800.00 CNY, root cause system_fault" in text and "call-back score: 5" in text
            assert "→ email acknowledgement [sent]" in text and "escalation" not in text  # staff mail is not theirs
            assert "attachments: 1 stored, 1 rejected" in text
            for raw in ("13812345678", "li.na@example.com", "6222021234567890128"):
                assert raw not in text
        assert "← email reply [score 5]: 5分 谢谢 \\<img" in out and "- attachments: 1 stored, 1 rejected" in out
        escaped = r"138\*\*\*\*5678 \[点我\]\(javascript\_alert\(1\)\).pdf"  # ':' made '_' at ingest
        assert f"{escaped} · application/pdf · 23 B · sha256 {sha[:12]}" in out
        assert ("run.exe · application/x-dosexec · 4 B · sha256 9f2981a7cc4d · **rejected** type: content is "
                "application/x-dosexec \\(declared image/png\\), not an allowed type") in out
        # Nothing the user wrote becomes a link, an image or HTML where the UI renders the artifact.
        assert "](javascript" not in out and "http://" not in out and " <img" not in out
        assert r"\!\[x\]\(http\://evil.example/p.png\)" in out and r"www\.evil.example" in out
    missing = runner.invoke(app, ["customer", "show", "nobody@example.com"])
    assert missing.exit_code == 1 and "nobody@example.com" not in missing.output
