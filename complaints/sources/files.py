"""Parse one export file's bytes into RawRecords: CSV, JSON Lines or an Excel workbook."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.utils.exceptions import InvalidFileException

from complaints.records import RawRecord
from complaints.sources.encoding import Line, decode_lines, detect_encoding

FORMAT_BY_SUFFIX = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".xlsx": "xlsx"}
_JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


def file_format(path: Path, declared: str) -> str | None:
    """The declared format, or for "auto" the one its suffix names (None if it names none)."""
    return FORMAT_BY_SUFFIX.get(path.suffix.lower()) if declared == "auto" else declared


def parse_file(raw: bytes, name: str, fmt: str, encoding: str = "auto") -> list[RawRecord]:
    if fmt == "xlsx":
        return parse_xlsx(raw, name)
    if encoding == "auto":
        encoding = detect_encoding(raw)
    if fmt == "csv":
        return parse_csv(raw, name, encoding)
    if fmt == "jsonl":
        return parse_jsonl(raw, name, encoding)
    raise ValueError(f"{name}: unsupported format {fmt!r}")


def _undecodable(encoding: str) -> str:
    return f"undecodable bytes in {encoding}"


def parse_csv(raw: bytes, name: str, encoding: str) -> list[RawRecord]:
    """Header on the first non-blank row; every value a str, empty -> None; location = first line."""
    lines = decode_lines(raw, encoding)
    reader = csv.reader(line.text for line in lines)
    header: list[str] | None = None
    header_damaged = False
    records: list[RawRecord] = []
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            span = lines[start - 1 : reader.line_num]
            records.append(_csv_error(name, start, span, f"unreadable CSV: {exc}"))
            start = reader.line_num + 1
            continue
        first, span = start, lines[start - 1 : reader.line_num]
        start = reader.line_num + 1
        # Spreadsheet exports pad the end with rows of bare commas; they carry nothing.
        if not any(row):
            continue
        damaged = header_damaged or any(line.damaged for line in span)
        if header is None:
            header, header_damaged = [h.strip() for h in row], damaged
            continue
        if len(row) != len(header):
            reason = f"row has {len(row)} fields, header has {len(header)}"
            records.append(_csv_error(name, first, span, reason))
            continue
        data = {h: (v if v != "" else None) for h, v in zip(header, row, strict=True)}
        records.append(RawRecord(f"{name}:line {first}", data, _undecodable(encoding) if damaged else None))
    return records


def _csv_error(name: str, line_no: int, span: Iterable[Line], reason: str) -> RawRecord:
    return RawRecord(f"{name}:line {line_no}", {"_raw": "".join(line.text for line in span)}, reason)


def parse_jsonl(raw: bytes, name: str, encoding: str) -> list[RawRecord]:
    """One JSON object per line; blank lines are skipped, anything else that is not an object is an error."""
    records: list[RawRecord] = []
    for number, line in enumerate(decode_lines(raw, encoding), start=1):
        text = line.text.rstrip("\r\n")
        if not text.strip():
            continue
        location = f"{name}:line {number}"
        error: str | None = None
        value: Any = None
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            error = f"not valid JSON ({exc.msg}, column {exc.colno})"
        else:
            if not isinstance(value, dict):
                error = f"expected a JSON object, got {_JSON_TYPES.get(type(value), 'null')}"
        if line.damaged:
            error = _undecodable(encoding)
        data = value if isinstance(value, dict) else {"_raw": text}
        records.append(RawRecord(location, data, error))
    return records


def _cell_text(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def parse_xlsx(raw: bytes, name: str) -> list[RawRecord]:
    """First sheet; header on the first non-empty row; values as str (dates ISO); location = sheet row."""
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError) as exc:
        return [RawRecord(name, {}, f"not a readable .xlsx workbook: {exc}")]
    try:
        sheet = workbook.worksheets[0]
        # Some generators write a wrong <dimension>; read-only mode would then truncate rows.
        sheet.reset_dimensions()
        header: list[str] | None = None
        records: list[RawRecord] = []
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
                raw_row = ",".join(v or "" for v in values)
                reason = f"row has {len(values)} fields, header has {len(header)}"
                records.append(RawRecord(location, {"_raw": raw_row}, reason))
                continue
            # Excel omits trailing empty cells, so a short row is normal, not an error.
            values += [None] * (len(header) - len(values))
            records.append(RawRecord(location, dict(zip(header, values, strict=True))))
        return records
    finally:
        workbook.close()
