"""Evidence files that arrive with complaints (mail attachments, an API record's files): checked, stored
content-addressed, linked to their complaint, erased with it.

Each file is checked against sources.yaml `attachments` (its type as sniffed from its first bytes, whatever it
declares; its size; how many and how large the complaint's files are together). An accepted file is stored once by
its SHA-256 under the evidence folder (`<var>/evidence/ab/abcdef...`, read-only, no extension); a rejected one is
recorded with the reason and its content dropped. The sender's file name is kept, sanitised, as a label only: the
storage path is the hash. Nothing here (or anywhere else) opens, renders, converts or fetches a file: messages,
reports and the CLI show a count and the names (escaped, masked), never contents.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from complaints.core.db import insert_ignore
from complaints.core.models import ComplaintAttachment, utcnow
from complaints.core.records import IncomingFile
from complaints.core.statuses import AttachmentRejection, AttachmentStatus

if TYPE_CHECKING:  # config imports this module for the types it can tell
    from complaints.core.config import AttachmentLimits

# Magic numbers at offset 0, most specific first. HEIC/HEIF and MP4 are ISO media files: a `ftyp` box at offset 4.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"BM", "image/bmp"),
    (b"PK\x03\x04", "application/zip"),  # also docx, xlsx: archives that can carry macros
    (b"Rar!\x1a\x07", "application/vnd.rar"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"\x1f\x8b", "application/gzip"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),  # old .doc/.xls
    (b"MZ", "application/x-dosexec"),
    (b"\x7fELF", "application/x-executable"),
    (b"ID3", "audio/mpeg"),
    (b"OggS", "audio/ogg"),
)
_FTYP_BRANDS = {b"heic": "image/heic", b"heix": "image/heic", b"mif1": "image/heif", b"heif": "image/heif",
                b"isom": "video/mp4", b"mp41": "video/mp4", b"mp42": "video/mp4", b"avc1": "video/mp4",
                b"M4A ": "audio/mp4", b"qt  ": "video/quicktime"}
# Text that a browser or viewer would run or render as markup: never passed off as plain text.
_MARKUP = ((b"<!doctype html", "text/html"), (b"<html", "text/html"), (b"<svg", "image/svg+xml"),
           (b"<?xml", "application/xml"), (b"<script", "text/html"))
# Browsers sniff these leading tags as HTML (WHATWG MIME Sniffing, "HTML" patterns), and active markup anywhere in
# the sample makes a text file HTML too: a viewer that sniffs past the first line would run it.
_HTML_LEAD_RE = re.compile(rb"<(?:!--|(?:head|iframe|h1|div|font|table|a|style|title|b|body|br|p)[\s>])")
_ACTIVE_RE = re.compile(rb"<\s*(?:script|iframe|object|embed|svg|html|body|meta|link|form|img|style)\b"
                        rb"|<[a-z][^<>]*\son[a-z]+\s*=|<[a-z][^<>]*=\s*[\"']?\s*javascript:")
PLAIN_TEXT = "text/plain"
# Every type sniff() can answer: sources.yaml may allow only these (a type it cannot recognise would never match).
KNOWN_TYPES = frozenset({t for _, t in _MAGIC} | set(_FTYP_BRANDS.values()) | {t for _, t in _MARKUP}
                        | {"image/webp", "audio/wav", PLAIN_TEXT})
_TEXT_SAMPLE = 4096
_CONTENT_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*$")
MAX_NAME = 120
REASON_CHARS = 300
# Files of one record examined one by one; the rest of a record that sends more is one rejected row.
EXAMINED = 200


def sniff(data: bytes) -> str | None:
    """The file's type from its first bytes (magic numbers; markup and plain text last), None when unknown."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] in (b"WEBP", b"WAVE"):
        return "image/webp" if data[8:12] == b"WEBP" else "audio/wav"
    if data[4:8] == b"ftyp":
        return _FTYP_BRANDS.get(data[8:12])
    head = data[:_TEXT_SAMPLE]
    start = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    for magic, kind in _MARKUP:
        if start.startswith(magic):
            return kind
    if _HTML_LEAD_RE.match(start) or _ACTIVE_RE.search(head.lower()):
        return "text/html"
    return PLAIN_TEXT if _plain_text(head, len(data) <= _TEXT_SAMPLE) else None


