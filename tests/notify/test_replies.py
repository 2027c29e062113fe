"""Users' replies matched to their complaints: the score read from the reply, the SMS/push gateway's signed
inbound webhook, matching by the answered message or by ticket number from the complaint's own contact."""

from __future__ import annotations

import io
import json
import secrets
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from sqlalchemy import func, select

from complaints.core.db import session_scope
from complaints.core.models import CallbackResult, ComplaintEvent, InboundMessage, Notification
from complaints.notify.channels.webhook import inbound_app, sign
from complaints.notify.replies import Reply, fresh_text, message_ids, read_score, read_time_window, record_reply
from complaints.regulatory.forget import forget
from tests.factories import complaint

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
SECRET = secrets.token_hex(16)  # made per run: the repository holds no credential, not even a test one
KEY = "test-key"  # tests.factories keys contacts with it


@pytest.mark.parametrize(("text", "score"), [
    ("5", 5), ("5分", 5), ("1分", 1), ("4/5", 4), ("score: 3", 3), ("评分：2分。", 2), ("I give it 5 stars", 5),
    ("满意", 4), ("非常满意", 5), ("很满意，谢谢", 5), ("不满意", 2), ("非常不满意，太慢了", 1), ("一般吧", 3),
    ("打1分", 1), ("Very satisfied, thank you", 5), ("dissatisfied", 2), ("satisfied", 4),
    ("5 days later and still nothing", None), ("15", None), ("ok", None), ("谢谢", None),
])
def test_score_read_from_the_reply_in_both_languages(text: str, score: int | None) -> None:
    assert read_score(text) == score


@pytest.mark.parametrize(("text", "window"), [
    ("5分，请下午打电话", "afternoon"), ("4, call me in the morning please", "morning"),
    ("晚上七点以后方便", "evening"),
    ("5", None), ("上午不行，下午可以", None), ("Thanks!\n> morning, afternoon or evening", None),
])
def test_call_back_time_window_from_the_reply(text: str, window: str | None) -> None:
    assert read_time_window(text) == window


def test_the_quoted_message_is_not_the_reply() -> None:
    quoted = "Thanks!\n\nOn Fri, 20 Nov 2026 at 10:00, Wallet wrote:\n> reply with a score from 1 to 5"
    assert fresh_text(quoted) == "Thanks!" and read_score(quoted) is None
    assert read_score("4分\n\n在 2026年11月20日，数字钱包 写道：\n> 1 到 5 分") == 4
    assert message_ids("<a@x>", "<b@x> <a@x>\n <c@x>") == ("<a@x>", "<b@x>", "<c@x>")


def _call(app: Callable[..., Iterable[bytes]], body: bytes, signature: str | None) -> tuple[int, dict[str, Any]]:
    environ: dict[str, Any] = {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(len(body)),
                               "wsgi.input": io.BytesIO(body)}
    if signature:
        environ["HTTP_X_COMPLAINTS_SIGNATURE"] = signature
    setup_testing_defaults(environ)
    status: list[str] = []
    out = b"".join(app(environ, lambda s, headers: status.append(s)))
    return int(status[0].split()[0]), json.loads(out)


def _callback(session: Any, complaint_id: int, message_id: str) -> None:
    session.add(Notification(idempotency_key=f"callback:complaint:{complaint_id}:x", kind="callback",
                             recipient="13812345678", language="zh", subject="回访", body_text="请回复 1 到 5 分",
                             message_id=message_id, complaint_id=complaint_id, status="sent", channel="webhook"))


def test_gateway_replies_signed_matched_and_recorded_once(db_url: str) -> None:
    with session_scope(db_url) as s:
        cid = complaint(s, "提现未到账", contact="13812345678").id
        other = complaint(s, "扣费不明", contact="13900001111").id
        _callback(s, cid, "<notif-1@wallet.example>")
    app = inbound_app(db_url, SECRET, KEY)
    body = json.dumps({"id": "sms-1", "from": "+86 138 1234 5678", "text": "非常满意，回访请晚上打",
                       "reply_to": "<notif-1@wallet.example>", "received_at": NOW.isoformat()}).encode()
    assert _call(app, body, None)[0] == 401
    assert _call(app, body, sign(body, "wrong"))[0] == 401
    assert _call(app, b"{not json", sign(b"{not json", SECRET))[0] == 400
    assert _call(app, body, sign(body, SECRET)) == (200, {"ticket": f"C{cid:08d}", "new": True, "score": 5})
    assert _call(app, body, sign(body, SECRET)) == (200, {"ticket": f"C{cid:08d}", "new": False, "score": 5})
    # A ticket number from someone else's phone matches nothing: 404, the gateway may file it as a complaint.
    stranger = json.dumps({"id": "sms-2", "from": "13700002222", "text": f"C{other:08d} 还没处理"}).encode()
    assert _call(app, stranger, sign(stranger, SECRET))[0] == 404
    with session_scope(db_url) as s:
        (msg,) = s.execute(select(InboundMessage)).scalars()
        assert (msg.complaint_id, msg.channel, msg.score) == (cid, "webhook", 5)
        assert msg.body_masked == "非常满意，回访请晚上打"
        event = s.execute(select(ComplaintEvent).where(ComplaintEvent.kind == "reply_received")).scalar_one()
        assert (event.complaint_id, event.detail["callback_window"], event.detail["score"]) == (cid, "evening", 5)
        result = s.execute(select(CallbackResult)).scalar_one()
        assert (result.complaint_id, result.score, result.reached) == (cid, 5, True)


