"""File drops: CSV, JSON Lines and Excel exports in a folder or glob, streamed in batches (complaint sources and
transaction feeds alike).

A file's state remembers how far it was read (byte offset, line number, the hash of that prefix, its
encoding and CSV header). A file whose prefix still hashes the same is read from there on: unchanged
files are skipped and a grown file yields only its new rows. Any other change re-reads the whole
file, which the unique (source, external_id) key makes harmless.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import json
import os
import zipfile
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import IO, Any

import openpyxl
from openpyxl.utils.exceptions import InvalidFileException

from complaints.core.config import FileDrop
from complaints.core.records import RawRecord
from complaints.ingest.sources.base import Batch, Window
from complaints.ingest.sources.cfpb import preset_spec
from complaints.ingest.sources.encoding import (
    SAMPLE_BYTES,
    Line,
    decode_chunks,
    decode_whole,
    detect_encoding,
    line_by_line,
    sample,
)

FORMAT_BY_SUFFIX = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".xlsx": "xlsx"}
_JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}
_READ_BLOCK = 1 << 20
# Records of one batch and the file's state after them (None while it cannot move yet).
Chunk = tuple[list[RawRecord], dict[str, Any] | None]


def file_format(path: Path, declared: str) -> str | None:
    """The declared format, or for "auto" the one its suffix names (None if it names none)."""
    return FORMAT_BY_SUFFIX.get(path.suffix.lower()) if declared == "auto" else declared


def _skipped(path: Path) -> bool:
    # Hidden files and Excel's "~$name.xlsx" lock files sit next to exports while they are open.
    return path.name.startswith((".", "~$"))


def _wanted(declared: str) -> set[str]:
    return {"csv", "jsonl", "xlsx"} if declared == "auto" else {declared}


def source_files(spec: FileDrop, config_dir: Path) -> list[Path]:
    """The files `spec.path` names (a file, a folder or a glob, relative to config_dir), sorted, absolute.

    A folder yields the files whose suffix is a supported format (the declared one if not "auto");
    a glob yields its matches, filtered by suffix only when the format is "auto"; a file is itself.
    """
    target = config_dir / spec.path
    if any(ch in spec.path for ch in "*?["):
        matches = [Path(p) for p in glob.glob(str(target), recursive=True)]
        candidates = [p for p in matches if spec.format != "auto" or file_format(p, "auto")]
    elif target.is_dir():
        candidates = [p for p in target.iterdir() if file_format(p, "auto") in _wanted(spec.format)]
    elif target.is_file():
        return [target.resolve()]
    else:
        raise FileNotFoundError(f"source {spec.name!r}: {target} does not exist")
    return sorted(p.resolve() for p in candidates if p.is_file() and not _skipped(p))


class LineReader:
    """Decoded physical lines, counting the bytes, lines and prefix hash consumed so far.

    csv.reader pulls exactly the lines of one record, so right after a record is parsed the counters
    stand at that record's end: a position to resume from (if its last line was terminated).
    """

    def __init__(self, lines: Iterable[tuple[bytes, Line]], offset: int = 0, line: int = 0,
                 digest: Any = None) -> None:
        self._lines = lines
        self.offset, self.line = offset, line
        self.digest = digest or hashlib.sha256()
        self.terminated = True
        self.span: list[Line] = []  # lines of the record being parsed

    def __iter__(self) -> Iterator[str]:
        for part, line in self._lines:
            self.offset += len(part)
            self.line += 1
            self.digest.update(part)
            self.terminated = part.endswith((b"\n", b"\r"))
            self.span.append(line)
            yield line.text

    def mark(self) -> tuple[int, int, Any]:
        return self.offset, self.line, self.digest.copy()


def _undecodable(encoding: str) -> str:
    return f"undecodable bytes in {encoding}"


def _span_error(name: str, line_no: int, span: Iterable[Line], reason: str) -> RawRecord:
    return RawRecord(f"{name}:line {line_no}", {"_raw": "".join(line.text for line in span)}, reason)


def iter_csv(lines: LineReader, name: str, encoding: str, meta: dict[str, Any]) -> Iterator[RawRecord]:
    """Header on the first non-blank row (or meta["header"] when resuming); every value a str, empty ->
    None; location = the record's first line. The header is kept in `meta` for the next run."""
    reader = csv.reader(lines)
    while True:
        lines.span = []
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield _span_error(name, lines.line - len(lines.span) + 1, lines.span, f"unreadable CSV: {exc}")
            continue
        first = lines.line - len(lines.span) + 1
        # Spreadsheet exports pad the end with rows of bare commas; they carry nothing.
        if not any(row):
            continue
        damaged = meta.get("header_damaged", False) or any(line.damaged for line in lines.span)
        header = meta.get("header")
        if header is None:
            meta["header"], meta["header_damaged"] = [h.strip() for h in row], damaged
            continue
        if len(row) != len(header):
            yield _span_error(name, first, lines.span, f"row has {len(row)} fields, header has {len(header)}")
            continue
        data = {h: (v if v != "" else None) for h, v in zip(header, row, strict=True)}
        yield RawRecord(f"{name}:line {first}", data, _undecodable(encoding) if damaged else None)


