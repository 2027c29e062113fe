"""Regulator returns on a seeded database: exact figures of the FCA, PBoC and CFPB returns, and the exports."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy.orm import Session

from complaints.core.config import AppConfig
from complaints.core.db import session_scope
from complaints.core.models import CallbackResult, Plan
from complaints.core.settings import Settings
from complaints.regulatory.clocks import extend_clock, refresh_clocks, start_clocks
from complaints.regulatory.outcomes import Outcome, Relief, record_outcome
from complaints.regulatory.returns import MISSING, build_return, export, totals
from tests.factories import complaint

SH = ZoneInfo("Asia/Shanghai")
OCT = (date(2026, 10, 1), date(2026, 10, 31))


def d(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 12, 0, tzinfo=SH)


def seed(s: Session, cfg: AppConfig, settings: Settings) -> dict[str, str]:
    """Returns each seeded complaint's external id (the returns' complaint reference) by name."""
    external: dict[str, str] = {}

    def c(name: str, at: datetime, category: str, body: str | None = None, **kw: Any) -> int:
        row = complaint(s, body or f"complaint {name}", at=at, category=category,
                        processed_at=at, contact=f"{name}@example.com", **kw)
        external[name] = row.external_id
        return row.id

    ids = {
        "c1": c("c1", d(9, 10), "transfer_delay"),
        "c2": c("c2", d(8, 1), "fees_pricing"),
        "c3": c("c3", d(10, 3), "transfer_delay"),
        "c4": c("c4", d(10, 5), "transfer_delay", body='=HYPERLINK("http://evil.example","x") 手机13812345678'),
        "c5": c("c5", d(9, 1), "other"),
        "c6": c("c6", d(11, 2), "other"),
        "c7": c("c7", d(9, 1), "fees_pricing"),
        "u1": c("u1", d(10, 2), "transfer_delay", channel="regulator", source="regulator", product="Mobile wallet"),
        "u2": c("u2", d(10, 20), "fees_pricing", channel="regulator", source="regulator"),
        "g1": c("g1", d(10, 7), "other", currency="GBP"),
    }
    ids["dup"] = c("dup", d(10, 6), "transfer_delay", duplicate_of_id=ids["c4"])
    out: list[tuple[str, datetime, Outcome, Relief, str | None]] = [
        ("c1", d(10, 5), "upheld", "monetary", "100"), ("c2", d(10, 10), "not_upheld", "explanation", None),
        ("c4", d(10, 6), "partly_upheld", "monetary", "50.50"), ("c5", d(9, 20), "upheld", "explanation", None),
        ("u1", d(10, 12), "upheld", "monetary", "20"),
    ]
    for name, at, outcome, relief, redress in out:
        record_outcome(s, ids[name], decided_at=at, decided_by="cs.lead", outcome=outcome,
                       relief=relief, redress_amount=Decimal(redress) if redress else None,
                       redress_currency="USD" if name == "u1" else "CNY",
                       investigation="交易流水核对：通道超时" if name == "c1" else None,
                       basis="用户协议第5条" if name == "c1" else None,
                       steps_taken="Refunded the fee" if name == "u1" else None)
    # c7 closes through its own plan (no recorded decision).
    s.add(Plan(subject_type="complaint", subject_id=ids["c7"], category="fees_pricing", template="default",
               team="pricing", status="closed", created_at=d(9, 1), due_at=d(9, 16), closed_at=d(10, 20)))
    s.add(CallbackResult(complaint_id=ids["c1"], reached=True, score=4))
    s.add(CallbackResult(complaint_id=ids["c4"], reached=False))
    s.flush()
    start_clocks(s, cfg)
    extend_clock(s, cfg, settings, ids["c3"], "cn_pboc_payment_decision", approver="cs.lead",
                 reason="等待银行回函", now=d(10, 10))
    refresh_clocks(s, cfg, d(11, 1))
    return external


def test_three_returns_exact_figures_and_exports(db_url: str, app_config: AppConfig, settings: Settings) -> None:
    with session_scope(db_url) as s:
        external = seed(s, app_config, settings)
    tz = settings.timezone
    with session_scope(db_url) as s:
        pboc = build_return(s, app_config, "pboc", *OCT, tz)
        fca = build_return(s, app_config, "fca", *OCT, tz)
        cfpb = build_return(s, app_config, "cfpb", *OCT, tz)

    assert totals(pboc) == {
        "category": "TOTAL", "open_at_start": 3, "received": 2, "closed_within_4_weeks": 2,
        "closed_4_to_8_weeks": 1, "closed_after_8_weeks": 1, "upheld": 2, "redress_paid": Decimal("150.50"),
        "redress_currency": "CNY", "open_at_end": 1,
    }
    by_cat = {row[0]: row[1:8] for row in pboc.sections[0].rows}
    assert by_cat["transfer_delay"] == [1, 2, 2, 0, 0, 2, Decimal("150.50")]
    assert by_cat["fees_pricing"] == [2, 0, 0, 1, 1, 0, Decimal("0")]
    assert totals(fca) == {
        "category": "TOTAL", "open_at_start": 0, "received": 1, "closed_within_4_weeks": 0, "closed_4_to_8_weeks": 0,
        "closed_after_8_weeks": 0, "upheld": 0, "redress_paid": Decimal("0"), "redress_currency": "",
        "open_at_end": 1,
    }
    assert totals(cfpb)["received"] == 2 and totals(cfpb)["redress_paid"] == Decimal("20")

    feedback = pboc.sections[1]
    rows = {r[0]: dict(zip(feedback.columns, r, strict=True)) for r in feedback.rows}
    assert len(rows) == 5  # c1, c2, c3, c4, c7: received or closed in October
    c1 = rows[external["c1"]]
    assert c1["调查结果及证据 investigation and evidence"] == "交易流水核对：通道超时"
    assert c1["投诉人满意度 satisfaction"] == "4/5" and c1["处理结果 outcome"] == "upheld"
    assert rows[external["c4"]]["投诉人满意度 satisfaction"] == "not reached"
    c3 = rows[external["c3"]]
    assert c3["处理依据 basis of decision"] == MISSING and c3["closed"] == "open"
    assert c3["延期情况 extension"] == "cn_pboc_payment_decision: to 2026-12-02, approved by cs.lead: 等待银行回函"
    assert c3["沟通情况 communications"] == "extension (pending)"
    assert "13812345678" not in rows[external["c4"]]["投诉事实 facts"]

    cfpb_rows = {r[0]: r for r in cfpb.sections[1].rows}
    assert cfpb_rows[external["u1"]][4:] == ["2026-10-12", "Closed with monetary relief", "Yes", "Refunded the fee"]
    assert cfpb_rows[external["u2"]][4:] == ["", "In progress", "", ""]

    # Exports: the formula in c4's text is neutralised in CSV and XLSX; the PDF carries the same figures.
    text = export(pboc, "csv", settings).decode("utf-8-sig")
    parsed = list(csv.reader(io.StringIO(text)))
    facts = next(r[3] for r in parsed if r and r[0] == external["c4"])
    assert facts.startswith("'=HYPERLINK")
    wb = load_workbook(io.BytesIO(export(pboc, "xlsx", settings)))
    assert wb.sheetnames == ["Summary", "PBoC Art. 44 feedback"]
    sheet = wb["PBoC Art. 44 feedback"]
    cells = [row for row in sheet.iter_rows(min_row=3, values_only=True)]
    assert next(r[3] for r in cells if r[0] == external["c4"]).startswith("'=")
    assert [c.value for c in wb["Summary"][wb["Summary"].max_row]][:3] == ["TOTAL", 3, 2]
    pdf = export(cfpb, "pdf", settings)
    flat = "".join("".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages).split())
    assert "Closedwithmonetaryrelief" in flat and "TOTAL" in flat