def test_ticket_number_from_the_complaints_own_contact(db_url: str, tmp_path: Path) -> None:
    with session_scope(db_url) as s:
        cid = complaint(s, "提现未到账", contact="li@example.com").id
        dup = complaint(s, "提现未到账！", contact="li@example.com", duplicate_of_id=cid).id
        reply = Reply(channel="email", message_id="<m1@example.com>", sender="LI@example.com",
                      text="补充：我的电话 13812345678，邮箱 li@example.com", received_at=NOW,
                      subject=f"Re: [C{dup:08d}] We have received your complaint")
        recorded = record_reply(s, reply, KEY)
        # Matched to the canonical complaint; no call-back was sent, so no score is read.
        assert recorded is not None and (recorded.complaint_id, recorded.new, recorded.score) == (cid, True, None)
        assert record_reply(s, Reply(channel="email", message_id="<m2@example.com>", sender="eve@example.com",
                                     text="x", received_at=NOW, subject=f"Re: [C{cid:08d}]"), KEY) is None
    with session_scope(db_url) as s:
        (msg,) = s.execute(select(InboundMessage)).scalars()
        assert "13812345678" not in msg.body_masked and "li@example.com" not in msg.body_masked
        assert s.execute(select(func.count()).select_from(CallbackResult)).scalar_one() == 0
    # Erased on request, then the mailbox is read again: the reply is known, still a reply (not a new complaint
    # with the person's words), though no contact is left to match its ticket by.
    with session_scope(db_url) as s:
        forget(s, "li@example.com", pii_key=KEY, outbox_dir=tmp_path, marker="[purged]")
        again = record_reply(s, reply, KEY)
        assert again is not None and (again.complaint_id, again.new) == (cid, False)
        assert s.execute(select(InboundMessage.body_masked)).scalar_one() == "[purged]"


def test_a_score_is_read_only_from_a_reply_to_a_call_back(db_url: str) -> None:
    """"5" answering an acknowledgement is no rating (an amount, a day, an order count), even when a call-back was
    sent on that complaint as well; by ticket number alone, a reply counts as the call-back's answer once a
    call-back was sent on that complaint (without one, see the test above)."""
    with session_scope(db_url) as s:
        acked = complaint(s, "扣了两次费", contact="wang@example.com").id
        s.add(Notification(idempotency_key=f"ack:{acked}", kind="acknowledgement", recipient="wang@example.com",
                           language="zh", subject="已收到", body_text="我们已收到您的投诉", message_id="<ack-1@w>",
                           complaint_id=acked, status="sent", channel="email"))
        _callback(s, acked, "<cb-0@w>")  # a call-back was sent too: the reply names the acknowledgement
        called = complaint(s, "提现未到账", contact="zhao@example.com").id
        _callback(s, called, "<cb-1@w>")
        s.flush()
        to_ack = record_reply(s, Reply(channel="email", message_id="<r1@example.com>", sender="wang@example.com",
                                       text="5", received_at=NOW, answers=("<ack-1@w>",)), KEY)
        by_ticket = record_reply(s, Reply(channel="email", message_id="<r2@example.com>", sender="zhao@example.com",
                                          text="4分，下午打给我", received_at=NOW, subject=f"Re: [C{called:08d}]"), KEY)
        assert to_ack is not None and (to_ack.complaint_id, to_ack.score, to_ack.window) == (acked, None, None)
        assert by_ticket is not None and (by_ticket.complaint_id, by_ticket.score, by_ticket.window) == (
            called, 4, "afternoon")
    with session_scope(db_url) as s:
        assert s.scalars(select(CallbackResult.complaint_id)).all() == [called]
