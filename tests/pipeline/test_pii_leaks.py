"""Personal data never leaves unmasked, and `complaints forget` erases one person while the statistics stay.

One seeded run: 60 complaints whose text and fields (contact, customer ref, title, merchant) carry mobile, ID-card
and bank-card numbers and emails, and the formats of issue 16 (an ID card written 6-8-4 with spaces, a mobile in
fullwidth digits, one with dots, a US SSN and US phones written four ways), go through the pipeline's stages
(`run_stages`: ingest, process, regulatory, plan, notify, weekly reports, sending); every output meant for staff,
stakeholders or regulators (`every_output`) is searched for the raw values, their NFKC forms and their bare digits
(`leaks`). tests/pipeline/test_hostile_input.py runs the same stages and checks on generated records.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import random
import re
import subprocess
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select
from typer.testing import CliRunner

from cli.main import app
from complaints.core.config import AppConfig, FileSourceSpec, SourceSpec
from complaints.core.db import session_scope
from complaints.core.models import CallbackResult, Complaint, Notification, OptOut, QuarantinedRecord, Report
from complaints.core.pii import install_log_masking, luhn_ok, valid_id_number
from complaints.core.settings import Settings
from complaints.ingest.store import IngestSummary, ingest_source
from complaints.notify.channels.email import eml_path
from complaints.notify.escalations import queue_escalation_mails
from complaints.notify.outbox import queue_acknowledgements, queue_report_emails, send_pending
from complaints.notify.policy import opt_out
from complaints.notify.updates import queue_updates
from complaints.plans.console import incident_board
from complaints.plans.create import create_plans, escalate_overdue
from complaints.regulatory.clocks import refresh_clocks, start_clocks
from complaints.regulatory.forget import forget
from complaints.regulatory.major_events import assess_major_events, draft_report
from complaints.regulatory.returns import build_return, to_csv
from complaints.reports import render_weekly_reports
from complaints.reports.export import write
from complaints.reports.stats import stats
from tasks.plan import escalation_rows
from tests.stages import run_process

WEEK = "2026-W47"
T0 = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
SPEC = FileSourceSpec(name="pii", kind="file", channel="app", path="in/*.csv",
                      mapping={"external_id": "id", "received_at": "at", "contact": "contact", "customer_ref": "cust",
                               "title": "title", "body": "body", "merchant": "merchant", "amount": "amount",
                               "region": "region"})
BODIES = ["提现一直未到账，我的手机{phone}，身份证{idn}，银行卡{card}，邮箱{email}",
          "Charged twice on card {card}; call me on {phone} or mail {email}. ID {idn}",
          "账户被盗刷，卡号 {card}，请联系 {email}"]
# The formats mask_text missed before issue 16, in every complaint's text.
MORE = ["另：身份证 {idn_spaced}，手机 {mobile_fw}，备用 {mobile_dot}。My SSN is {ssn}, US phone {us_phone}.",
        "Refund A&B please. SSN {ssn}; reach me at {us_phone} / {mobile_dot}; 身份证号 {idn_spaced}；电话{mobile_fw}"]
US_FORMATS = ["({a}) {b}-{c}", "+1 {a} {b} {c}", "{a}-{b}-{c}", "{a}.{b}.{c}"]
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
# (amount, region): a third each in the PBoC, FCA and CFPB returns (jurisdiction by region or currency).
REGIONS = [("100", "上海"), ("100", "London"), ("$100.00", "New York")]


def _id_number(rng: random.Random) -> str:
    while True:
        v = f"110105{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
        for check in "0123456789X":
            if valid_id_number(v + check):
                return v + check


def _card(rng: random.Random) -> str:
    while True:
        v = "6222" + "".join(str(rng.randint(0, 9)) for _ in range(15))
        if luhn_ok(v):
            return v


def _mobile(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randint(0, 999_999_999):09d}"


def people(n: int) -> list[dict[str, str]]:
    rng = random.Random(7)
    out = []
    for i in range(n):
        idn, fw, dot = _id_number(rng), _mobile(rng), _mobile(rng)
        us = US_FORMATS[i % 4].format(a=rng.randint(201, 989), b=rng.randint(200, 999), c=f"{rng.randint(0, 9999):04d}")
        out.append({"phone": _mobile(rng), "idn": idn, "card": _card(rng), "email": f"person{i}.x@mail{i}.example.cn",
                    "idn_spaced": f"{idn[:6]} {idn[6:14]} {idn[14:]}", "mobile_fw": fw.translate(FULLWIDTH),
                    "mobile_dot": f"{dot[:3]}.{dot[3:7]}.{dot[7:]}",
                    "ssn": f"{rng.randint(100, 665)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}", "us_phone": us})
    return out


def write_input(folder: Path, persons: list[dict[str, str]]) -> None:
    (folder / "in").mkdir(parents=True)
    with (folder / "in" / "a.csv").open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["id", "at", "contact", "cust", "title", "merchant", "body", "amount", "region"])
        for i, p in enumerate(persons):
            at = (T0 + timedelta(minutes=37 * i)).isoformat()
            contact = p["email"] if i % 3 else p["phone"]
            out.writerow([f"P{i}", at, contact, p["phone"], f"卡 {p['card']} 问题", f"商户 {p['phone']}",
                          BODIES[i % 3].format(**p) + " " + MORE[i % 2].format(**p), *REGIONS[i % 3]])
        # A bad row quoting the same data: the quarantine keeps it, and `forget` must find it.
        out.writerow(["P999", "yesterday", persons[1]["email"], "", "", "", f"bad {persons[1]['card']}", "", ""])


def secrets_of(persons: list[dict[str, str]]) -> list[str]:
    return [v for p in persons for v in p.values()]


def leaks(text: str, values: list[str]) -> list[str]:
    """The values readable in text: as written, NFKC-folded (fullwidth digits), or as their bare digits once the
    characters that join digit groups (spaces, dots, dashes, brackets) are taken out of the text."""
    folded = unicodedata.normalize("NFKC", text)
    joined = re.sub(r"[\s.\-()\u200b]", "", folded)
    found = []
    for v in values:
        plain = unicodedata.normalize("NFKC", v)
        digits = re.sub(r"\D", "", plain)
        if v in text or plain in folded or ("@" not in plain and len(digits) >= 9 and digits in joined):
            found.append(v)
    return found


@dataclass
class Run:
    ingest: IngestSummary
    logs: str  # every log line as the handlers printed it
    published: list[dict[str, Any]]  # the rows the tasks publish as artifacts, before publish_table masks them
    returned: list[dict[str, Any]]  # what the tasks return (Prefect persists it with result persistence on)


def run_stages(db_url: str, cfg: AppConfig, settings: Settings, spec: SourceSpec, now: datetime = NOW,
               week: str = WEEK) -> Run:
    """The pipeline's stages in its order, through the functions its tasks call: ingest, process (dedupe, classify,
    detect), regulatory (clocks, major events and their draft reports), plan (plans, escalations and their mails),
    notify (acknowledgements, updates), the weekly reports and their emails, then sending."""
    printed = io.StringIO()
    handler = logging.StreamHandler(printed)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    install_log_masking()  # what the runtime installs on every handler, this one included
    try:
        with session_scope(db_url) as s:
            ingest = ingest_source(s, cfg, spec, "k")
        with session_scope(db_url) as s:
            run_process(s, cfg)
        with session_scope(db_url) as s:
            start_clocks(s, cfg)
            refresh_clocks(s, cfg, now)
            events = [e.incident_id for e in assess_major_events(s, cfg, now)]
        for incident_id in events:
            with session_scope(db_url) as s:
                draft_report(s, cfg, settings, incident_id)
        with session_scope(db_url) as s:
            create_plans(s, cfg, now)
        with session_scope(db_url) as s:
            notices = escalate_overdue(s, cfg, now)
            queue_escalation_mails(s, cfg, settings, notices)
            returned = escalation_rows(notices, ZoneInfo(settings.timezone), now)  # escalate_task's result
            published = incident_board(s, now, ZoneInfo(settings.timezone)) + returned
        with session_scope(db_url) as s:
            queue_acknowledgements(s, cfg, settings, now)
            queue_updates(s, cfg, settings, now)
        with session_scope(db_url) as s:
            reports = render_weekly_reports(s, cfg, settings, week, as_of=now)
            queue_report_emails(s, cfg, settings, reports)
            returned += [ingest.as_dict(), *(r.summary for r in reports)]  # ingest's and the report task's too
        send_pending(db_url, settings, 5)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    return Run(ingest, printed.getvalue(), published, returned)


def every_output(db_url: str, cfg: AppConfig, settings: Settings, run: Run, since: date = date(2026, 11, 1),
                 until: date = date(2026, 11, 30)) -> dict[str, str]:
    """Every output meant for staff, stakeholders, regulators or the Prefect UI, as text by name: the JSONL and CSV
    exports of complaints, incidents and plans; the regulator returns (CSV); the text pdftotext and pypdf read from
    every PDF under the var folder (weekly reports, major-event drafts); every .eml in the outbox (subject and all
    text parts, decoded); the log lines; what the tasks return (escalation rows: Prefect persists task results when
    result persistence is on); and the rows the tasks publish as artifacts, through the masking publish_table
    applies (Prefect's API is not involved: tests/pipeline/test_pipeline_e2e.py reads real ones)."""
    from tasks.artifacts import _clean  # what publish_table/publish_markdown apply to every cell

    out: dict[str, str] = {"logs": run.logs, "task results": json.dumps(run.returned, ensure_ascii=False)}
    with session_scope(db_url) as s:
        for kind in ("complaints", "incidents", "plans"):
            for fmt in ("jsonl", "csv"):
                buf = io.StringIO()
                write(s, kind, fmt, buf)  # type: ignore[arg-type]
                out[f"export {kind} {fmt}"] = buf.getvalue()
        for kind in ("pboc", "fca", "cfpb"):
            ret = build_return(s, cfg, kind, since, until, settings.timezone)  # type: ignore[arg-type]
            out[f"return {kind}"] = to_csv(ret).decode("utf-8-sig")
        rows = [{"title": c.title, "body": c.body, "merchant": c.merchant} for c in s.scalars(select(Complaint))]
    rows += run.published
    out["artifacts"] = json.dumps([{k: _clean(v) for k, v in row.items()} for row in rows], ensure_ascii=False,
                                  default=str)
    for path in sorted(settings.var_dir.rglob("*.pdf")):
        out[f"pdftotext {path.name}"] = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"],
                                                       capture_output=True, check=True, text=True).stdout
        out[f"pypdf {path.name}"] = "".join(page.extract_text() for page in PdfReader(path).pages)
    for path in sorted(settings.outbox_path.glob("*.eml")):
        msg = message_from_bytes(path.read_bytes(), policy=policy.default)
        parts = [p.get_content() for p in msg.walk() if p.get_content_maintype() == "text"]
        out[f"eml {path.name}"] = "\n".join([str(msg["Subject"]), *parts])
    return out


