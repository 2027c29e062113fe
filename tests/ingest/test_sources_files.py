"""Connectors: encodings, CSV / JSON Lines / Excel parsing, file discovery, hash skipping, CFPB preset."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from complaints.core.config import AppConfig, FileSourceSpec
from complaints.core.records import RawRecord
from complaints.core.settings import PROJECT_ROOT
from complaints.ingest.sources import (
    CFPB_COLUMNS,
    CFPB_DATE_FORMAT,
    CFPB_MAPPING,
    Batch,
    FileConnector,
    Window,
    detect_encoding,
    preset_spec,
    source_files,
)

SHARED_CFPB = PROJECT_ROOT.parent / "shared" / "data" / "cfpb" / "complaints_sample.csv"
DEMO = PROJECT_ROOT / "demo"
HOTLINE_ROWS = "工单号,问题描述,涉及金额\nHL001,提现一直没到账，急用钱,￥300.00\nHL002,客服电话打不通,\n"


def spec(path: str, **kw: object) -> FileSourceSpec:
    mapping = {"external_id": "id", "received_at": "at", "body": "text"}
    return FileSourceSpec(name="t", kind="file", channel="app", path=path, mapping=mapping, **kw)  # type: ignore[arg-type]


def read_files(spec: FileSourceSpec, config_dir: Path, seen: dict[str, Any]) -> list[Batch]:
    """Each new or changed file as one batch (merging a file's batches), as a fresh ingest run would."""
    merged: dict[str, Batch] = {}
    for b in FileConnector(spec.model_copy(update={"batch_size": 3}), config_dir).batches({"files": seen}, Window()):
        old = merged.get(b.label)
        merged[b.label] = Batch(b.label, (old.records if old else []) + b.records, b.state)
    return list(merged.values())


def read_one(tmp_path: Path, name: str, raw: bytes, **kw: object) -> list[RawRecord]:
    (tmp_path / name).write_bytes(raw)
    batches = list(read_files(spec(name, **kw), tmp_path, {}))
    assert [Path(b.label).name for b in batches] == [name]
    return batches[0].records


# --- encodings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "detected"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gb18030"), ("gb18030", "gb18030")],
)
def test_short_chinese_file_decodes_in_every_encoding(tmp_path: Path, encoding: str, detected: str) -> None:
    text = HOTLINE_ROWS.replace("急用钱", "急用钱𠀀") if encoding == "gb18030" else HOTLINE_ROWS
    raw = text.encode(encoding)
    assert detect_encoding(raw) == detected

    records = read_one(tmp_path, "hotline.csv", raw)

    assert [r.error for r in records] == [None, None]
    # The BOM must not leak into the first column name.
    assert records[0].data == {
        "工单号": "HL001",
        "问题描述": "提现一直没到账，急用钱𠀀" if encoding == "gb18030" else "提现一直没到账，急用钱",
        "涉及金额": "￥300.00",
    }
    assert records[1].data["涉及金额"] is None


def test_gbk_and_gb18030_need_their_own_codec(tmp_path: Path) -> None:
    gb18030_only = "用户名𠀀".encode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        gb18030_only.decode("gbk")
    assert detect_encoding(gb18030_only) == "gb18030"
    assert detect_encoding("纯ASCII? no: 提现".encode("gbk")) == "gb18030"
    assert detect_encoding(b"id,text\n1,plain ascii\n") == "utf-8"
    assert detect_encoding(b"") == "utf-8"


def test_one_bad_byte_marks_only_its_record(tmp_path: Path) -> None:
    good = "工单号,问题描述\n" + "".join(f"HL{i:03d},提现一直没到账，客服不回复\n" for i in range(40))
    raw = good.encode("gbk").replace(b"HL005,", b"HL005,\xff", 1)

    records = read_one(tmp_path, "broken.csv", raw)

    assert len(records) == 40
    bad = [r for r in records if r.error]
    assert [(r.location, r.error) for r in bad] == [("broken.csv:line 7", "undecodable bytes in gb18030")]
    assert bad[0].data["问题描述"] == "\ufffd提现一直没到账，客服不回复"
    assert records[6].data == {"工单号": "HL006", "问题描述": "提现一直没到账，客服不回复"}


