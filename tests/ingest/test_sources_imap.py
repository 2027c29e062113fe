"""IMAP source against a real dovecot on loopback: field extraction (GBK, HTML-only, CR/LF subject tricks),
\\Seen only after commit, re-runs, crashes before and after the commit, backfill (storage on both backends)."""

from __future__ import annotations

import base64
import imaplib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from complaints.core.config import AppConfig, ImapSourceSpec, SecretRef, SourcesConfig
from complaints.core.db import session_scope
from complaints.core.models import Complaint, InboundMessage, Notification, QuarantinedRecord
from complaints.ingest import store as ingest
from complaints.ingest.sources.imap import ImapConnector
from complaints.ingest.store import IngestSummary, ingest_source
from tests.factories import complaint

USER = "tester"
PASSWORD = secrets.token_urlsafe(12)  # made per run: no credential in the repository

GBK_MESSAGE = (
    b"From: =?gb2312?B?" + base64.b64encode("张喆".encode("gbk")) + b"?= <zhang@example.cn>\r\n"
    b"To: complaints@wallet.example\r\n"
    b"Subject: =?gb2312?B?" + base64.b64encode("转账失败，钱被扣了".encode("gbk")) + b"?=\r\n"
    b"Date: Mon, 16 Nov 2026 09:30:00 +0800\r\n"
    b"Message-ID: <gbk-1@example.cn>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/alternative; boundary="b1"\r\n\r\n'
    b'--b1\r\nContent-Type: text/plain; charset="gb2312"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'
    # 喆 is GBK but not GB2312: mail declared gb2312 routinely carries such characters.
    + "我是张喆，昨天转账500元失败，但是余额被扣了。\r\n".encode("gbk")
    + b'--b1\r\nContent-Type: text/html; charset="utf-8"\r\n\r\n<p>HTML copy, not used</p>\r\n--b1--\r\n'
)
HTML_MESSAGE = (
    b"From: Alice <alice@example.com>\r\nSubject: Refund missing\r\nDate: Mon, 16 Nov 2026 02:00:00 +0000\r\n"
    b"Message-ID: <html-1@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n\r\n"
    + "<html><head><style>p {color: red}</style><script>alert('x')</script></head><body>"
      "<p>My refund for order <b>A-77</b> never arrived &amp; support ignores me.</p>"
      "<div>退款没有到账</div></body></html>\r\n".encode()
)
# An encoded CR/LF trying to smuggle a header, a folded header line, and no Message-ID at all.
CRLF_MESSAGE = (
    b"From: mallory@example.net\r\nSubject: =?utf-8?Q?Card_charged_twice=0D=0ABcc:_evil@example.net?=\r\n"
    b"  second\r\n\tline\r\nDate: Mon, 16 Nov 2026 03:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    b"I was charged twice for one purchase.\r\n"
)
# Only an attachment: no text to make a complaint of, so it goes to the quarantine.
NO_TEXT_MESSAGE = (
    b"From: bob@example.com\r\nSubject: see attachment\r\nDate: Mon, 16 Nov 2026 04:00:00 +0000\r\n"
    b'Message-ID: <att-1@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="m"\r\n\r\n'
    b"--m\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--m--\r\n"
)
SEEN_MESSAGE = (
    b"From: old@example.com\r\nSubject: handled long ago\r\nDate: Mon, 16 Nov 2026 05:00:00 +0000\r\n"
    b"Message-ID: <old-1@example.com>\r\n\r\nAlready read by a person.\r\n"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A private dovecot (IMAP only, plaintext login) on a free loopback port; yields the port."""
    if shutil.which("dovecot") is None:
        pytest.skip("dovecot binary not installed (Debian: dovecot-imapd; see scripts/install-system-deps.sh)")
    if os.geteuid() != 0:
        pytest.skip("this dovecot configuration starts as root (it drops to dovenull/nobody)")
    conf_dir = tmp_path_factory.mktemp("dovecot")
    # Dovecot never opens mail as root, and pytest's temp root is private to root: the mail lives in a
    # directory of its own owned by nobody.
    mail_dir = Path(tempfile.mkdtemp(prefix="complaints-imap-"))
    shutil.chown(mail_dir, "nobody", "nogroup")
    port = _free_port()
    (conf_dir / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::{mail_dir}/{USER}\n")
    conf = conf_dir / "dovecot.conf"
    conf.write_text(f"""
base_dir = {conf_dir}/run
state_dir = {conf_dir}/state
log_path = {conf_dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
default_internal_user = root
default_internal_group = root
default_login_user = dovenull
mail_uid = nobody
mail_gid = nogroup
mail_location = maildir:{mail_dir}/%u/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {conf_dir}/users
}}
userdb {{
  driver = passwd-file
  args = {conf_dir}/users
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
""")
    proc = subprocess.Popen(["dovecot", "-F", "-c", str(conf)], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                log = conf_dir / "dovecot.log"
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"dovecot did not start: {log.read_text() if log.exists() else 'no log'}")
                time.sleep(0.1)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
        shutil.rmtree(mail_dir, ignore_errors=True)


class Mailbox:
    """A fresh folder per test, filled and inspected by APPEND/SEARCH over IMAP."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.folder = f"complaints-{uuid.uuid4().hex[:8]}"
        with self.client() as c:
            assert c.create(self.folder)[0] == "OK"

    def client(self) -> imaplib.IMAP4:
        c = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        c.login(USER, PASSWORD)
        return c

    def append(self, message: bytes, seen: bool = False) -> None:
        with self.client() as c:
            assert c.append(self.folder, r"(\Seen)" if seen else None, None, message)[0] == "OK"

    def search(self, criterion: str) -> int:
        with self.client() as c:
            c.select(self.folder, readonly=True)
            return len(c.uid("SEARCH", criterion)[1][0].split())


@pytest.fixture
def mailbox(dovecot: int, monkeypatch: pytest.MonkeyPatch) -> Mailbox:
    monkeypatch.setenv("IMAP_PASSWORD", PASSWORD)
    return Mailbox(dovecot)


def spec(box: Mailbox, **kw: Any) -> ImapSourceSpec:
    return ImapSourceSpec(name="mailbox", kind="imap", host="127.0.0.1", port=box.port, username=USER,
                          password=SecretRef(env="IMAP_PASSWORD"), folder=box.folder, ssl=False, **kw)


def run(db_url: str, app_config: AppConfig, source: ImapSourceSpec, **kw: Any) -> IngestSummary:
    with session_scope(db_url) as s:
        return ingest_source(s, app_config, source, "k", **kw)


def complaints(db_url: str) -> dict[str, Complaint]:
    with session_scope(db_url) as s:
        found = {c.external_id: c for c in s.execute(select(Complaint)).scalars()}
        s.expunge_all()
    return found


def test_unseen_messages_become_complaints_then_seen(db_url: str, app_config: AppConfig, mailbox: Mailbox) -> None:
    for message in (GBK_MESSAGE, HTML_MESSAGE, CRLF_MESSAGE, NO_TEXT_MESSAGE):
        mailbox.append(message)
    mailbox.append(SEEN_MESSAGE, seen=True)  # read by a person already: not a new complaint
    first = run(db_url, app_config, spec(mailbox, batch_size=2))
    assert (first.batches, first.records, first.inserted, first.quarantined) == (2, 4, 3, 1)
    assert mailbox.search("UNSEEN") == 0

    stored = complaints(db_url)
    gbk = stored["<gbk-1@example.cn>"]
    assert (gbk.channel, gbk.title, gbk.language) == ("email", "转账失败，钱被扣了", "zh")
    assert gbk.body == "我是张喆，昨天转账500元失败，但是余额被扣了。"
    assert gbk.contact == "zhang@example.cn" and gbk.contact_masked == "z***@example.cn"
    assert gbk.received_at == datetime(2026, 11, 16, 1, 30, tzinfo=UTC)
    html = stored["<html-1@example.com>"]
    assert html.body == "My refund for order A-77 never arrived & support ignores me.\n退款没有到账"
    [crlf_id] = [k for k in stored if k.startswith("sha256:")]  # no Message-ID: the message hash
    assert stored[crlf_id].title == "Card charged twice Bcc: evil@example.net second line"
    assert stored[crlf_id].contact == "mallory@example.net"
    with session_scope(db_url) as s:
        q = s.execute(select(QuarantinedRecord)).scalar_one()
        assert (q.location, q.reason.split(" (")[0]) == (f"imap:{mailbox.folder} uid 4", "missing body")

    assert run(db_url, app_config, spec(mailbox)).records == 0  # re-run: nothing unseen
    mailbox.append(HTML_MESSAGE.replace(b"html-1@", b"html-2@"))
    again = run(db_url, app_config, spec(mailbox))
    assert (again.records, again.inserted) == (1, 1)
    assert mailbox.search("UNSEEN") == 0


def test_crash_before_or_after_commit_rereads_each_once(db_url: str, app_config: AppConfig, mailbox: Mailbox,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    for message in (GBK_MESSAGE, HTML_MESSAGE, CRLF_MESSAGE):
        mailbox.append(message)

    def crash(*args: Any) -> None:
        raise RuntimeError("killed before commit")

    with monkeypatch.context() as m:
        m.setattr(ingest, "store_batch", crash)
        with pytest.raises(RuntimeError, match="killed before commit"):
            run(db_url, app_config, spec(mailbox))
    assert mailbox.search("UNSEEN") == 3 and complaints(db_url) == {}

    # Committed, then the flag update never happens: the next run reads them again, the unique key absorbs it.
    with monkeypatch.context() as m:
        m.setattr(ImapConnector, "_mark_seen", staticmethod(crash))
        with pytest.raises(RuntimeError):
            run(db_url, app_config, spec(mailbox))
    assert mailbox.search("UNSEEN") == 3 and len(complaints(db_url)) == 3

    last = run(db_url, app_config, spec(mailbox))
    assert (last.records, last.inserted, last.unchanged) == (3, 0, 3)
    assert mailbox.search("UNSEEN") == 0
    with session_scope(db_url) as s:
        assert s.execute(select(func.count()).select_from(Complaint)).scalar_one() == 3


def test_backfill_reads_seen_messages_and_leaves_flags(db_url: str, app_config: AppConfig, mailbox: Mailbox) -> None:
    mailbox.append(SEEN_MESSAGE, seen=True)
    mailbox.append(HTML_MESSAGE)
    window = {"since": datetime(2026, 11, 16, 3, tzinfo=UTC), "until": datetime(2026, 11, 17, tzinfo=UTC)}
    backfill = run(db_url, app_config, spec(mailbox), **window)
    # Both are searched; only the 05:00 message falls in the window; the unseen one stays unseen.
    assert (backfill.records, backfill.inserted, backfill.outside_window) == (2, 1, 1)
    assert list(complaints(db_url)) == ["<old-1@example.com>"]
    assert mailbox.search("UNSEEN") == 1


def test_config_needs_no_mapping() -> None:
    cfg = SourcesConfig.model_validate({"sources": [{
        "name": "support_mail", "kind": "imap", "host": "imap.example.com", "username": "complaints",
        "password": {"env": "IMAP_PASSWORD"}}]})
    [source] = cfg.sources
    assert isinstance(source, ImapSourceSpec)
    assert (source.channel, source.folder, source.ssl) == ("email", "INBOX", True)
    assert source.mapping["received_at"] == "date" and source.date_format is None
    with pytest.raises(ValueError, match="double quote"):
        ImapSourceSpec(name="m", kind="imap", host="h", username="u", password=SecretRef(env="X"), folder='a"b')


def test_a_reply_survives_a_refused_complaint_in_its_batch(db_url: str, app_config: AppConfig,
                                                           mailbox: Mailbox) -> None:
    """A user's reply read in the same batch as a complaint the database refuses: the refused one is quarantined,
    the other complaints stored, and the reply stays recorded on its complaint (the rollbacks of the isolation
    attempts once undid it while the run counted it)."""
    with session_scope(db_url) as s:
        c = complaint(s, "提现未到账", contact="zhang@example.cn")
        s.add(Notification(idempotency_key="ack:1", kind="acknowledgement", recipient="zhang@example.cn",
                           language="zh", subject="已收到", body_text="b", message_id="<ack-1@wallet.example>",
                           complaint_id=c.id, status="sent"))
    poison_id = "<html-1@example.com>"
    with session_scope(db_url) as s:
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text(f"ALTER TABLE complaints ADD CONSTRAINT no_poison CHECK (external_id <> '{poison_id}')"))
        else:
            s.execute(text(f"CREATE TRIGGER no_poison BEFORE INSERT ON complaints WHEN NEW.external_id = "
                           f"'{poison_id}' BEGIN SELECT RAISE(ABORT, 'no_poison'); END"))
    reply = (b"From: zhang@example.cn\r\nSubject: Re: \xe5\xb7\xb2\xe6\x94\xb6\xe5\x88\xb0\r\n"
             b"Date: Mon, 16 Nov 2026 06:00:00 +0000\r\nMessage-ID: <reply-1@example.cn>\r\n"
             b"In-Reply-To: <ack-1@wallet.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
             + "还没到账，请尽快处理\r\n".encode())
    for message in (GBK_MESSAGE, reply, HTML_MESSAGE):
        mailbox.append(message)
    summary = run(db_url, app_config, spec(mailbox))
    assert (summary.records, summary.replies, summary.inserted, summary.quarantined) == (2, 1, 1, 1)
    with session_scope(db_url) as s:
        [(complaint_id, body)] = s.execute(select(InboundMessage.complaint_id, InboundMessage.body_masked)).all()
        assert complaint_id == c.id and body.startswith("还没到账")
        assert s.execute(select(QuarantinedRecord.reason)).scalar_one().startswith("database refused the record")
    assert set(complaints(db_url)) == {"<gbk-1@example.cn>", str(c.external_id)}
