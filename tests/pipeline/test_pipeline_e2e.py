"""The whole pipeline on the bundled demo data through a real Prefect API, on SQLite and PostgreSQL:
counts, PDFs, emails, artifacts, the CLI's stats/export, and a second run that changes nothing."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from pathlib import Path

from typer.testing import CliRunner

from cli.main import DEMO_AS_OF, DEMO_WEEK, app
from complaints.core import runtime as runtime_module
from complaints.core.db import session_scope
from complaints.reports.stats import stats

# From demo/README.md (generated with a fixed seed): 331 records, 320 valid, 11 malformed.
DEMO_VALID, DEMO_MALFORMED = 320, 11
# Not inside a longer run of hex: artifacts link flow runs by UUID and name texts by hash, whose groups can hold
# eleven digits that look like a mobile number.
PII = re.compile(r"(?<![0-9a-f])(?:1[3-9]\d{9}|\d{17}[\dX])(?![0-9a-f])|[A-Za-z0-9._%+-]+@example\.(?:com|cn|org|net)")


def _personal(text: str) -> str | None:
    """The first thing in text that looks like a mobile, an ID number or a mail address."""
    found = PII.search(text)
    return found.group() if found else None


def _artifacts() -> list[dict]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return [a.model_dump(mode="json") for a in client.read_artifacts()]


def test_demo_pipeline_end_to_end(prefect_api: None, app_env: str, tmp_path: Path) -> None:
    db_url, var = app_env, tmp_path / "var"
    from flows.pipeline import pipeline

    result = pipeline(week=DEMO_WEEK, now=DEMO_AS_OF)
    ingest = {r["source"]: r for r in result["ingest"]}
    assert sum(r["inserted"] for r in ingest.values()) == DEMO_VALID
    assert sum(r["quarantined"] for r in ingest.values()) == DEMO_MALFORMED
    with session_scope(db_url) as s:
        first = stats(s, DEMO_AS_OF)
    assert first["records"] == DEMO_VALID and first["quarantined"] == DEMO_MALFORMED
    assert first["complaints"] + first["duplicates"] == DEMO_VALID and first["duplicates"] >= 10
    assert first["unprocessed"] == 0 and set(first["by_channel"]) == {"app", "hotline", "regulator"}
    assert first["incidents"] >= 1 and first["plans"] >= first["incidents"]
    assert first["reports"] == 4 and first["notifications"].get("failed", 0) == 0

    reports = sorted(p.name for p in (var / "reports" / DEMO_WEEK).glob("*.pdf"))
    assert reports == ["crisis-en.pdf", "crisis-zh.pdf", "lessons-en.pdf", "lessons-zh.pdf"]
    emails = list((var / "outbox").glob("*.eml"))
    assert len(emails) == first["notifications"]["sent"] >= first["notifications_by_kind"]["acknowledgement"] > 100
    assert any("crisis-zh.pdf" in e.read_text(errors="ignore") for e in emails)  # reports went out as attachments

    # The burst of the demo week (44 users, merchant 快捷支付通道, 18 name error code E1024) is ONE incident: the
    # code's and the merchant's signatures are one crisis. 38 of the 44 users are in it today (the 6 that name
    # neither the code nor a merchant-only burst of their own stay out: README's detection limits).
    runner = CliRunner()
    exported = runner.invoke(app, ["export", "incidents", "--format", "jsonl"])
    assert exported.exit_code == 0, exported.output
    incidents = [json.loads(line) for line in exported.stdout.splitlines() if line.startswith("{")]
    assert len(incidents) == 1, [i["signature"] for i in incidents]
    burst = incidents[0]
    assert "E1024" in burst["signature"] and burst["user_count"] >= 38 and burst["category"] == "transfer_delay"

    # Every flow left its summary; nothing personal is in any artifact.
    artifacts = _artifacts()
    keys = {a["key"] for a in artifacts}
    assert {"ingest-summary", "ingest-quarantine", "process-summary", "process-by-category", "plan-summary",
            "notify-summary", "weekly-report"} <= keys
    assert not _personal(json.dumps([a["data"] for a in artifacts], ensure_ascii=False))

    # A second run changes no counts and sends nothing new.
    pipeline(week=DEMO_WEEK, now=DEMO_AS_OF)
    with session_scope(db_url) as s:
        assert stats(s, DEMO_AS_OF) == first
    assert len(list((var / "outbox").glob("*.eml"))) == len(emails)

    # The CLI reads the same database.
    out = runner.invoke(app, ["stats", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["complaints"] == first["complaints"]
    out = runner.invoke(app, ["export", "complaints", "--format", "csv"])
    assert out.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.stdout.split("exported")[0])))
    assert len(rows) == DEMO_VALID
    assert not _personal(out.stdout)


def test_personal_data_is_masked_in_flow_logs(prefect_api: None, app_env: str) -> None:
    from prefect import flow, get_run_logger
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    @flow
    def chatty() -> str:
        runtime_module.runtime()
        get_run_logger().warning("caller 13812345678 card 6222021234567890128 mail li.si@example.com")
        from prefect.runtime import flow_run

        return flow_run.id

    run_id = chatty()
    text = ""
    with get_client(sync_client=True) as client:
        for _ in range(40):  # logs reach the API in the background
            logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
            text = "\n".join(log.message for log in logs)
            if "caller" in text:
                break
            time.sleep(0.5)
    assert "138****5678" in text and "6222 **** **** 0128" in text and "l***@example.com" in text
    assert not _personal(text) and "6222021234567890128" not in text