def test_bad_utf8_byte_in_jsonl_marks_only_its_line(tmp_path: Path) -> None:
    lines = [f'{{"id": "A{i}", "text": "提现没到账 {i}"}}'.encode() for i in range(30)]
    lines[3] = lines[3].replace(b"A3", b"A\xe93")
    records = read_one(tmp_path, "app.jsonl", b"\n".join(lines) + b"\n")

    assert [(r.location, r.error) for r in records if r.error] == [("app.jsonl:line 4", "undecodable bytes in utf-8")]
    assert records[3].data == {"id": "A\ufffd3", "text": "提现没到账 3"}
    assert records[4].data == {"id": "A4", "text": "提现没到账 4"}


def test_explicit_encoding_is_used_as_given(tmp_path: Path) -> None:
    records = read_one(tmp_path, "x.csv", "id,text\n1,café\n".encode("latin-1"), encoding="latin-1")
    assert records == [RawRecord("x.csv:line 2", {"id": "1", "text": "café"})]


# --- CSV --------------------------------------------------------------------------------------


def test_csv_values_lines_and_embedded_newlines(tmp_path: Path) -> None:
    raw = (
        b"id,at,text,amount\r\n"
        b'1,2026-11-16,"first line\nsecond line\r\nthird line",12.50\r\n'
        b"2,2026-11-17,plain,\r\n"
        b"\r\n"
        b",,,\r\n"
        b'3,2026-11-18,"has ""quotes"", and a comma",0\r\n'
    )

    records = read_one(tmp_path, "c.csv", raw)

    assert records == [
        RawRecord(
            "c.csv:line 2",
            {"id": "1", "at": "2026-11-16", "text": "first line\nsecond line\r\nthird line", "amount": "12.50"},
        ),
        RawRecord("c.csv:line 5", {"id": "2", "at": "2026-11-17", "text": "plain", "amount": None}),
        RawRecord("c.csv:line 8", {"id": "3", "at": "2026-11-18", "text": 'has "quotes", and a comma', "amount": "0"}),
    ]


def test_csv_row_with_wrong_field_count_is_an_error_record(tmp_path: Path) -> None:
    raw = "id,text,amount\n1,ok,5\n2,提现没到账,要求尽快处理,300元\n3,short\n4,fine,\n".encode()

    records = read_one(tmp_path, "w.csv", raw)

    assert [(r.location, r.error) for r in records] == [
        ("w.csv:line 2", None),
        ("w.csv:line 3", "row has 4 fields, header has 3"),
        ("w.csv:line 4", "row has 2 fields, header has 3"),
        ("w.csv:line 5", None),
    ]
    assert records[1].data == {"_raw": "2,提现没到账,要求尽快处理,300元\n"}
    assert records[3].data == {"id": "4", "text": "fine", "amount": None}


def test_csv_header_only_and_empty_file(tmp_path: Path) -> None:
    assert read_one(tmp_path, "h.csv", b"id,text\n") == []
    assert read_one(tmp_path, "e.csv", b"") == []


# --- JSON Lines -------------------------------------------------------------------------------


def test_jsonl_objects_broken_lines_and_blank_lines(tmp_path: Path) -> None:
    raw = (
        '{"id": "A1", "text": "提现没到账", "amount": 88.5, "tags": ["x"]}\n'
        "\n"
        '{"id": "A2", "text": "truncated\n'
        "[1, 2]\n"
        '{"id": "A3", "text": "title with \\r\\n inside", "amount": null}\r\n'
        '"just a string"\n'
    ).encode()

    records = read_one(tmp_path, "a.jsonl", raw)

    assert [(r.location, r.error) for r in records] == [
        ("a.jsonl:line 1", None),
        ("a.jsonl:line 3", "not valid JSON (Unterminated string starting at, column 22)"),
        ("a.jsonl:line 4", "expected a JSON object, got array"),
        ("a.jsonl:line 5", None),
        ("a.jsonl:line 6", "expected a JSON object, got string"),
    ]
    assert records[0].data == {"id": "A1", "text": "提现没到账", "amount": 88.5, "tags": ["x"]}
    assert records[1].data == {"_raw": '{"id": "A2", "text": "truncated'}
    assert records[2].data == {"_raw": "[1, 2]"}
    assert records[3].data == {"id": "A3", "text": "title with \r\n inside", "amount": None}


# --- Excel ------------------------------------------------------------------------------------


def write_workbook(path: Path) -> None:
    wb = openpyxl.Workbook()
    sheet = wb.active
    sheet.title = "complaints"
    sheet.append(["id", "at", "text", "amount", None])
    sheet.append(["X1", datetime(2026, 11, 16, 9, 30), "提现没到账", 1234.5])
    sheet.append([101, date(2026, 11, 17), "", 88])
    sheet.append([None, None, None, None])
    sheet.append(["X3", "2026/11/18 10:00", "extra cell", 1, None, "oops"])
    sheet.append(["X4", None, "short row"])
    other = wb.create_sheet("notes")
    other.append(["ignored"])
    wb.active = 1  # the first sheet is read, not the active one
    wb.save(path)