def _plain_text(head: bytes, whole: bool) -> bool:
    """UTF-8 (or GB18030) text without control characters other than tab and line ends."""
    for encoding in ("utf-8", "gb18030"):
        try:
            text = head.decode(encoding)
        except UnicodeDecodeError as exc:
            # The sample may cut a multi-byte character at its end.
            if whole or exc.start < len(head) - 4:
                continue
            text = head[:exc.start].decode(encoding)
        return not any((ord(ch) < 32 and ch not in "\t\r\n") or ch == "\x7f" for ch in text)
    return False


def content_type(value: str | None) -> str | None:
    """A declared content type as `type/subtype` in lower case ("Image/JPEG; name=a.jpg" -> image/jpeg), None when
    it is not one."""
    kind = (value or "").split(";")[0].strip().lower()
    return kind if _CONTENT_TYPE_RE.fullmatch(kind) and len(kind) <= 100 else None


def safe_name(name: str | None) -> str:
    """The sender's file name as a label: the last path segment, NFKC, no control, format (bidi, zero-width) or
    path characters, no leading dots, at most MAX_NAME characters with the extension kept. Never a path: files are
    stored by hash."""
    text = unicodedata.normalize("NFKC", name or "")
    text = re.split(r"[/\\]", text)[-1]
    text = "".join(" " if ch.isspace() else ch for ch in text
                   if ch.isspace() or unicodedata.category(ch)[0] != "C")
    text = re.sub(r"[<>:\"|?*`$]", "_", " ".join(text.split())).lstrip(". ")
    if len(text) > MAX_NAME:
        _, dot, ext = text.rpartition(".")
        ext = ext if dot and 0 < len(ext) <= 10 else ""
        text = text[: MAX_NAME - len(ext) - 1].rstrip() + ("." + ext if ext else "")
    return text or "attachment"


