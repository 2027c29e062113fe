"""HTTP JSON API connector: page- or cursor-paginated, incremental by a `since` watermark.

The API must return records whose watermark field is >= `since`, in ascending order of it: each
committed page then moves the watermark, and a run that dies mid-way resumes at the last committed
page. Records at the boundary are read again; the unique (source, external_id) key absorbs them.
"""

from __future__ import annotations

import base64
import binascii
import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from complaints.core.config import ApiSourceSpec
from complaints.core.records import IncomingFile, RawRecord
from complaints.ingest.sources.base import Batch, Window, resolve_secret


class ApiError(RuntimeError):
    """The API answered with something that is not a page of records."""


def dig(data: Any, path: str) -> Any:
    """data["a"]["b"] for path "a.b"; None where a key is missing."""
    for key in path.split(".") if path else []:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _instant(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def retry_after(response: httpx.Response) -> float | None:
    """Seconds a 429/503 asks us to wait: Retry-After as seconds or as an HTTP date."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def api_files(value: Any, max_bytes: int | None = None) -> tuple[IncomingFile, ...]:
    """A record's files: a list of {filename, content_type, content (base64)}. An entry that cannot be read is kept
    as an unreadable file with the problem (the complaint is stored all the same); one whose encoding is already over
    `max_bytes` is not decoded."""
    if not isinstance(value, list):
        return (IncomingFile(None, None, None, 0, "the attachments field is not a list of files"),)
    files = []
    for entry in value:
        if not isinstance(entry, dict):
            files.append(IncomingFile(None, None, None, 0, "an attachment that is not an object"))
            continue
        name, declared, content = entry.get("filename"), entry.get("content_type"), entry.get("content")
        name = name if isinstance(name, str) else None
        declared = declared if isinstance(declared, str) else None
        encoded = "".join(content.split()) if isinstance(content, str) else None
        if encoded is not None and (big := IncomingFile.undecoded(name, declared, encoded, max_bytes)):
            files.append(big)
            continue
        try:
            data = base64.b64decode(encoded, validate=True) if encoded is not None else None
        except (binascii.Error, ValueError):
            data = None
        if data is None:
            files.append(IncomingFile(name, declared, None, len(encoded or "") * 3 // 4, "content is not base64"))
        else:
            files.append(IncomingFile(name, declared, data, len(data)))
    return tuple(files)


class ApiConnector:
    skipped = 0

    def __init__(self, spec: ApiSourceSpec, sleep: Callable[[float], None] = time.sleep,
                 max_file_bytes: int | None = None) -> None:
        self.spec = spec
        self._sleep = sleep
        self.max_file_bytes = max_file_bytes

    def _headers(self) -> dict[str, str]:
        if self.spec.auth is None:
            return {}
        return {self.spec.auth_header: self.spec.auth_prefix + resolve_secret(self.spec.auth)}

    def backoff(self, attempt: int) -> float:
        """Exponential, capped, with jitter so many workers do not retry in step."""
        ceiling = min(self.spec.max_backoff_seconds, self.spec.backoff_seconds * 2**attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def get(self, client: httpx.Client, params: dict[str, Any]) -> Any:
        """One page, retried on timeouts, connection errors, 5xx and 429; other errors raise at once."""
        for attempt in range(self.spec.max_retries + 1):
            failure: str
            try:
                response = client.get(self.spec.url, params=params)
            except httpx.TransportError as exc:  # timeouts, refused and dropped connections
                failure, delay = f"{type(exc).__name__}: {exc}", self.backoff(attempt)
            else:
                if response.status_code == 429 or response.status_code >= 500:
                    failure = f"HTTP {response.status_code}"
                    delay = retry_after(response) if response.status_code in (429, 503) else None
                    delay = self.backoff(attempt) if delay is None else delay
                else:
                    response.raise_for_status()
                    try:
                        return response.json()
                    except ValueError as exc:
                        raise ApiError(f"{self.spec.url}: response is not JSON") from exc
            if attempt == self.spec.max_retries:
                raise ApiError(f"{self.spec.url}: gave up after {attempt + 1} attempts ({failure})")
            self._sleep(delay)
        raise AssertionError("unreachable")

    def batches(self, state: dict[str, Any], window: Window) -> Iterator[Batch]:
        spec = self.spec
        since = window.since.isoformat() if window.since else state.get("since")
        newest = _instant(since) if since else None
        params: dict[str, Any] = {**spec.params, spec.page_size_param: spec.page_size}
        if since:
            params[spec.since_param] = since
        cursor: Any = None
        with httpx.Client(timeout=spec.timeout_seconds, headers=self._headers()) as client:
            for page in range(1, 1_000_000):
                if spec.pagination == "page":
                    params[spec.page_param] = page
                elif cursor is not None:
                    params[spec.cursor_param] = cursor
                body = self.get(client, params)
                items = dig(body, spec.records_field)
                if not isinstance(items, list):
                    raise ApiError(f"{spec.url} page {page}: no list at {spec.records_field!r}")
                records = []
                for number, item in enumerate(items, start=1):
                    location = f"{spec.url} page {page} item {number}"
                    if not isinstance(item, dict):
                        records.append(RawRecord(location, {"_raw": item}, "expected a JSON object"))
                        continue
                    field = spec.attachments_field
                    files = (api_files(item.pop(field), self.max_file_bytes) if field is not None and field in item
                             else ())
                    records.append(RawRecord(location, item, files=files))
                    at = _instant(item.get(spec.watermark_field))
                    if at is not None and (newest is None or at > newest):
                        newest = at
                yield Batch(f"page {page}", records, {**state, "since": newest.isoformat() if newest else None})
                if spec.pagination == "page":
                    if len(items) < spec.page_size:
                        return
                else:
                    cursor = dig(body, spec.cursor_field)
                    if cursor in (None, ""):
                        return