def test_xlsx_first_sheet_values_as_strings(tmp_path: Path) -> None:
    write_workbook(tmp_path / "book.xlsx")

    (batch,) = read_files(spec("book.xlsx"), tmp_path, {})

    assert batch.records == [
        RawRecord(
            "book.xlsx:row 2", {"id": "X1", "at": "2026-11-16T09:30:00", "text": "提现没到账", "amount": "1234.5"}
        ),
        RawRecord("book.xlsx:row 3", {"id": "101", "at": "2026-11-17T00:00:00", "text": None, "amount": "88"}),
        RawRecord(
            "book.xlsx:row 5", {"_raw": "X3,2026/11/18 10:00,extra cell,1,,oops"}, "row has 6 fields, header has 4"
        ),
        RawRecord("book.xlsx:row 6", {"id": "X4", "at": None, "text": "short row", "amount": None}),
    ]


def test_unreadable_xlsx_is_one_error_record(tmp_path: Path) -> None:
    records = read_one(tmp_path, "fake.xlsx", b"id,text\n1,not a workbook\n")
    assert len(records) == 1
    assert records[0].location == "fake.xlsx"
    assert records[0].data == {}
    assert (records[0].error or "").startswith("not a readable .xlsx workbook")


# --- discovery and skipping -------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "b_2026-11-17.jsonl").write_text('{"id": "B1", "text": "x"}\n', encoding="utf-8")
    (exports / "a_2026-11-16.csv").write_text("id,text\nA1,x\nA2,y\n", encoding="utf-8")
    (exports / "c_2026-11-18.csv").write_text("id,text\nC1,z\n", encoding="utf-8")
    (exports / "README.txt").write_text("not data", encoding="utf-8")
    (exports / ".hidden.csv").write_text("id,text\nH,h\n", encoding="utf-8")
    (exports / "~$c_2026-11-18.csv").write_text("lock", encoding="utf-8")
    (exports / "archive").mkdir()
    (exports / "archive" / "old.csv").write_text("id,text\nO,o\n", encoding="utf-8")
    return tmp_path


