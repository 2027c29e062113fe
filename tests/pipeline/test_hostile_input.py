"""Hostile and broken input: every record is quarantined with a reason or stored as inert text; no run crashes.

Already covered elsewhere (not repeated here): CR/LF and header injection in subjects and recipients
(tests/notify/test_mail.py::test_hostile_subject_cannot_add_headers, tests/notify/test_notify.py::
test_header_injection_reaches_only_the_recipient), HTML/script/template text in stored complaints and in the
PDFs (tests/ingest/test_ingest.py::test_hostile_text_is_stored_as_plain_text,
tests/reports/test_reports.py::test_weekly_reports),
bad bytes and broken lines (tests/ingest/test_sources_files.py).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import random
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader
from sqlalchemy import func, select

from complaints.core.config import ApiSourceSpec, AppConfig, FileSourceSpec
from complaints.core.db import get_engine, migrate, scratch_database, session_scope
from complaints.core.models import Complaint, Incident, Notification, QuarantinedRecord
from complaints.core.records import BadRecord, IncomingComplaint, RawRecord
from complaints.core.settings import Settings
from complaints.ingest.mapping import map_record
from complaints.ingest.store import ingest_source, replay_quarantine
from complaints.notify.channels.email import InvalidRecipient, valid_address
from complaints.notify.outbox import queue_acknowledgements
from complaints.reports import render_weekly_reports
from complaints.reports.export import FORMULA_START, neutralise, write
from tests.core.test_pii_formats import PII, WORDS, glue
from tests.factories import complaint
from tests.pipeline.test_pii_leaks import every_output, leaks, run_stages
from tests.reports.test_reports import WEEK as REPORT_WEEK
from tests.reports.test_reports import Listener, listener, seed  # noqa: F401 (listener: a fixture)
from tests.stages import run_process

SPEC = FileSourceSpec(name="h", kind="file", channel="app", path="in/*",
                      mapping={"external_id": "id", "received_at": "at", "contact": "contact", "title": "title",
                               "body": "body", "merchant": "merchant", "amount": "amount"})
T0 = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)
NASTY = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300) | st.sampled_from([
    "=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "<script>alert(1)</script>", "{{ 7*7 }}{% raw %}",
    "a\r\nBcc: x@evil.example", "pay\u200bpal\u200d", "аррӏе", "\ufeff\u202eRTL", "x" * 10_000, "\x00\x01\x7f"])


def count(url: str, model: object) -> int:
    with session_scope(url) as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["id", "at", "contact", "title", "body", "merchant", "amount", "other"]),
                       NASTY | st.none() | st.integers() | st.floats(allow_nan=True)))
def test_mapping_any_record_gives_a_complaint_or_a_reason(data: dict[str, object]) -> None:
    """Property: any field values map to a complaint whose one-line fields hold no line break or control
    character, or to a quarantine reason; never an exception."""
    mapped = map_record(SPEC, RawRecord("f:1", dict(data)), "k")
    if isinstance(mapped, BadRecord):
        assert mapped.reason and json.loads(mapped.raw) is not None
        return
    assert isinstance(mapped, IncomingComplaint)
    for value in (mapped.contact, mapped.title, mapped.merchant, mapped.external_id):
        assert value is None or not any(ch in value for ch in "\r\n\x00\u2028\u2029")


def write_bytes_input(folder: Path, seed: int) -> int:
    """A JSONL and a CSV file of good rows interleaved with random bytes, deep nesting, huge fields and
    wrong encodings; returns the number of good rows."""
    rng = random.Random(seed)
    (folder / "in").mkdir(parents=True, exist_ok=True)
    lines, good = [], 0
    for i in range(200):
        kind = rng.randrange(6)
        if kind == 0:
            lines.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))).replace(b"\n", b""))
        elif kind == 1:
            lines.append(b"[" * 100_000 + b"]" * 100_000)  # deeper than any JSON parser's recursion limit
        elif kind == 2:
            lines.append(json.dumps({"id": f"J{i}", "at": T0.isoformat(), "body": "x", "title": "t" * 1_000_000})
                         .encode())
        elif kind == 3:
            lines.append(json.dumps({"id": f"J{i}", "at": T0.isoformat(), "body": "退款问题"}, ensure_ascii=False)
                         .encode("gbk"))  # GBK bytes inside a UTF-8 file
        else:
            good += 1
            lines.append(json.dumps({"id": f"J{i}", "at": (T0 + timedelta(minutes=i)).isoformat(),
                                     "body": f"提现 {i} =cmd|' /C calc'!A0 <script>x</script>"},
                                    ensure_ascii=False).encode())
    (folder / "in" / "a.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    csv_rows = [b"id,at,body"]
    for i in range(100):
        if i % 4 == 0:
            csv_rows.append(bytes(rng.randrange(256) for _ in range(80)).replace(b"\n", b" "))
        else:
            good += 1
            csv_rows.append(f'C{i},{T0.isoformat()},"=HYPERLINK(""http://evil.example"") {i}"'.encode())
    (folder / "in" / "b.csv").write_bytes(b"\n".join(csv_rows) + b"\n")
    return good


@pytest.mark.parametrize("seed", [1, 2])
def test_random_bytes_deep_json_huge_fields_wrong_encoding_never_crash_ingest(
        db_url: str, app_config: AppConfig, tmp_path: Path, seed: int) -> None:
    """Injects: 300 records, a third random bytes, 100,000-deep JSON nesting, 1 MB titles, GBK inside UTF-8.
    Asserts: the run completes; every good row stored (as written) and every other record quarantined or, when
    the bytes happened to decode to a complaint, stored: records = inserted + quarantined; a re-run adds nothing."""
    good = write_bytes_input(tmp_path, seed)
    cfg = app_config.model_copy(update={"directory": tmp_path,
                                        "sources": app_config.sources.model_copy(update={"sources": [SPEC]})})
    with session_scope(db_url) as s:
        summary = ingest_source(s, cfg, SPEC, "k")
    assert summary.records == summary.inserted + summary.quarantined + summary.unchanged
    assert summary.inserted >= good and summary.quarantined >= 1
    assert count(db_url, Complaint) == summary.inserted
    assert count(db_url, QuarantinedRecord) <= summary.quarantined  # the same bad bytes twice: one row
    with session_scope(db_url) as s:
        assert ingest_source(s, cfg, SPEC, "k").inserted == 0
        replayed = replay_quarantine(s, cfg, "k")  # the deep-nesting lines too: no crash
    assert replayed.inserted == 0 and replayed.still_bad + replayed.replayed == count(db_url, QuarantinedRecord)
    with session_scope(db_url) as s:
        body = s.scalars(select(Complaint.body).where(Complaint.external_id == "C1")).one()
    assert body == '=HYPERLINK("http://evil.example") 1'  # stored as written; neutralised at export


# --- every source format with hostile values: each row stored once or quarantined once (issue 16) ----------------

def _deep(levels: int) -> object:
    value: object = "leaf"
    for _ in range(levels):
        value = [value]
    return value


DATES = st.sampled_from([
    "0001-01-01T00:00:00", "9999-12-31T23:59:59+00:00", "9999-12-31T23:00:00-05:00", "2026-02-30T10:00:00", "",
    "昨天下午", "2026-11-16T09:00:00+08:00", "2026-11-16", "2026-11-16 09:00", "NaN", "1e10", "\x00",
]) | st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(datetime.isoformat)
AMOUNTS = st.none() | st.floats() | st.integers(-10**25, 10**25) | st.sampled_from(
    ["NaN", "Infinity", "-inf", "¥1,234.50", "1e400", "9" * 40, "-0", "很多钱"])
NESTED = st.recursive(st.none() | st.floats() | st.text(max_size=5),
                      lambda inner: st.lists(inner, max_size=2)
                      | st.dictionaries(st.text(max_size=3), inner, max_size=2),
                      max_leaves=20) | st.sampled_from([_deep(25), _deep(5), "z" * 250_000])
ROW = st.fixed_dictionaries({
    "at": DATES, "text": NASTY | st.just("长" * 60_000) | st.just(""), "amount": AMOUNTS,
    "title": st.none() | NASTY | st.just("t" * 1_000), "extra": NESTED,
    "encoding": st.sampled_from(["utf-8", "utf-8", "utf-8", "gbk", "bad bytes"]),
})
MAPPING = {"external_id": "id", "received_at": "at", "body": "text", "amount": "amount", "title": "title"}
HARNESS_FORMATS = ["jsonl", "csv", "xlsx", "cfpb", "api"]


def _encode(line: str, encoding: str) -> bytes:
    if encoding == "gbk":
        return line.encode("gbk", errors="replace")  # GBK bytes inside a UTF-8 file
    data = line.encode("utf-8", errors="surrogatepass")
    return data[: len(data) // 2] + b"\xff\xfe\x80" + data[len(data) // 2 :] if encoding == "bad bytes" else data


def _cell(value: object) -> object:
    """A value as a spreadsheet cell can hold it: no NaN, no control characters, no nesting."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list | dict):
        value = json.dumps(value)
    return ILLEGAL_CHARACTERS_RE.sub("", value)[:32_000] if isinstance(value, str) else value


