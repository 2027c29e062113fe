"""Ingest into SQLite and PostgreSQL: idempotent re-runs, grown and changed files, quarantine, backfill,
and a crash between files."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

import complaints.ingest.store as ingest_module
from complaints.core.config import AppConfig, FileSourceSpec
from complaints.core.db import session_scope
from complaints.core.models import Complaint, ComplaintEvent, QuarantinedRecord, Source
from complaints.ingest.store import ingest_source, replay_quarantine

SH = ZoneInfo("Asia/Shanghai")
HEADER = "工单号,来电时间,联系电话,联系邮箱,问题描述,涉及金额\n"
GOOD = [
    "H1,2026/11/16 09:10,13812345678,,提现一直未到账,\"￥1,234.50\"\n",
    "H2,2026/11/16 10:00,,wang@example.cn,手续费多扣了,300元\n",
    "H3,2026/11/17 11:30,13900000000,li@example.cn,客服电话打不通,\n",
]
BAD = [
    ",2026/11/16 12:00,13800000001,,没有工单号,\n",
    "H9,昨天下午,13800000002,,日期无法解析,\n",
    "H10,2026/11/16 13:00,13800000003,,金额不对,很多钱\n",
]
SPEC = FileSourceSpec(
    name="hotline", kind="file", channel="hotline", path="drop/*.csv", date_format="%Y/%m/%d %H:%M",
    mapping={"external_id": "工单号", "received_at": "来电时间", "contact": "联系邮箱|联系电话",
             "body": "问题描述", "amount": "涉及金额"},
)


def write_gbk(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((HEADER + "".join(lines)).encode("gbk"))


def count(s, model, *where) -> int:
    return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


@pytest.fixture
def cfg(app_config: AppConfig, tmp_path: Path) -> AppConfig:
    return app_config.model_copy(update={"directory": tmp_path})


def run(db_url: str, cfg: AppConfig, **kw) -> ingest_module.IngestSummary:
    with session_scope(db_url) as s:
        return ingest_source(s, cfg, SPEC, "k", **kw)


def test_ingest_quarantine_and_rerun(db_url: str, cfg: AppConfig, tmp_path: Path) -> None:
    write_gbk(tmp_path / "drop" / "a.csv", GOOD + BAD)
    first = run(db_url, cfg)
    assert (first.batches, first.records, first.inserted, first.quarantined) == (1, 6, 3, 3)
    assert first.quarantine_reasons == {"missing external_id": 1, "unparseable received_at": 1, "not an amount": 1}
    again = run(db_url, cfg)
    assert (again.batches, again.skipped, again.inserted) == (0, 1, 0)
    with session_scope(db_url) as s:
        assert count(s, Complaint) == 3 and count(s, QuarantinedRecord) == 3
        h1 = s.execute(select(Complaint).where(Complaint.external_id == "H1")).scalar_one()
        assert h1.received_at == datetime(2026, 11, 16, 9, 10, tzinfo=SH)
        assert (str(h1.amount), h1.currency, h1.contact_masked) == ("1234.50", "CNY", "138****5678")
        assert h1.body == "提现一直未到账" and h1.language == "zh" and h1.channels == ["hotline"]
        contact = s.execute(select(Complaint.contact).where(Complaint.external_id == "H2")).scalar_one()
        assert contact == "wang@example.cn"
        q = s.execute(select(QuarantinedRecord).where(QuarantinedRecord.reason.like("unparseable%"))).scalar_one()
        assert q.location == "a.csv:line 6" and "昨天下午" in q.raw
        assert q.reason == "unparseable received_at '昨天下午' (expected %Y/%m/%d %H:%M)"
        src = s.execute(select(Source)).scalar_one()
        assert datetime.fromisoformat(src.watermark) == datetime(2026, 11, 17, 11, 30, tzinfo=SH)


def test_grown_and_changed_files(db_url: str, cfg: AppConfig, tmp_path: Path) -> None:
    path = tmp_path / "drop" / "a.csv"
    write_gbk(path, GOOD + BAD)
    run(db_url, cfg)
    write_gbk(path, GOOD + BAD + ["H4,2026/11/18 08:00,,zhao@example.cn,退款一直没有退回,\n"])
    grown = run(db_url, cfg)
    # Only the appended row is read: the rest of the file is known by the hash of its prefix.
    assert (grown.records, grown.inserted, grown.unchanged, grown.quarantined) == (1, 1, 0, 0)
    changed = [GOOD[0].replace("提现一直未到账", "提现一直未到账，已经五天了"), *GOOD[1:]]
    write_gbk(path, changed)
    result = run(db_url, cfg)
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 2)
    with session_scope(db_url) as s:
        assert count(s, Complaint) == 4 and count(s, QuarantinedRecord) == 3  # bad rows not quarantined twice
        h1 = s.execute(select(Complaint).where(Complaint.external_id == "H1")).scalar_one()
        assert h1.body == "提现一直未到账，已经五天了" and h1.processed_at is None
        kinds = [e.kind for e in s.execute(select(ComplaintEvent).where(ComplaintEvent.complaint_id == h1.id)
                                            .order_by(ComplaintEvent.id)).scalars()]
        assert kinds == ["received", "source_update"]


def test_backfill_window_keeps_live_watermark(db_url: str, cfg: AppConfig, tmp_path: Path) -> None:
    write_gbk(tmp_path / "drop" / "a.csv", GOOD[:1])
    run(db_url, cfg)
    write_gbk(tmp_path / "drop" / "a.csv", GOOD + BAD)
    with session_scope(db_url) as s:
        before = s.execute(select(Source.watermark, Source.state)).one()
    since, until = datetime(2026, 11, 16, tzinfo=SH), datetime(2026, 11, 17, tzinfo=SH)
    result = run(db_url, cfg, since=since, until=until)
    assert (result.inserted, result.unchanged, result.outside_window) == (1, 1, 1)  # H2 new, H1 known, H3 later
    assert run(db_url, cfg, since=since, until=until).inserted == 0
    with session_scope(db_url) as s:
        assert s.execute(select(Source.watermark, Source.state)).one() == before
        assert sorted(s.execute(select(Complaint.external_id)).scalars()) == ["H1", "H2"]
    # The live run afterwards still sees the file as new and takes the rest.
    assert run(db_url, cfg).inserted == 1


def test_crash_between_files_loses_and_doubles_nothing(db_url: str, cfg: AppConfig, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    write_gbk(tmp_path / "drop" / "a.csv", GOOD[:2])
    write_gbk(tmp_path / "drop" / "b.csv", [*GOOD[2:], "H5,2026/11/19 09:00,,z@example.cn,优惠券无法使用,\n"])
    real = ingest_module.store_batch
    calls = []

    def crash_on_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            real(*args, **kwargs)  # rows written but the transaction never commits
            raise RuntimeError("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(ingest_module, "store_batch", crash_on_second)
    with pytest.raises(RuntimeError, match="killed"):
        run(db_url, cfg)
    with session_scope(db_url) as s:
        assert sorted(s.execute(select(Complaint.external_id)).scalars()) == ["H1", "H2"]
        assert list(s.execute(select(Source.state)).scalar_one()["files"]) == [str(tmp_path / "drop" / "a.csv")]
    monkeypatch.setattr(ingest_module, "store_batch", real)
    result = run(db_url, cfg)
    assert (result.batches, result.skipped, result.inserted) == (1, 1, 2)
    with session_scope(db_url) as s:
        assert sorted(s.execute(select(Complaint.external_id)).scalars()) == ["H1", "H2", "H3", "H5"]


def test_demo_regulator_file_through_cfpb_preset(db_url: str, app_config: AppConfig) -> None:
    with session_scope(db_url) as s:
        result = ingest_source(s, app_config, app_config.source("regulator"), "k")
    assert result.inserted > 0 and result.records == result.inserted + result.quarantined
    with session_scope(db_url) as s:
        c = s.execute(select(Complaint).order_by(Complaint.id).limit(1)).scalar_one()
        assert c.channel == "regulator" and c.language == "en" and c.product
        # The CFPB Company column is the firm complained about, not a merchant: kept in raw, not grouped on.
        assert c.merchant is None and c.raw.get("Company")
        assert c.received_at.tzinfo is not None


SHARED_CFPB = Path(__file__).resolve().parents[3] / "shared" / "data" / "cfpb" / "complaints_sample.csv"


@pytest.mark.skipif(not SHARED_CFPB.is_file(), reason=f"{SHARED_CFPB} is not available")
def test_real_cfpb_sample_ingests_through_the_preset(db_url: str, app_config: AppConfig) -> None:
    source = FileSourceSpec(name="cfpb", kind="cfpb", channel="regulator", path=str(SHARED_CFPB),
                            timezone="America/New_York", batch_size=1000)
    with session_scope(db_url) as s:
        result = ingest_source(s, app_config, source, "k")
    assert (result.records, result.batches, result.inserted, result.quarantined) == (3288, 4, 3288, 0)
    with session_scope(db_url) as s:
        assert count(s, Complaint, Complaint.source == "cfpb") == 3288
        assert count(s, Complaint, Complaint.language == "en") == 3288
    with session_scope(db_url) as s:
        assert ingest_source(s, app_config, source, "k").skipped == 1


def test_hostile_text_is_stored_as_plain_text(db_url: str, cfg: AppConfig, tmp_path: Path) -> None:
    hostile = '<script>alert("x")</script> <b>退款</b> {{ config }} {% include "x" %} ${7*7}'
    path = tmp_path / "drop" / "h.csv"
    path.parent.mkdir()
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerow(["工单号", "来电时间", "联系邮箱", "问题描述", "涉及金额"])
        csv.writer(fh).writerow(["X1", "2026/11/16 09:00", "a@example.cn\r\nBcc: all@example.cn", hostile, ""])
    assert run(db_url, cfg).inserted == 1
    with session_scope(db_url) as s:
        c = s.execute(select(Complaint)).scalar_one()
    assert c.body == hostile  # as written: escaping is the templates' job, at output
    assert "\r" not in (c.contact or "") and "\n" not in (c.contact or "")  # no header injection via contact


def test_every_kind_of_bad_row_is_quarantined_with_its_location(db_url: str, cfg: AppConfig, tmp_path: Path) -> None:
    rows = ("H1,2026/11/16 09:10,,,,\n"  # no body
            f"H2,2026/11/16 09:10,,,{'长' * 50_001},\n")
    write_gbk(tmp_path / "drop" / "a.csv", [rows])
    with (tmp_path / "drop" / "a.csv").open("ab") as fh:
        fh.write("H3,2026/11/16 09:10,,,坏".encode("gbk") + b"\xff\xfe" + "字节,\n".encode("gbk"))
    result = run(db_url, cfg)
    assert result.quarantine_reasons == {"missing body": 1, "body too long": 1, "undecodable bytes in gb18030": 1}
    with session_scope(db_url) as s:
        locations = s.execute(select(QuarantinedRecord.location).order_by(QuarantinedRecord.id)).scalars().all()
    assert locations == ["a.csv:line 2", "a.csv:line 3", "a.csv:line 4"]


def test_quarantine_replay_after_the_mapping_is_fixed(db_url: str, cfg: AppConfig, tmp_path: Path) -> None:
    write_gbk(tmp_path / "drop" / "a.csv", GOOD + BAD)
    run(db_url, cfg)
    with session_scope(db_url) as s:
        nothing_fixed = replay_quarantine(s, cfg, "k")
    assert (nothing_fixed.replayed, nothing_fixed.still_bad) == (0, 3)
    # Ops fix the mapping: relative dates are not parseable, but a missing id can default and amounts be ignored.
    fixed = SPEC.model_copy(update={"defaults": {"external_id": "UNKNOWN-1"},
                                    "mapping": {k: v for k, v in SPEC.mapping.items() if k != "amount"}})
    sources = cfg.sources.model_copy(update={"sources": [fixed]})
    with session_scope(db_url) as s:
        result = replay_quarantine(s, cfg.model_copy(update={"sources": sources}), "k", source="hotline")
    assert (result.replayed, result.still_bad, result.inserted) == (2, 1, 2)
    with session_scope(db_url) as s:
        assert sorted(s.execute(select(Complaint.external_id)).scalars()) == ["H1", "H10", "H2", "H3", "UNKNOWN-1"]
        left = s.execute(select(QuarantinedRecord).where(QuarantinedRecord.replayed_at.is_(None))).scalar_one()
        assert left.reason.startswith("unparseable received_at '昨天下午'")
