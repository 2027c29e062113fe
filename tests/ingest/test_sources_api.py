"""HTTP JSON API source against a real HTTP server on loopback: pagination, watermark, auth, retries,
429 Retry-After, a server failing mid-way and one that dies (storage on both backends)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import func, select

from complaints.core.config import ApiSourceSpec, AppConfig, SecretRef
from complaints.core.db import session_scope
from complaints.core.models import Complaint, Source
from complaints.ingest.sources import Window
from complaints.ingest.sources.api import ApiConnector, ApiError
from complaints.ingest.store import IngestSummary, ingest_source

T0 = datetime(2026, 11, 16, 1, 0, tzinfo=UTC)
RECORDS = [
    {"id": f"A{i}", "created_at": (T0 + timedelta(minutes=i)).isoformat(),
     "updated_at": (T0 + timedelta(minutes=i)).isoformat(), "text": f"转账失败第{i}次 transfer failed",
     "email": f"u{i}@example.com"}
    for i in range(12)
]


class Api:
    """Records sorted by updated_at; `since` inclusive; cursor = offset. Faults are scripted per test."""

    def __init__(self) -> None:
        self.records = list(RECORDS)
        self.requests: list[dict[str, str]] = []
        self.fail_page: dict[int, int] = {}  # page -> how many more 500s to answer
        self.throttle_once: float | None = None
        self.dead_from_page: int | None = None

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        query = {k: v[0] for k, v in parse_qs(urlparse(handler.path).query).items()}
        self.requests.append(query)
        if handler.headers.get("Authorization") != "Bearer s3cret":
            return self.send(handler, 401, {"error": "unauthorised"})
        size = int(query["page_size"])
        offset = int(query.get("cursor", 0))
        page = offset // size + 1
        if self.dead_from_page and page >= self.dead_from_page:
            handler.close_connection = True  # the server process is gone: the connection drops
            return None
        if self.throttle_once is not None:
            seconds, self.throttle_once = self.throttle_once, None
            return self.send(handler, 429, {"error": "slow down"}, {"Retry-After": str(int(seconds))})
        if self.fail_page.get(page):
            self.fail_page[page] -= 1
            return self.send(handler, 500, {"error": "boom"})
        since = query.get("since")
        rows = [r for r in self.records if since is None or r["updated_at"] >= since]
        chunk = rows[offset : offset + size]
        nxt = str(offset + size) if offset + size < len(rows) else None
        return self.send(handler, 200, {"data": {"items": chunk}, "next": nxt})

    @staticmethod
    def send(handler: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode()
        handler.send_response(status)
        for k, v in {"Content-Type": "application/json", **(headers or {})}.items():
            handler.send_header(k, v)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)


@pytest.fixture
def api() -> Iterator[tuple[Api, str]]:
    state = Api()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.answer(self)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/complaints"
    server.shutdown()
    server.server_close()


def spec(url: str, **kw: Any) -> ApiSourceSpec:
    return ApiSourceSpec(
        name="partner_api", kind="api", channel="partner", url=url, records_field="data.items", cursor_field="next",
        page_size=5, auth=SecretRef(env="PARTNER_TOKEN"), backoff_seconds=0.01, max_backoff_seconds=0.05,
        mapping={"external_id": "id", "received_at": "created_at", "body": "text", "contact": "email"}, **kw,
    )


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARTNER_TOKEN", "s3cret")


def run(db_url: str, app_config: AppConfig, source: ApiSourceSpec, **kw: Any) -> IngestSummary:
    with session_scope(db_url) as s:
        return ingest_source(s, app_config, source, "k", **kw)


def stored(db_url: str) -> list[str]:
    with session_scope(db_url) as s:
        return sorted(s.execute(select(Complaint.external_id)).scalars())


def test_pages_watermark_and_rerun(db_url: str, app_config: AppConfig, api: tuple[Api, str]) -> None:
    server, url = api
    first = run(db_url, app_config, spec(url))
    assert (first.batches, first.inserted) == (3, 12)
    assert [r.get("cursor") for r in server.requests] == [None, "5", "10"]
    with session_scope(db_url) as s:
        assert s.execute(select(Source.state)).scalar_one() == {"since": RECORDS[-1]["updated_at"]}
        c = s.execute(select(Complaint).where(Complaint.external_id == "A3")).scalar_one()
        assert c.contact_masked == "u***@example.com" and c.received_at == T0 + timedelta(minutes=3)
    # A record changed at the source comes back with a newer updated_at: updated, with history.
    later = (T0 + timedelta(hours=1)).isoformat()
    server.records.append({**RECORDS[3], "text": "转账失败，已经三天了", "updated_at": later})
    server.requests.clear()
    again = run(db_url, app_config, spec(url))
    assert server.requests[0]["since"] == RECORDS[-1]["updated_at"]
    assert (again.records, again.inserted, again.updated, again.unchanged) == (2, 0, 1, 1)
    assert stored(db_url) == sorted(r["id"] for r in RECORDS)


def test_page_numbers_and_auth_failure(db_url: str, app_config: AppConfig, api: tuple[Api, str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    server, url = api
    # The test server pages by cursor offset; page numbers are sent too and it reads them as cursor.
    paged = spec(url, pagination="page", page_param="cursor")
    monkeypatch.setenv("PARTNER_TOKEN", "wrong")
    with pytest.raises(Exception, match="401"):
        run(db_url, app_config, paged)
    assert len(server.requests) == 1  # a 401 is not retried
    monkeypatch.setenv("PARTNER_TOKEN", "s3cret")
    assert run(db_url, app_config, spec(url)).inserted == 12


def test_500s_on_page_three_are_retried(db_url: str, app_config: AppConfig, api: tuple[Api, str]) -> None:
    server, url = api
    server.fail_page[3] = 3
    result = run(db_url, app_config, spec(url, max_retries=4))
    assert result.inserted == 12
    assert [r.get("cursor") for r in server.requests] == [None, "5", "10", "10", "10", "10"]


def test_server_dies_mid_way_next_run_resumes_from_committed_watermark(
    db_url: str, app_config: AppConfig, api: tuple[Api, str]
) -> None:
    server, url = api
    server.dead_from_page = 3
    with pytest.raises(ApiError, match="gave up after 3 attempts"):
        run(db_url, app_config, spec(url, max_retries=2))
    assert stored(db_url) == sorted(r["id"] for r in RECORDS[:10])
    with session_scope(db_url) as s:
        assert s.execute(select(Source.state)).scalar_one() == {"since": RECORDS[9]["updated_at"]}
    server.dead_from_page = None
    server.requests.clear()
    result = run(db_url, app_config, spec(url))
    assert server.requests[0]["since"] == RECORDS[9]["updated_at"]
    assert (result.inserted, result.unchanged) == (2, 1)  # A9 again at the boundary, absorbed
    with session_scope(db_url) as s:
        assert s.execute(select(func.count()).select_from(Complaint)).scalar_one() == 12


def test_429_retry_after_is_honoured(api: tuple[Api, str]) -> None:
    server, url = api
    server.throttle_once = 7
    waits: list[float] = []
    batches = list(ApiConnector(spec(url), sleep=waits.append).batches({}, Window()))
    assert waits == [7.0]
    assert sum(len(b.records) for b in batches) == 12


def test_backfill_asks_for_the_window_and_keeps_the_watermark(db_url: str, app_config: AppConfig,
                                                            api: tuple[Api, str]) -> None:
    server, url = api
    run(db_url, app_config, spec(url))
    with session_scope(db_url) as s:
        s.execute(Complaint.__table__.delete())
    server.requests.clear()
    result = run(db_url, app_config, spec(url), since=T0 + timedelta(minutes=4), until=T0 + timedelta(minutes=6))
    assert server.requests[0]["since"] == (T0 + timedelta(minutes=4)).isoformat()
    assert (result.inserted, result.outside_window) == (2, 6)
    assert stored(db_url) == ["A4", "A5"]
    with session_scope(db_url) as s:
        assert s.execute(select(Source.state)).scalar_one() == {"since": RECORDS[-1]["updated_at"]}


def test_config_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one of secret_block or env"):
        SecretRef()
    with pytest.raises(ValueError, match="url"):
        ApiSourceSpec(name="x", kind="api", channel="c", url="ftp://x",
                      mapping={"external_id": "i", "received_at": "t", "body": "b"})