def _write_source(fmt: str, folder: Path, name: str, rows: list[dict[str, object]], url: str,
                  mapping: dict[str, str] = MAPPING) -> object:
    """The rows in the format (ids R<n>x, unique; the rows' keys are the columns, "extra" as JSON), and the source
    spec that reads them with the mapping (the CFPB layout has its own columns and the preset's mapping)."""
    folder.mkdir(parents=True)
    ids = [f"R{n:03d}x" for n in range(len(rows))]
    columns = [k for k in rows[0] if k != "encoding"]
    if fmt == "jsonl":
        lines = [_encode(json.dumps({"id": i, **{k: r[k] for k in columns}}, ensure_ascii=False), str(r["encoding"]))
                 for i, r in zip(ids, rows, strict=True)]
        (folder / "a.jsonl").write_bytes(b"\n".join(lines) + b"\n")
        return FileSourceSpec(name=name, kind="file", channel="app", path=f"{folder.name}/*", mapping=mapping)
    if fmt in ("csv", "cfpb"):
        header = ["Complaint ID", "Date received", "Consumer complaint narrative", "Issue", "Tags"] if fmt == "cfpb" \
            else ["id", *columns]
        out = [",".join(header).encode()]
        for i, r in zip(ids, rows, strict=True):
            cells = [i, r["at"], r["text"], r["title"], json.dumps(r["extra"])] if fmt == "cfpb" \
                else [i, *(json.dumps(r[k]) if k == "extra" else r[k] for k in columns)]
            buf = io.StringIO()
            # The terminator names the characters a field is quoted for: CR and LF inside a cell stay in the cell.
            csv.writer(buf, lineterminator="\r\n").writerow(["" if c is None else c for c in cells])
            out.append(_encode(buf.getvalue()[:-2], str(r["encoding"])))
        (folder / "a.csv").write_bytes(b"\n".join(out) + b"\n")
        kind = "cfpb" if fmt == "cfpb" else "file"
        return FileSourceSpec(name=name, kind=kind, channel="regulator", path=f"{folder.name}/*.csv",
                              **({} if fmt == "cfpb" else {"mapping": mapping}))
    if fmt == "xlsx":
        import openpyxl

        book = openpyxl.Workbook()
        sheet = book.active
        sheet.append(["id", *columns])
        for i, r in zip(ids, rows, strict=True):
            sheet.append([_cell(v) for v in (i, *(r[k] for k in columns))])
        book.save(folder / "a.xlsx")
        return FileSourceSpec(name=name, kind="file", channel="app", path=f"{folder.name}/*.xlsx", mapping=mapping)
    _PAGES[name] = [{"id": i, "updated_at": T0.isoformat(), **{k: r[k] for k in columns}}
                    for i, r in zip(ids, rows, strict=True)]
    return ApiSourceSpec(name=name, kind="api", channel="partner", url=f"{url}/{name}", records_field="items",
                         cursor_field="next", backoff_seconds=0.01, max_retries=0, mapping=mapping)


