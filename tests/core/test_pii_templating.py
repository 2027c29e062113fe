"""Templates: plain-text mail parts read as written (not HTML-escaped), HTML parts stay autoescaped, personal data
in user text is masked in both, and a hostile title cannot add a header."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from complaints.core.models import Notification
from complaints.core.templating import environment
from complaints.notify.channels.email import build_message, make_message_id
from complaints.notify.outbox import render_email

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
FROM = "投诉中心 <complaints@wallet.example>"
TITLE = "Refund A&B <b>now</b> \"x\" 'y' 440306 19851231 1236\r\nBcc: evil@example.com"


def test_autoescape_is_on_for_html_and_off_for_text_templates() -> None:
    env = environment(TEMPLATES)
    names = env.list_templates()
    assert any(n.endswith(".txt") for n in names) and any(n.endswith(".html") for n in names)
    for name in names:
        assert env.autoescape(name) is (not name.endswith(".txt")), name  # type: ignore[operator]
    assert env.autoescape(None) is True  # type: ignore[operator]  # from_string templates: escaped


@pytest.mark.parametrize("language", ["en", "zh"])
def test_plain_text_part_reads_as_written_and_html_part_is_escaped(language: str) -> None:
    context = {"ticket": "C00000007", "title": TITLE, "category_label": "Refunds & after-sales",
               "received_on": "2026-11-16", "resolve_by": "2026-12-01"}
    mail = render_email(TEMPLATES, "acknowledgement", language, context)
    assert "Refund A&B <b>now</b> \"x\" 'y'" in mail.text and "&amp;" not in mail.text and "&lt;" not in mail.text
    assert "Refunds & after-sales" in mail.text
    assert "Refund A&amp;B &lt;b&gt;now&lt;/b&gt;" in mail.html and "<b>now" not in mail.html
    assert "440306 19851231 1236" not in mail.text + mail.html and "440***********1236" in mail.text
    n = Notification(id=7, idempotency_key="ack:complaint:7", kind="acknowledgement", recipient="zhang@example.com",
                     language=language, subject=mail.subject + "\r\nBcc: evil@example.com", body_text=mail.text,
                     body_html=mail.html, attachments=[], message_id=make_message_id("ack:complaint:7", FROM),
                     created_at=datetime(2026, 11, 20, 8, 30, tzinfo=UTC))
    raw = build_message(n, FROM).as_bytes()
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg["Bcc"] is None and b"\nBcc:" not in raw.split(b"\n\n", 1)[0]
    assert "\n" not in str(msg["Subject"]) and "C00000007" in str(msg["Subject"])
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Refund A&B <b>now</b>" in text and "Refund A&amp;B &lt;b&gt;" in html


def test_every_text_template_renders_ampersands_verbatim() -> None:
    """The report mail (includes a .txt partial) and a subject with user text: no entity anywhere."""
    env = environment(TEMPLATES)
    figures = {"complaints": 3, "incidents": 1, "affected_users": 2, "regulator_deadlines": 0, "overdue_steps": 0}
    text = env.get_template("email/report.en.txt").render(
        period="2026-W47", list_name="Ops & Risk", figures=figures,
        reports=[{"kind": "crisis", "filename": "a&b.pdf", "url": "u?a=1&b=2"}], money=[], run_url="http://x/?a=1&b=2")
    assert "Ops & Risk" in text and "a&b.pdf" in text and "u?a=1&b=2" in text and "&amp;" not in text
    subject = env.get_template("email/escalation.en.subject.txt").render(level=1, subject_ref="P&L #1",
                                                                          step_title="Fix <A&B>")
    assert "P&L #1" in subject and "Fix <A&B>" in subject
