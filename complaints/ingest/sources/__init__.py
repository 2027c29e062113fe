"""Connectors: each source kind reads its channel into batches of RawRecords (see base.Batch)."""

from __future__ import annotations

from pathlib import Path

from complaints.core.config import ApiSourceSpec, FileDrop, ImapSourceSpec, SourceBase, SqlSourceSpec
from complaints.ingest.sources.base import Batch, Connector, Window, WindowError
from complaints.ingest.sources.cfpb import CFPB_COLUMNS, CFPB_DATE_FORMAT, CFPB_MAPPING, preset_spec
from complaints.ingest.sources.encoding import decode_lines, detect_encoding
from complaints.ingest.sources.files import FileConnector, source_files

__all__ = [
    "CFPB_COLUMNS",
    "CFPB_DATE_FORMAT",
    "CFPB_MAPPING",
    "Batch",
    "Connector",
    "FileConnector",
    "Window",
    "WindowError",
    "connector_for",
    "decode_lines",
    "detect_encoding",
    "preset_spec",
    "source_files",
]


def connector_for(spec: SourceBase, config_dir: Path, max_file_bytes: int | None = None) -> Connector:
    """The connector for a spec's kind (files: complaint files and transaction feeds); network connectors are
    imported only when used. Connectors that carry files leave undecoded any over `max_file_bytes`."""
    if isinstance(spec, FileDrop):
        return FileConnector(spec, config_dir)
    if isinstance(spec, ApiSourceSpec):
        from complaints.ingest.sources.api import ApiConnector

        return ApiConnector(spec, max_file_bytes=max_file_bytes)
    if isinstance(spec, SqlSourceSpec):
        from complaints.ingest.sources.sql import SqlConnector

        return SqlConnector(spec)
    if isinstance(spec, ImapSourceSpec):
        from complaints.ingest.sources.imap import ImapConnector

        return ImapConnector(spec, max_file_bytes)
    raise ValueError(f"source {spec.name!r}: no connector for kind {spec.kind!r}")