def iter_jsonl(lines: LineReader, name: str, encoding: str, meta: dict[str, Any]) -> Iterator[RawRecord]:
    """One JSON object per line; blank lines are skipped, anything else that is not an object is an error."""
    for text in lines:
        line = lines.span.pop()
        text = text.rstrip("\r\n")
        if not text.strip():
            continue
        error: str | None = None
        value: Any = None
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            error = f"not valid JSON ({exc.msg}, column {exc.colno})"
        except RecursionError:  # nesting deeper than the parser's stack: one bad line, not a crashed run
            error = "not valid JSON (nested too deeply)"
        else:
            if not isinstance(value, dict):
                error = f"expected a JSON object, got {_JSON_TYPES.get(type(value), 'null')}"
        if line.damaged:
            error = _undecodable(encoding)
        yield RawRecord(f"{name}:line {lines.line}", value if isinstance(value, dict) else {"_raw": text}, error)


def _cell_text(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def iter_xlsx(path: Path) -> Iterator[RawRecord]:
    """First sheet; header on the first non-empty row; values as str (dates ISO); location = sheet row."""
    name = path.name
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError) as exc:
        yield RawRecord(name, {}, f"not a readable .xlsx workbook: {exc}")
        return
    try:
        sheet = workbook.worksheets[0]
        # Some generators write a wrong <dimension>; read-only mode would then truncate rows.
        sheet.reset_dimensions()
        header: list[str] | None = None
        for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
            values = [_cell_text(v) for v in cells]
            while values and values[-1] is None:
                values.pop()
            if not values:
                continue
            if header is None:
                header = [(v or "").strip() for v in values]
                continue
            location = f"{name}:row {number}"
            if len(values) > len(header):
                reason = f"row has {len(values)} fields, header has {len(header)}"
                yield RawRecord(location, {"_raw": ",".join(v or "" for v in values)}, reason)
                continue
            # Excel omits trailing empty cells, so a short row is normal, not an error.
            values += [None] * (len(header) - len(values))
            yield RawRecord(location, dict(zip(header, values, strict=True)))
    finally:
        workbook.close()


def _verified_prefix(fh: IO[bytes], prev: dict[str, Any] | None, size: int) -> tuple[int, Any]:
    """(offset, hash of the bytes before it) to resume from: the remembered position if the file still
    starts with the same bytes, else 0. Leaves fh at that offset."""
    digest = hashlib.sha256()
    if prev and prev["offset"] <= size:
        remaining = prev["offset"]
        while remaining:
            block = fh.read(min(_READ_BLOCK, remaining))
            if not block:
                break
            digest.update(block)
            remaining -= len(block)
        if not remaining and digest.hexdigest() == prev["sha256"]:
            return prev["offset"], digest
    fh.seek(0)
    return 0, hashlib.sha256()