@pytest.fixture
def pipeline(db_url: str, tmp_path: Path, app_config: AppConfig,
             caplog: pytest.LogCaptureFixture) -> tuple[str, Settings, list[dict[str, str]], Run, list[str]]:
    """The whole seeded run; returns the settings, the people, the run and every log record captured."""
    persons = people(60)
    write_input(tmp_path, persons)
    cfg = app_config.model_copy(update={"directory": tmp_path})
    settings = Settings(var_dir=tmp_path / "var", database_url=db_url)
    caplog.set_level(logging.DEBUG)
    run = run_stages(db_url, cfg, settings, SPEC)
    assert run.ingest.inserted == 60
    return db_url, settings, persons, run, [*(r.getMessage() for r in caplog.records)]


def test_no_personal_data_in_logs_exports_pdfs_stakeholder_emails_or_artifacts(pipeline, app_config: AppConfig) -> None:
    """Asserts: none of the 540 raw values appears in any output every_output collects (the printed logs, the JSONL
    and CSV exports, the regulator returns, the text of every PDF, every .eml, the artifact rows) nor in a captured
    log record; the 4 reports were rendered and their 4 stakeholder emails sent, acknowledgements too."""
    db_url, settings, persons, run, records = pipeline
    values = secrets_of(persons)
    outputs = every_output(db_url, app_config, settings, run)
    assert {name: found for name, text in outputs.items() if (found := leaks(text, values))} == {}
    assert leaks("\n".join(records), values) == []
    with session_scope(db_url) as s:
        reports = list(s.scalars(select(Report)))
        stakeholder = list(s.scalars(select(Notification).where(Notification.kind == "report")))
    assert len(reports) == 4 and len(stakeholder) == 4 and all(n.status == "sent" for n in stakeholder)
    assert sum(name.startswith("pdftotext ") for name in outputs) >= 4
    assert sum(name.startswith("eml ") for name in outputs) > 4  # acknowledgements as well as the stakeholder emails
    assert all(outputs[f"pdftotext {Path(r.path).name}"].strip() for r in reports)