def names(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def test_folder_glob_and_single_file(folder: Path) -> None:
    exports = (folder / "exports").resolve()
    assert source_files(spec("exports"), folder) == [
        exports / "a_2026-11-16.csv",
        exports / "b_2026-11-17.jsonl",
        exports / "c_2026-11-18.csv",
    ]
    assert names(source_files(spec("exports", format="csv"), folder)) == ["a_2026-11-16.csv", "c_2026-11-18.csv"]
    assert names(source_files(spec("exports/*.csv"), folder)) == ["a_2026-11-16.csv", "c_2026-11-18.csv"]
    assert names(source_files(spec("exports/**/*.csv"), folder)) == [
        "a_2026-11-16.csv",
        "old.csv",
        "c_2026-11-18.csv",
    ]
    assert names(source_files(spec("exports/*"), folder)) == names(source_files(spec("exports"), folder))
    assert source_files(spec("exports/nothing-*.csv"), folder) == []
    assert names(source_files(spec("exports/a_2026-11-16.csv"), folder)) == ["a_2026-11-16.csv"]
    # Paths are relative to the config directory, so "../" reaches a sibling folder.
    config_dir = folder / "config"
    config_dir.mkdir()
    assert names(source_files(spec("../exports/*.jsonl"), config_dir)) == ["b_2026-11-17.jsonl"]


def test_missing_path_and_unknown_format(folder: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        source_files(spec("nowhere"), folder)
    with pytest.raises(ValueError, match="cannot tell the format"):
        list(read_files(spec("exports/README.txt"), folder, {}))
    (batch,) = read_files(spec("exports/README.txt", format="csv"), folder, {})
    assert batch.records == []  # a header line and nothing else
    with pytest.raises(ValueError, match="unknown encoding 'gbkk'"):
        list(read_files(spec("exports", encoding="gbkk"), folder, {}))


def test_unchanged_files_are_skipped_and_changed_ones_reread(folder: Path) -> None:
    source = spec("exports")
    first = read_files(source, folder, {})
    assert [(Path(b.label).name, len(b.records)) for b in first] == [
        ("a_2026-11-16.csv", 2),
        ("b_2026-11-17.jsonl", 1),
        ("c_2026-11-18.csv", 1),
    ]
    seen = first[-1].state["files"]
    assert read_files(source, folder, seen) == []

    changed = folder / "exports" / "c_2026-11-18.csv"
    changed.write_text("id,text\nC9,rewritten\nC2,new row\n", encoding="utf-8")
    (batch,) = read_files(source, folder, seen)
    assert batch.label == str(changed.resolve())
    assert [r.data["id"] for r in batch.records] == ["C9", "C2"]  # prefix differs: the whole file again


def test_grown_file_is_read_from_where_it_stopped(tmp_path: Path) -> None:
    path = tmp_path / "grow.csv"
    path.write_bytes("工单号,问题描述\nG1,到账慢\nG2,\"两行\n说明\"\n".encode("gbk"))
    (first,) = read_files(spec("grow.csv"), tmp_path, {})
    assert [r.location for r in first.records] == ["grow.csv:line 2", "grow.csv:line 3"]
    # Appended rows in plain ASCII: the remembered encoding and header still apply.
    with path.open("ab") as fh:
        fh.write("G3,扣款两次\r\nG4,tail".encode("gbk"))
    (grown,) = read_files(spec("grow.csv"), tmp_path, first.state["files"])
    assert [(r.location, r.data) for r in grown.records] == [
        ("grow.csv:line 5", {"工单号": "G3", "问题描述": "扣款两次"}),
        ("grow.csv:line 6", {"工单号": "G4", "问题描述": "tail"}),
    ]
    # "G4,tail" has no line end yet (still being written): it is read again, completed, next time.
    with path.open("ab") as fh:
        fh.write(b"ed\n")
    (tail,) = read_files(spec("grow.csv"), tmp_path, grown.state["files"])
    assert [(r.location, r.data["问题描述"]) for r in tail.records] == [("grow.csv:line 6", "tailed")]
    assert read_files(spec("grow.csv"), tmp_path, tail.state["files"]) == []


def test_large_file_streams_in_batches_that_each_carry_a_resume_point(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_text("".join(f'{{"id": "B{i}", "text": "第{i}条"}}\n' for i in range(10)), encoding="utf-8")
    connector = FileConnector(spec("big.jsonl", batch_size=4), tmp_path)
    batches = list(connector.batches({}, Window()))
    assert [len(b.records) for b in batches] == [4, 4, 2]
    # A crash after the second batch committed: the next run starts at record 9.
    (rest,) = FileConnector(spec("big.jsonl", batch_size=4), tmp_path).batches(batches[1].state, Window())
    assert [r.data["id"] for r in rest.records] == ["B8", "B9"]
    assert rest.state == batches[-1].state


# --- CFPB preset ------------------------------------------------------------------------------


def cfpb_spec(path: str, **kw: object) -> FileSourceSpec:
    return FileSourceSpec(name="cfpb", kind="cfpb", channel="regulator", path=path, **kw)  # type: ignore[arg-type]


def mapped_columns(mapping: dict[str, str]) -> set[str]:
    return {column for value in mapping.values() for column in value.split("|")}


def test_preset_fills_mapping_and_date_format_and_user_entries_win() -> None:
    preset = preset_spec(cfpb_spec("x.csv", mapping={"region": "ZIP code", "amount": "Tags"}))
    assert preset.mapping == {**CFPB_MAPPING, "region": "ZIP code", "amount": "Tags"}
    assert preset.date_format == CFPB_DATE_FORMAT == "%Y-%m-%d"
    assert preset_spec(cfpb_spec("x.csv", date_format="%m/%d/%Y")).date_format == "%m/%d/%Y"
    assert mapped_columns(CFPB_MAPPING) <= set(CFPB_COLUMNS)
    plain = spec("x.csv")
    assert preset_spec(plain) is plain


@pytest.mark.skipif(not SHARED_CFPB.is_file(), reason=f"{SHARED_CFPB} is not available")
def test_real_cfpb_sample_reads_without_errors() -> None:
    source = preset_spec(cfpb_spec(str(SHARED_CFPB)))

    (batch,) = read_files(source, PROJECT_ROOT, {})

    assert len(batch.records) == 3288
    assert [r for r in batch.records if r.error] == []
    for record in batch.records:
        assert set(record.data) == set(CFPB_COLUMNS)
        assert record.data["Complaint ID"] and record.data["Date received"]
    # Narratives keep their raw line breaks; record locations follow the physical lines.
    third = batch.records[2]
    assert third.location == "complaints_sample.csv:line 4"
    assert "\n\nThis occured on XX/XX/2019" in third.data["Consumer complaint narrative"]
    assert batch.records[3].location == "complaints_sample.csv:line 7"
    assert batch.records[-1].location == "complaints_sample.csv:line 4930"
    assert sum(r.data["Consumer complaint narrative"] is None for r in batch.records) == 2543


# --- bundled demo data ------------------------------------------------------------------------


def demo_batches(app_config: AppConfig, name: str) -> list[Batch]:
    return list(read_files(preset_spec(app_config.source(name)), app_config.directory, {}))


def readme_locations(file_name: str, defect: str) -> set[str]:
    """Locations the demo README lists with this defect, so its line numbers are checked too."""
    text = (DEMO / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([^`]+)` \| (.+?) \|$", text, re.M)
    return {loc for loc, what in rows if what == defect and loc.startswith(file_name + ":")}


def test_demo_regulator_file_reads_with_the_cfpb_preset(app_config: AppConfig) -> None:
    source = preset_spec(app_config.source("regulator"))
    (batch,) = demo_batches(app_config, "regulator")

    assert Path(batch.label).name == "cfpb_referrals_2026-11.csv"
    assert len(batch.records) == 40
    errors = [(r.location, r.error) for r in batch.records if r.error]
    assert errors == [("cfpb_referrals_2026-11.csv:line 40", "row has 15 fields, header has 18")]
    assert {loc for loc, _ in errors} == readme_locations(Path(batch.label).name, "wrong number of fields")
    valid = [r for r in batch.records if not r.error]
    for record in valid:
        assert mapped_columns(source.mapping) <= set(record.data)
        assert record.data["Product"] == "Money transfer, virtual currency, or money service"
        assert record.data["Sub-product"] == "Mobile or digital wallet"
        assert record.data["Company"] == "JadePay Wallet, Inc."
    assert sum(r.data["Complaint ID"] is None for r in valid) == 1
    assert all(re.fullmatch(r"2026-11-\d\d", r.data["Date received"]) for r in valid)


def test_demo_hotline_file_is_gbk_chinese(app_config: AppConfig) -> None:
    path = DEMO / "hotline" / "hotline_2026-11-16.csv"
    raw = path.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("gbk")
    assert text.startswith("工单号,来电时间,客户编号,联系电话,联系邮箱,问题描述,涉及金额,商户名称,所在地区\r\n")
    assert detect_encoding(raw) == "gb18030"

    (batch,) = demo_batches(app_config, "hotline")

    assert len(batch.records) == 126
    errors = [(r.location, r.error) for r in batch.records if r.error]
    assert errors == [("hotline_2026-11-16.csv:line 75", "row has 10 fields, header has 9")]
    assert {loc for loc, _ in errors} == readme_locations(Path(batch.label).name, "wrong number of fields")
    valid = [r for r in batch.records if not r.error]
    assert all(re.search("[\u4e00-\u9fff]", r.data["问题描述"]) for r in valid)
    assert sum(r.data["商户名称"] == "快捷支付通道" for r in valid) == 16
    # Multi-line call notes stay one record and the next record's line number accounts for them.
    multi = [r for r in valid if "\n" in r.data["问题描述"]]
    assert [r.location for r in multi] == ["hotline_2026-11-16.csv:line 28", "hotline_2026-11-16.csv:line 94"]
    name = Path(batch.label).name
    assert {r.location for r in multi} == readme_locations(name, "line breaks inside a quoted CSV field")
    after = valid[valid.index(multi[0]) + 1]
    assert after.location == "hotline_2026-11-16.csv:line 32"
    # Same number of records as csv.reader finds in the GBK text.
    assert len(list(csv.reader(io.StringIO(text, newline="")))) - 1 == len(batch.records)


def test_demo_app_feedback_reads_with_one_broken_line(app_config: AppConfig) -> None:
    (batch,) = demo_batches(app_config, "app_feedback")

    assert len(batch.records) == 165
    errors = [r for r in batch.records if r.error]
    assert [r.location for r in errors] == ["app_feedback_2026-11-16.jsonl:line 7"]
    assert {r.location for r in errors} == readme_locations(Path(batch.label).name, "truncated JSON line")
    assert (errors[0].error or "").startswith("not valid JSON (Unterminated string")
    assert sum("feedback_id" not in r.data for r in batch.records if not r.error) == 1