class FileConnector:
    """Batches of at most spec.batch_size records from each new or grown file of the source."""

    def __init__(self, spec: FileDrop, config_dir: Path) -> None:
        self.spec = preset_spec(spec)
        self.config_dir = config_dir
        self.skipped = 0
        # Known once batches() started: how many files the path matched, and whether it names an existing
        # folder (a drop folder may be empty; a glob or file that matches nothing is likely a typo).
        self.matched = 0
        self.waiting_folder = False
        if self.spec.encoding != "auto":
            try:
                line_by_line(self.spec.encoding)
            except LookupError as exc:
                raise ValueError(f"source {spec.name!r}: unknown encoding {spec.encoding!r}") from exc

    def batches(self, state: dict[str, Any], window: Window) -> Iterator[Batch]:
        files: dict[str, Any] = dict(state.get("files", {}))
        paths = source_files(self.spec, self.config_dir)
        self.matched = len(paths)
        self.waiting_folder = (self.config_dir / self.spec.path).is_dir()
        for path in paths:
            fmt = file_format(path, self.spec.format)
            if fmt is None:
                raise ValueError(f"source {self.spec.name!r}: cannot tell the format of {path}; set `format`")
            for records, entry in self._read(path, fmt, files.get(str(path))):
                if entry is not None:
                    files[str(path)] = entry
                yield Batch(str(path), records, {**state, "files": dict(files)})

    def _read(self, path: Path, fmt: str, prev: Any) -> Iterator[Chunk]:
        prev = prev if isinstance(prev, dict) else None
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            offset, digest = _verified_prefix(fh, prev, size)
            if prev is not None and offset == size:
                self.skipped += 1
                return
            encoding = self._encoding(fh, prev if offset else None, fmt)
            if fmt == "xlsx" or not line_by_line(encoding):
                yield from self._whole(path, fh, fmt, encoding)
                return
            meta = {k: prev[k] for k in ("header", "header_damaged") if k in prev} if offset and prev else {}
            lines = LineReader(decode_chunks(fh, encoding), offset, prev["line"] if offset and prev else 0, digest)
            parse = iter_csv if fmt == "csv" else iter_jsonl
            mark = lines.mark()
            chunk: list[RawRecord] = []
            for record in parse(lines, path.name, encoding, meta):
                chunk.append(record)
                if lines.terminated:
                    mark = lines.mark()
                if len(chunk) >= self.spec.batch_size:
                    yield chunk, _entry(mark, encoding, meta)
                    chunk = []
            if lines.terminated:  # trailing blank lines, or a file with a header only
                mark = lines.mark()
            # A last line without its line end may still be being written: it is read again next time.
            yield chunk, _entry(mark, encoding, meta)

    def _encoding(self, fh: IO[bytes], resumed: dict[str, Any] | None, fmt: str) -> str:
        if resumed is not None:
            return str(resumed["encoding"])
        if self.spec.encoding != "auto" or fmt == "xlsx":
            return self.spec.encoding
        start = fh.tell()
        head = fh.read(SAMPLE_BYTES)
        at_eof = len(head) < SAMPLE_BYTES
        fh.seek(start)
        return detect_encoding(sample(head, at_eof))

    def _whole(self, path: Path, fh: IO[bytes], fmt: str, encoding: str) -> Iterator[Chunk]:
        """Workbooks and stateful codecs cannot be resumed mid-file: batches carry no state until the end."""
        fh.seek(0)
        if fmt == "xlsx":
            digest = hashlib.file_digest(fh, "sha256")
            records: Iterator[RawRecord] = iter_xlsx(path)
        else:
            raw = fh.read()
            digest = hashlib.sha256(raw)
            lines = LineReader((b"", line) for line in decode_whole(raw, encoding))
            records = (iter_csv if fmt == "csv" else iter_jsonl)(lines, path.name, encoding, {})
        chunk: list[RawRecord] = []
        for record in records:
            chunk.append(record)
            if len(chunk) >= self.spec.batch_size:
                yield chunk, None
                chunk = []
        yield chunk, {"offset": fh.tell(), "line": 0, "sha256": digest.hexdigest(), "encoding": encoding}


def _entry(mark: tuple[int, int, Any], encoding: str, meta: dict[str, Any]) -> dict[str, Any]:
    offset, line, digest = mark
    return {"offset": offset, "line": line, "sha256": digest.hexdigest(), "encoding": encoding, **meta}
