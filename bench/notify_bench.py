"""Benchmark: deliver 10,000 outbox messages to a local aiosmtpd sink; prints messages/s.

    .venv/bin/python bench/notify_bench.py [--messages 10000] [--connections 8] [--batch 1000] [--db URL]

The sink runs in its own process (as a real relay would), so client and server do not share one
interpreter lock. Timed: claim, build, SMTP delivery and recording, exactly as the notify flow does it.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from complaints.core.db import migrate, session_scope
from complaints.core.models import Notification, utcnow
from complaints.core.settings import Settings
from complaints.notify.channels.email import SmtpSender
from complaints.notify.outbox import RenderedEmail, insert_new, outbox_row, render_email, send_pending

SINK = """
import asyncio, sys
from aiosmtpd.controller import Controller

class Count:
    n = 0
    async def handle_DATA(self, server, session, envelope):
        Count.n += 1
        return "250 OK"

ctl = Controller(Count(), hostname="127.0.0.1", port=int(sys.argv[1]))
ctl.start()
print("ready", flush=True)
sys.stdin.read()  # until the benchmark closes our stdin
ctl.stop()
print(Count.n, flush=True)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def queue(url: str, settings: Settings, n: int) -> None:
    template = render_email(
        settings.templates_dir, "progress", "zh", {"ticket": "C00000001", "progress_note": "处理中"}
    )
    now = utcnow()
    with session_scope(url) as session:
        rows = []
        for i in range(n):
            rendered = RenderedEmail(template.subject.replace("C00000001", f"C{i:08d}"), template.text, template.html)
            rows.append(
                outbox_row(
                    key=f"bench:{i}",
                    kind="progress",
                    recipient=f"user{i}@example.com",
                    language="zh",
                    rendered=rendered,
                    attachments=(),
                    complaint_id=None,
                    incident_id=None,
                    mail_from=settings.mail_from,
                    now=now,
                )
            )
        insert_new(session, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--batch", type=int, default=1000, help="rows claimed per transaction")
    parser.add_argument("--db", default="", help="database URL (default: a temporary SQLite file)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="notify-bench-"))
    url = args.db or f"sqlite:///{tmp / 'bench.db'}"
    port = free_port()
    sink = subprocess.Popen(
        [sys.executable, "-c", SINK, str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"
        settings = Settings(
            var_dir=tmp, database_url=url, smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False, smtp_timeout=30
        )
        migrate(url)
        t0 = time.perf_counter()
        queue(url, settings, args.messages)
        queued_s = time.perf_counter() - t0

        sender = SmtpSender(settings, connections=args.connections)
        t0 = time.perf_counter()
        summary = send_pending(url, settings, max_attempts=3, sender=sender, batch_size=args.batch)
        send_s = time.perf_counter() - t0
    finally:
        out, _ = sink.communicate("", timeout=60)
    received = int(out.split()[-1])
    with session_scope(url) as session:
        sent_rows = session.scalar(select(func.count()).where(Notification.status == "sent"))

    print(f"database            {url.split('@')[-1]}")
    print(f"messages            {args.messages} (queued in {queued_s:.2f} s)")
    print(f"connections, batch  {args.connections}, {args.batch}")
    print(
        f"sent / failed       {summary.sent} / {summary.failed + summary.retried}; sink received {received}; "
        f"rows marked sent {sent_rows}"
    )
    print(f"send time           {send_s:.2f} s")
    print(f"throughput          {summary.sent / send_s:.0f} messages/s")


if __name__ == "__main__":
    main()
