"""Evidence files: the type is read from the content, names are labels (never paths), storage is by hash only, and
the limits in sources.yaml are validated."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from complaints.core.config import ConfigError, SourcesConfig, load_file
from complaints.core.evidence import evidence_file, put, safe_name, sniff

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF\n"


def test_sniffed_type_ignores_what_the_sender_declares() -> None:
    assert sniff(PDF) == "application/pdf"
    assert sniff(b"\x89PNG\r\n\x1a\n" + bytes(20)) == "image/png"
    assert sniff(b"\xff\xd8\xff\xe0" + bytes(20)) == "image/jpeg"
    assert sniff(b"\x00\x00\x00\x18ftypheic" + bytes(8)) == "image/heic"
    assert sniff(b"MZ\x90\x00" + bytes(60)) == "application/x-dosexec"  # an .exe renamed receipt.jpg
    assert sniff(b"PK\x03\x04" + bytes(26)) == "application/zip"
    # Markup is never plain text, whatever its name or declared type says.
    assert sniff(b"\xef\xbb\xbf  <!DOCTYPE html><script>alert(1)</script>") == "text/html"
    assert sniff(b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>') == "image/svg+xml"
    # HTML that does not open with <html>: a leading tag browsers sniff, or active markup further down.
    assert sniff(b"<body onload=alert(1)>statement</body>") == "text/html"
    assert sniff(b"<!-- a --><p>refund</p>") == "text/html"
    assert sniff(b"Statement of account\n\n<ScRiPt src=//evil.example/x.js></script>") == "text/html"
    assert sniff(b"see <a href='javascript:alert(1)'>here</a>") == "text/html"
    assert sniff("转账记录：2026-11-16 转出 500 元\n".encode()) == "text/plain"
    assert sniff(b"amount < 500 and fee > 2 <b not a tag") == "text/plain"  # angle brackets alone are text
    assert sniff(b"Fee: one = 1.00 CNY, only=1 item; see javascript: tutorials") == "text/plain"  # prose
    assert sniff("转账记录".encode("gb18030")) == "text/plain"
    assert sniff(b"\x00\x01\x02\x03binary") is None


@pytest.mark.parametrize(("given", "kept"), [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\Windows\\system32\\cmd.exe", "cmd.exe"),
    ("/tmp/../../.bashrc", "bashrc"),
    ("..", "attachment"),
    ("", "attachment"),
    (None, "attachment"),
    ("a\r\nBcc: x@y.z.pdf", "a Bcc_ x@y.z.pdf"),
    ("invoice\u202efdp.exe", "invoicefdp.exe"),  # a right-to-left override hiding .exe
    ("收据\x00.pdf", "收据.pdf"),
    ("ｒｅｃｅｉｐｔ.ｐｄｆ", "receipt.pdf"),
    ("$(rm -rf ~)`id`.png", "_(rm -rf ~)_id_.png"),
])
def test_file_names_are_labels(given: str | None, kept: str) -> None:
    assert safe_name(given) == kept


def test_long_name_keeps_its_extension() -> None:
    name = safe_name("x" * 500 + ".pdf")
    assert len(name) == 120 and name.endswith("xxx.pdf")


def test_same_content_stored_once_by_hash_read_only(tmp_path: Path) -> None:
    sha, new = put(tmp_path, PDF)
    assert new and put(tmp_path, PDF) == (sha, False)
    path = evidence_file(tmp_path, sha)
    assert path == tmp_path / sha[:2] / sha and path.read_bytes() == PDF
    assert stat.S_IMODE(path.stat().st_mode) == 0o400
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [sha]  # no temporary file left, no names
    with pytest.raises(ValueError):
        evidence_file(tmp_path, "../../etc/passwd")


def test_limits_are_validated(tmp_path: Path) -> None:
    base = "sources: []\nattachments:\n"
    for text, problem in [
        (base + "  allowed_types: [application/x-msword]\n", "cannot be recognised from a file's content"),
        (base + "  allowed_types: [PDF]\n", "field attachments.allowed_types.0: String should match pattern"),
        (base + "  max_file_bytes: 2000\n  max_complaint_bytes: 1000\n", "max_file_bytes 2000 is over"),
        (base + "  max_files: 1000\n", "field attachments.max_files: Input should be less than or equal to 100"),
    ]:
        path = tmp_path / "sources.yaml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=problem.replace("(", r"\(")):
            load_file(path, SourcesConfig)


def test_an_attachment_is_sized_from_its_base64_before_decoding() -> None:
    """Mail wraps base64 at 76 characters with CRLF: the line breaks are not data, so a file just under the limit
    is decoded (it was refused, 2.6% over by its line breaks), one over it is not decoded at all."""
    import base64

    from complaints.core.records import IncomingFile

    limit = 10 * 1024 * 1024
    at_limit = base64.encodebytes(b"\x89PNG" + bytes(limit - 4)).decode().replace("\n", "\r\n")
    assert IncomingFile.undecoded("a.png", "image/png", at_limit, limit) is None
    over = base64.encodebytes(bytes(limit + 1024)).decode()
    big = IncomingFile.undecoded("b.png", "image/png", over, limit)
    assert big is not None and big.content is None and big.size == limit + 1024
    assert (big.problem_code, big.problem) == ("size", f"about {limit + 1024} bytes, over {limit} per file")