def evidence_file(root: Path, sha256: str) -> Path:
    """Where the file with this hash is (or would be) stored: two hex digits of fan-out, then the whole hash."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError(f"not a SHA-256 hex digest: {sha256[:80]!r}")
    return root / sha256[:2] / sha256


def put(root: Path, data: bytes) -> tuple[str, bool]:
    """Store the bytes once by their SHA-256; (hash, whether the file is new). Written to a temporary file and
    renamed, so a reader never sees half a file; read-only, in folders only the service user can list."""
    sha = hashlib.sha256(data).hexdigest()
    path = evidence_file(root, sha)
    if path.is_file():
        return sha, False
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # A name of its own (mode 0600): two sources' threads storing the same file at once each rename a whole copy.
    fd, name = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o400)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return sha, True


@dataclass
class AttachmentCounts:
    stored: int = 0  # new rows of accepted files (a file already on disk is not written again)
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # rejection code -> new rejected rows


@dataclass(frozen=True)
class _Decision:
    name: str
    declared: str | None
    sniffed: str | None
    size: int
    sha256: str | None
    rejected: AttachmentRejection | None
    reason: str | None


def _fingerprint(name: str, sha256: str | None, problem: str | None, declared: str | None) -> str:
    """What makes a file the same one again for its complaint (re-ingest): its name and content, or for a file never
    read, its name, declared type and the problem."""
    return hashlib.sha256(f"{name}\x00{sha256 or ''}\x00{declared or ''}\x00{problem or ''}".encode()).hexdigest()


def _decide(f: IncomingFile, limits: AttachmentLimits, count: int, total: int) -> _Decision:
    """Accept or reject one file, given how many files and bytes the complaint has accepted so far."""
    name, declared = safe_name(f.name), content_type(f.declared_type)

    def reject(code: AttachmentRejection, why: str, sniffed: str | None = None, sha: str | None = None) -> _Decision:
        return _Decision(name, declared, sniffed, f.size, sha, code, f"{code}: {why}"[:REASON_CHARS])

    if f.content is None:
        code = f.problem_code or AttachmentRejection.unreadable
        return reject(code, f.problem or "could not be read")
    sha = hashlib.sha256(f.content).hexdigest()
    sniffed = sniff(f.content)
    if not f.content:
        return reject(AttachmentRejection.size, "empty file", sniffed, sha)
    if f.size > limits.max_file_bytes:
        return reject(AttachmentRejection.size, f"{f.size} bytes, over {limits.max_file_bytes} per file", sniffed, sha)
    if sniffed not in limits.allowed_types:
        return reject(AttachmentRejection.type, f"content is {sniffed or 'of an unknown type'} "
                      f"(declared {declared or 'nothing'}), not an allowed type", sniffed, sha)
    if count >= limits.max_files:
        return reject(AttachmentRejection.count, f"more than {limits.max_files} files", sniffed, sha)
    if total + f.size > limits.max_complaint_bytes:
        return reject(AttachmentRejection.size, f"the complaint's files would exceed {limits.max_complaint_bytes} "
                      "bytes", sniffed, sha)
    return _Decision(name, declared, sniffed, f.size, sha, None, None)


def link_files(session: Session, files: Mapping[int, Sequence[IncomingFile]], root: Path,
               limits: AttachmentLimits) -> AttachmentCounts:
    """Check, store and link each complaint's files (complaint id -> files). Idempotent: a file already recorded for
    the complaint (same name and content) keeps its first decision, and counts towards the limits of new ones."""
    counts = AttachmentCounts()
    if not files:
        return counts
    a = ComplaintAttachment
    known: dict[int, dict[str, tuple[str, int]]] = {}
    for cid, fp, status, size in session.execute(
            select(a.complaint_id, a.fingerprint, a.status, a.size_bytes).where(a.complaint_id.in_(list(files)))):
        known.setdefault(cid, {})[fp] = (status, size)
    rows = []
    now = utcnow()
    for cid, every in files.items():
        incoming = list(every[:EXAMINED])
        if len(every) > EXAMINED:
            incoming.append(IncomingFile(f"{len(every) - EXAMINED} more files", None, None, 0,
                                         f"only the first {EXAMINED} files of a record are examined",
                                         AttachmentRejection.count))
        seen = known.get(cid, {})
        stored = [size for status, size in seen.values() if status == AttachmentStatus.stored]
        count, total = len(stored), sum(stored)
        for f in incoming:
            d = _decide(f, limits, count, total)
            fp = _fingerprint(d.name, d.sha256, d.reason if d.sha256 is None else None, d.declared)
            if fp in seen:
                continue  # recorded before (a re-read of the record), or the same file twice in it
            if d.rejected is None:
                assert f.content is not None and d.sha256 is not None
                count, total = count + 1, total + d.size
                put(root, f.content)
            status = AttachmentStatus.stored if d.rejected is None else AttachmentStatus.rejected
            seen[fp] = (status, d.size)
            rows.append({"complaint_id": cid, "fingerprint": fp, "file_name": d.name, "declared_type": d.declared,
                         "sniffed_type": d.sniffed, "size_bytes": d.size, "sha256": d.sha256, "status": status,
                         "rejected": d.rejected, "reason": d.reason, "created_at": now})
    inserted = insert_ignore(session, a.__table__, rows, returning=(a.__table__.c.status, a.__table__.c.rejected))
    for status, rejected in inserted:
        if status == AttachmentStatus.stored:
            counts.stored += 1
        else:
            counts.rejected += 1
            counts.reasons[rejected] = counts.reasons.get(rejected, 0) + 1
    return counts


def erase(session: Session, complaint_ids: Sequence[int], root: Path, *, dry_run: bool = False) -> tuple[int, int]:
    """Delete the complaints' attachment rows, then every stored file no other complaint's row still names; (rows,
    files). A dry run only counts (files: those it would delete). Runs inside the caller's transaction: the files go
    before it commits, so a failed commit leaves rows whose file is missing, never a file without its rows."""
    if not complaint_ids:
        return 0, 0
    a = ComplaintAttachment
    mine = session.execute(select(a.id, a.sha256, a.status).where(a.complaint_id.in_(list(complaint_ids)))).all()
    # Only stored rows have a file: a rejected row's hash (a file refused for its count or size) keeps nothing alive.
    hashes = {r.sha256 for r in mine if r.sha256 and r.status == AttachmentStatus.stored}
    others = select(a.sha256).where(a.sha256.in_(hashes), a.status == AttachmentStatus.stored,
                                    a.complaint_id.not_in(list(complaint_ids)))
    shared = set(session.scalars(others)) if hashes else set()
    orphans = [evidence_file(root, h) for h in sorted(hashes - shared)]
    if dry_run:
        return len(mine), sum(p.is_file() for p in orphans)
    if mine:
        session.execute(delete(a).where(a.id.in_([r.id for r in mine])))
        session.flush()
    removed = 0
    for path in orphans:
        if path.is_file():
            path.unlink()
            removed += 1
    return len(mine), removed