_PAGES: dict[str, list[dict[str, object]]] = {}


@pytest.fixture(scope="module")
def pages_url() -> Iterator[str]:
    """A JSON API answering one page per source (NaN and Infinity written as Python's json writes them)."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"items": _PAGES[urlparse(self.path).path.strip("/")], "next": None}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def harness_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One migrated database for all examples of a format (each example is a source of its own): migrating one
    per example would cost more than the examples."""
    url = f"sqlite:///{tmp_path_factory.mktemp('harness') / 'h.db'}"
    migrate(url)
    yield url


_EXAMPLE = itertools.count()


def _check_every_row_once(db_url: str, cfg: AppConfig, spec: object, n: int) -> None:
    with session_scope(db_url) as s:
        summary = ingest_source(s, cfg, spec, "k")  # type: ignore[arg-type]
        run_process(s, cfg)
    name = spec.name  # type: ignore[attr-defined]
    with session_scope(db_url) as s:
        stored = list(s.scalars(select(Complaint.external_id).where(Complaint.source == name)))
        pending = s.scalar(select(func.count()).select_from(Complaint).where(
            Complaint.source == name, Complaint.processed_at.is_(None)))
        quarantined = list(s.execute(select(QuarantinedRecord.raw, QuarantinedRecord.reason).where(
            QuarantinedRecord.source == name, QuarantinedRecord.replayed_at.is_(None))).tuples())
    assert pending == 0 and len(stored) == len(set(stored)) == summary.inserted
    assert all(reason for _, reason in quarantined)
    for i in (f"R{k:03d}x" for k in range(n)):
        held = sum(i in raw for raw, _ in quarantined)
        assert (i in stored, held) in ((True, 0), (False, 1)), (i, stored, [r for _, r in quarantined])


