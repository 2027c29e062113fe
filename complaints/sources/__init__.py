"""Connectors: find a source's files, skip those already ingested, parse the rest into RawRecords."""

from __future__ import annotations

import codecs
import glob
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from complaints.config import SourceSpec
from complaints.records import RawRecord
from complaints.sources.cfpb import CFPB_COLUMNS, CFPB_DATE_FORMAT, CFPB_MAPPING, preset_spec
from complaints.sources.encoding import decode_lines, detect_encoding
from complaints.sources.files import file_format, parse_csv, parse_file, parse_jsonl, parse_xlsx

__all__ = [
    "CFPB_COLUMNS",
    "CFPB_DATE_FORMAT",
    "CFPB_MAPPING",
    "FileBatch",
    "decode_lines",
    "detect_encoding",
    "parse_csv",
    "parse_file",
    "parse_jsonl",
    "parse_xlsx",
    "preset_spec",
    "read_files",
    "source_files",
]


@dataclass(frozen=True)
class FileBatch:
    """One file's records; the caller stores `sha256` under str(path) once they are committed."""

    path: Path
    sha256: str
    records: list[RawRecord]


def _skipped(path: Path) -> bool:
    # Hidden files and Excel's "~$name.xlsx" lock files sit next to exports while they are open.
    return path.name.startswith((".", "~$"))


def source_files(spec: SourceSpec, config_dir: Path) -> list[Path]:
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


def _wanted(declared: str) -> set[str]:
    return {"csv", "jsonl", "xlsx"} if declared == "auto" else {declared}


def read_files(spec: SourceSpec, config_dir: Path, seen: dict[str, str]) -> Iterator[FileBatch]:
    """Parse each of the source's files whose content hash differs from seen[str(path)].

    The hash is taken over the very bytes that are parsed, so a file rewritten mid-run is never
    recorded under a hash of content that was not ingested.
    """
    if spec.encoding != "auto":
        try:
            codecs.lookup(spec.encoding)
        except LookupError as exc:
            raise ValueError(f"source {spec.name!r}: unknown encoding {spec.encoding!r}") from exc
    for path in source_files(spec, config_dir):
        raw = path.read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        if seen.get(str(path)) == digest:
            continue
        fmt = file_format(path, spec.format)
        if fmt is None:
            raise ValueError(f"source {spec.name!r}: cannot tell the format of {path}; set `format`")
        yield FileBatch(path, digest, parse_file(raw, path.name, fmt, spec.encoding))