def test_issue16_formats_absent_from_cli_exports_and_returns(
        pipeline, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Asserts, through the commands an operator runs: `complaints export` (complaints, incidents, plans; jsonl and
    csv) and `complaints returns pboc|fca|cfpb --format csv` show none of the raw values, while the values did
    reach the stored complaints (so the search is not vacuous)."""
    from complaints.core import runtime

    db_url, settings, persons, *_ = pipeline
    values = secrets_of(persons)
    with session_scope(db_url) as s:
        stored = " ".join(c.body for c in s.scalars(select(Complaint)))
    assert all(p["ssn"] in stored and p["us_phone"] in stored and p["idn_spaced"] in stored for p in persons)
    monkeypatch.setenv("COMPLAINTS_DATABASE_URL", db_url)
    monkeypatch.setenv("COMPLAINTS_VAR_DIR", str(settings.var_dir))
    runtime.reset()
    runner = CliRunner()
    try:
        for kind in ("complaints", "incidents", "plans"):
            for fmt in ("jsonl", "csv"):
                result = runner.invoke(app, ["export", kind, "--format", fmt])
                assert result.exit_code == 0, result.output
                assert leaks(result.output, values) == [], (kind, fmt)
                if kind == "complaints":
                    assert len(result.output.splitlines()) >= 60  # every complaint is there, masked
        for kind in ("pboc", "fca", "cfpb"):
            out = tmp_path / f"{kind}.csv"
            result = runner.invoke(app, ["returns", kind, "--since", "2026-11-01", "--until", "2026-11-30",
                                         "--format", "csv", "--out", str(out)])
            assert result.exit_code == 0, result.output
            text = out.read_text(encoding="utf-8-sig")
            assert leaks(text + result.output, values) == [], kind
            # 20 complaints each; the FCA layout is aggregate only, the others list every complaint with its text.
            assert "TOTAL,0,20," in text if kind == "fca" else len(text.splitlines()) > 20, kind
            (tmp_path / f"{kind}.seen").write_text(text)
    finally:
        runtime.reset()


def test_forget_erases_one_person_and_keeps_the_statistics(pipeline, app_config: AppConfig) -> None:
    """Injects: an opt-out, a call-back comment and a quarantined row for person 1, then `forget` by their email.
    Asserts: none of their values remains in any complaint, message, quarantined row, .eml file; their opt-out is
    gone; the other people's data is untouched; stats (counts by category, severity, channel...) are identical;
    a second forget finds nothing new."""
    db_url, settings, persons, *_ = pipeline
    person, other = persons[1], persons[2]
    marker = app_config.retention.purged_marker
    with session_scope(db_url) as s:
        opt_out(s, person["email"], "k")
        mine = s.scalars(select(Complaint).where(Complaint.contact == person["email"])).one()
        s.add(CallbackResult(complaint_id=mine.id, reached=True, score=2, comment=f"call {person['phone']}"))
        acks = list(s.scalars(select(Notification).where(Notification.recipient == person["email"])))
        assert acks and all(eml_path(settings.outbox_path, n.message_id).is_file() for n in acks)
        before = stats(s, NOW)
    with session_scope(db_url) as s:
        summary = forget(s, person["email"], pii_key="k", outbox_dir=settings.outbox_path, marker=marker)
    assert (summary.complaints, summary.notifications, summary.eml_files, summary.quarantined,
            summary.opt_outs) == (1, len(acks), len(acks), 1, 1)
    assert not any(eml_path(settings.outbox_path, n.message_id).exists() for n in acks)
    with session_scope(db_url) as s:
        assert stats(s, NOW) == before
        dump = json.dumps([
            [(c.contact, c.contact_masked, c.customer_ref, c.title, c.body, c.raw)
             for c in s.scalars(select(Complaint))],
            [(n.recipient, n.subject, n.body_text, n.body_html) for n in s.scalars(select(Notification))],
            [(q.raw, q.reason) for q in s.scalars(select(QuarantinedRecord))],
            [c.comment for c in s.scalars(select(CallbackResult))],
        ], ensure_ascii=False, default=str)
        assert s.execute(select(func.count()).select_from(OptOut)).scalar_one() == 0
        again = forget(s, person["email"], pii_key="k", outbox_dir=settings.outbox_path, marker=marker)
    # The person's mobile is also the merchant field of their own complaint (anonymised with it) only.
    assert leaks(dump, [person["email"], person["card"], person["idn"]]) == []
    assert other["email"] in dump and other["card"] in dump  # nobody else was touched
    assert (again.notifications, again.eml_files, again.quarantined, again.opt_outs) == (0, 0, 0, 0)