@pytest.mark.parametrize("fmt", HARNESS_FORMATS)
@settings(max_examples=6, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(rows=st.lists(ROW, min_size=1, max_size=5))
def test_every_format_every_row_is_stored_once_or_quarantined_once(
        harness_db: str, app_config: AppConfig, tmp_path_factory: pytest.TempPathFactory, pages_url: str, fmt: str,
        rows: list[dict[str, object]]) -> None:
    """Property (issue 16): records of every source format with non-finite numbers, dates from year 1 to 9999 and
    malformed ones, 60,000-character bodies, deep and huge nested fields, GBK and broken bytes in UTF-8 files:
    ingest and process complete, and every row is stored exactly once or quarantined exactly once with a reason."""
    folder = tmp_path_factory.mktemp(fmt)
    name = f"{fmt}{next(_EXAMPLE)}"
    spec = _write_source(fmt, folder / name, name, rows, pages_url)
    cfg = app_config.model_copy(update={"directory": folder})
    _check_every_row_once(harness_db, cfg, spec, len(rows))


@settings(max_examples=3, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(rows=st.lists(ROW, min_size=2, max_size=5))
def test_hostile_json_lines_on_postgresql(pg_harness_db: str, app_config: AppConfig,
                                          tmp_path_factory: pytest.TempPathFactory,
                                          rows: list[dict[str, object]]) -> None:
    """The same property on PostgreSQL for JSON lines: NaN and Infinity must never reach its json column."""
    folder = tmp_path_factory.mktemp("pg")
    name = f"pg{next(_EXAMPLE)}"
    spec = _write_source("jsonl", folder / name, name, rows, "")
    _check_every_row_once(pg_harness_db, app_config.model_copy(update={"directory": folder}), spec, len(rows))


@pytest.fixture(scope="module")
def pg_harness_db() -> Iterator[str]:
    from tests.conftest import PG_ADMIN_URL

    with scratch_database(PG_ADMIN_URL, "ch") as url:
        migrate(url)
        yield url


# --- personal data in every format the product masks, through every stage to every output (issue 16) -------------

PII_MAPPING = MAPPING | {"contact": "contact", "customer_ref": "cust", "merchant": "merchant", "region": "region"}
REPORT_MONDAY = datetime(2026, 11, 16, tzinfo=ZoneInfo("Asia/Shanghai"))  # tests/pipeline/test_pii_leaks.WEEK
PiiRecords = tuple[list[dict[str, object]], list[str], list[str]]


@st.composite
def pii_records(draw: st.DrawFn) -> PiiRecords:
    """Rows for _write_source whose text fields (body, title, merchant, customer ref, a nested raw field) carry 1-3
    personal values each in generated zh/en text (tests/core/test_pii_formats: mobiles plain, fullwidth, dotted,
    spaced, +86/0086, digit by digit; ID-card numbers plain, 6-8-4, fullwidth; bank cards; US SSNs and phones;
    emails, also fullwidth) and whose contact is one; then seven users within half an hour about one merchant
    named by personal values, a burst that detection opens an incident for (its title, plan, escalation mails,
    crisis report and major-event draft name the merchant). Returns the rows, every value as written and in its
    plain form, and the values written in the bodies."""
    values: list[str] = []

    def text(words: st.SearchStrategy[str] = WORDS, tail: st.SearchStrategy[str] = WORDS) -> str:
        parts = draw(st.lists(st.tuples(words, PII), min_size=1, max_size=3))
        values.extend(v for _, pair in parts for v in pair)
        return glue(*(x for w, (written, _) in parts for x in (w, written)), draw(tail))

    def contact() -> str:
        written, plain = draw(PII)
        values.extend((written, plain))
        return written

    def row(at: datetime, title: str, body: str, merchant: str) -> dict[str, object]:
        return {"at": at.isoformat(), "text": body, "title": title, "amount": draw(st.sampled_from(["100", None])),
                "extra": {"note": text()}, "encoding": "utf-8", "contact": contact(), "cust": text(),
                "merchant": merchant, "region": draw(st.sampled_from(["上海", "London", "New York", None]))}

    minutes = st.integers(0, 6 * 24 * 60)
    rows = [row(REPORT_MONDAY + timedelta(minutes=draw(minutes)), text(), text(), text())
            for _ in range(draw(st.integers(1, 3)))]
    # One category for all (a signature is category + merchant): a keyword that overrides the model's guess
    # (account security: critical complaints, their plans, and a major event with its draft report).
    merchant, start = text(st.just("商户"), st.just("")), REPORT_MONDAY + timedelta(minutes=draw(minutes))
    rows += [row(start + timedelta(minutes=4 * k), text(st.just("账户被盗刷"), st.just("")),
                 text(st.just("账户被盗刷，请联系"), st.just("。")), merchant) for k in range(7)]
    bodies = [w for r in rows for w in values if w in str(r["text"])]
    return rows, values, bodies


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file each example copies: a fresh database per example (the weekly report of one week is
    rendered once per database) without migrating one per example. It holds one complaint six weeks before the
    report week: enough history for the parts of the lessons-learned report that need it (new merchants)."""
    path = tmp_path_factory.mktemp("template") / "t.db"
    url = f"sqlite:///{path}"
    migrate(url)
    with session_scope(url) as s:
        old = REPORT_MONDAY - timedelta(weeks=6)
        complaint(s, "提现一直未到账", at=old, status="classified", category="transfer_delay", severity="minor",
                  processed_at=old, detected_at=old)
    get_engine(url).dispose()
    return path


# Each example runs every stage (about 6 s): 3 per format, the same ones on every run (derandomize), and no
# shrinking (minutes per failure here; the failing example and the leaking output are reported as found).
@pytest.mark.parametrize("fmt", HARNESS_FORMATS)
@settings(max_examples=3, deadline=None, database=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(records=pii_records())
def test_no_personal_value_of_any_format_reaches_any_output(
        request: pytest.FixtureRequest, fmt: str, records: PiiRecords) -> None:
    """Property (issue 16): records of every source format whose fields carry personal data in every format the
    product masks go through the pipeline's stages (tests/pipeline/test_pii_leaks.run_stages: ingest, process,
    regulatory, plan, notify, weekly reports, sending), and no value, as written, NFKC-folded or as its bare digits,
    is in any output (test_pii_leaks.every_output: exports, regulator returns, the text of every PDF, every .eml
    with all its text parts decoded, log lines, artifact rows)."""
    # Fixtures by name: Hypothesis prints a failing example's arguments, and the configuration would fill pages.
    app_config: AppConfig = request.getfixturevalue("app_config")
    migrated_sqlite: Path = request.getfixturevalue("migrated_sqlite")
    pages_url: str = request.getfixturevalue("pages_url")
    tmp_path_factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
    rows, values, bodies = records
    if fmt == "cfpb":  # its Date received is a day; the file has no contact, merchant or customer columns
        rows = [r | {"at": str(r["at"])[:10]} for r in rows]
    folder = tmp_path_factory.mktemp(fmt)
    url = f"sqlite:///{folder / 'c.db'}"
    shutil.copy(migrated_sqlite, folder / "c.db")
    name = f"pii{next(_EXAMPLE)}"
    spec = _write_source(fmt, folder / name, name, rows, pages_url, PII_MAPPING)
    cfg = app_config.model_copy(update={"directory": folder})
    settings_ = Settings(var_dir=folder / "var", database_url=url)
    try:
        run = run_stages(url, cfg, settings_, spec)  # type: ignore[arg-type]
        outputs = every_output(url, cfg, settings_, run)
        with session_scope(url) as s:
            stored = " ".join(s.scalars(select(Complaint.body)))
    finally:
        get_engine(url).dispose()
    assert run.ingest.inserted == len(rows), run.ingest
    # The search below finds the bodies' values in the database (ingest may fold what it stores): it is not vacuous.
    assert sorted(leaks(stored, bodies)) == sorted(bodies)
    assert sum(n.startswith("pdftotext ") for n in outputs) >= 4 and any(n.startswith("eml ") for n in outputs)
    assert {n: found for n, text in outputs.items() if (found := leaks(text, values))} == {}


@given(NASTY)
def test_neutralised_cells_never_start_a_formula(value: str) -> None:
    cell = neutralise(value)
    assert not cell.startswith(FORMULA_START) or cell.startswith("'")


def test_csv_export_neutralises_formula_cells(sqlite_url: str) -> None:
    """Injects: formula payloads in body, title, merchant, customer ref. Asserts: no CSV cell starts with = + - @
    tab or CR; each payload is kept after a leading quote."""
    payloads = ["=cmd|' /C calc'!A0", "+SUM(1)", "-1+1", "@A1", "\t=1"]
    with session_scope(sqlite_url) as s:
        for i, p in enumerate(payloads):
            s.add(Complaint(source="s", external_id=f"e{i}", received_at=T0, channel="app", customer_ref=p,
                            title=p, body=p, text_hash=str(i), merchant=p, first_seen_at=T0, last_seen_at=T0))
    out = io.StringIO()
    with session_scope(sqlite_url) as s:
        assert write(s, "complaints", "csv", out) == 5
    cells = [c for row in csv.reader(io.StringIO(out.getvalue())) for c in row]
    assert not [c for c in cells if c.startswith(FORMULA_START)]
    for p in payloads:
        assert cells.count("'" + p) == 4


def test_markup_and_template_syntax_in_a_title_is_inert_in_the_acknowledgement(
        sqlite_url: str, app_config: AppConfig, tmp_path: Path) -> None:
    """Injects: a title with <script>, an <img> to a URL and Jinja syntax. Asserts: the HTML email carries it
    escaped, the template syntax is not evaluated, and the subject has no line break."""
    title = '<script>alert(1)</script><img src="http://evil.example/x">{{ 7*7 }}{% if 1 %}Y{% endif %}\r\nBcc: x'
    with session_scope(sqlite_url) as s:
        s.add(Complaint(source="s", external_id="e1", received_at=T0, channel="app", contact="u@example.com",
                        title=title, body="退款", text_hash="h", first_seen_at=T0, last_seen_at=T0,
                        processed_at=T0, language="en"))
    settings_ = Settings(var_dir=tmp_path / "var", database_url=sqlite_url)
    with session_scope(sqlite_url) as s:
        assert queue_acknowledgements(s, app_config, settings_, T0 + timedelta(hours=1)) == 1
        n = s.scalars(select(Notification)).one()
    assert n.body_html and "<script>" not in n.body_html and "<img" not in n.body_html
    assert "&lt;script&gt;" in n.body_html
    assert "49" not in n.body_text and "{{ 7*7 }}" in n.body_text
    assert "\n" not in n.subject and "\r" not in n.subject


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=80) | st.sampled_from(["a\u200b@example.com", "раураl@example.com", "a@exаmple.com",
                                               "a@example.com\r\nBcc: b@example.com", "a@example.com, b@example.com"]))
def test_recipient_is_one_plain_ascii_address_or_refused(value: str) -> None:
    """Property: zero-width, look-alike (Cyrillic) and multi-address values are refused, never sent to."""
    try:
        address = valid_address(value)
    except InvalidRecipient:
        return
    assert address.isascii() and address.isprintable() and address.count("@") == 1 and "," not in address


def test_reports_with_hostile_complaints_fetch_nothing(sqlite_url: str, app_config: AppConfig, tmp_path: Path,
                                                       listener: Listener) -> None:  # noqa: F811
    """Injects: on top of tests/reports/test_reports.py's seed (an <img> to the listener in a body), complaints and an
    incident whose body, title, merchant, product, region and root cause hold <link>, <img>, CSS url()/@import,
    <iframe>, <object> and file:// references to the loopback listener and /etc/passwd.
    Asserts: the 4 PDFs render, the listener receives 0 requests, no file content is embedded, and the payloads
    appear as text."""
    base = f"http://127.0.0.1:{listener.port}"
    payloads = [f'<link rel="stylesheet" href="{base}/l.css">', f'<img src="{base}/i.png">',
                f'<style>@import url({base}/imp.css); p {{ background: url({base}/bg.png) }}</style>',
                f'<iframe src="{base}/f"></iframe>', f'<object data="{base}/o"></object>',
                '<img src="file:///etc/passwd">', f'<svg><image href="{base}/s.png"/></svg>']
    with session_scope(sqlite_url) as s:
        seed(s, listener.port)
        monday = datetime(2026, 11, 16, 2, tzinfo=UTC)
        for i, p in enumerate(payloads):
            at = monday + timedelta(hours=5 * i + 1)
            s.add(Complaint(source="hostile", external_id=f"h{i}", received_at=at, channel="app", title=p, body=p,
                            text_hash=f"hh{i}", merchant=p[:200], product=p[:200], region=p[:100],
                            category="system_fault", severity="critical", first_seen_at=at, last_seen_at=at,
                            processed_at=at))
        s.add(Incident(signature="hostile", opened_window=monday, category="system_fault", title=payloads[0],
                       severity="P1", status="resolved", detected_at=monday, first_complaint_at=monday,
                       last_complaint_at=monday, resolved_at=monday + timedelta(days=1), root_cause=payloads[2],
                       reason={"top_phrases": payloads[:2]}))
    settings_ = Settings(var_dir=tmp_path / "var", database_url=sqlite_url)
    with session_scope(sqlite_url) as s:
        reports = render_weekly_reports(s, app_config, settings_, REPORT_WEEK)
    assert len(reports) == 4
    assert listener.hits == []
    for r in reports:
        raw = Path(r.path).read_bytes()
        assert b"root:x:0:0" not in raw
    text = "".join(p.extract_text() for p in PdfReader(reports[0].path).pages)
    assert "127.0.0.1" in text or "<" in text  # shown as text (where the report quotes it), never fetched
