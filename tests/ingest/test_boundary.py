"""Issue 16, poison rows and silent failures at the ingest boundary: every value is validated before it reaches the
database, a record the database still refuses is isolated and quarantined, replays and re-reads do not count a row
twice, and a run whose output cannot be trusted says so (IngestSummary.degraded). SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from complaints.core.config import AppConfig, FileSourceSpec, TransactionSourceSpec
from complaints.core.db import session_scope
from complaints.core.models import Complaint, QuarantinedRecord, Transaction
from complaints.ingest.store import IngestSummary, ingest_source, replay_quarantine

SPEC = FileSourceSpec(name="app", kind="file", channel="app", path="drop/*.jsonl",
                      mapping={"external_id": "id", "received_at": "at", "body": "text", "amount": "amount",
                               "title": "title"})
AT = "2026-11-16T09:00:00+08:00"


def good(i: int, **extra: object) -> dict[str, object]:
    return {"id": f"A{i}", "at": AT, "text": f"提现未到账 {i}", **extra}


def write(path: Path, rows: list[object], raw_lines: list[str] = ()) -> None:  # type: ignore[assignment]
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r, ensure_ascii=False) for r in rows] + list(raw_lines)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


@pytest.fixture
def cfg(app_config: AppConfig, tmp_path: Path) -> AppConfig:
    return app_config.model_copy(update={"directory": tmp_path})


def run(db_url: str, cfg: AppConfig, spec: FileSourceSpec = SPEC) -> IngestSummary:
    with session_scope(db_url) as s:
        return ingest_source(s, cfg, spec, "k")


def stored(db_url: str) -> set[str]:
    with session_scope(db_url) as s:
        return set(s.scalars(select(Complaint.external_id)))


def quarantine(db_url: str, open_only: bool = True) -> list[tuple[str, str]]:
    q = QuarantinedRecord
    with session_scope(db_url) as s:
        stmt = select(q.location, q.reason).order_by(q.id)
        return list(s.execute(stmt.where(q.replayed_at.is_(None)) if open_only else stmt).tuples())


def test_non_finite_numbers_are_quarantined_not_written(db_url: str, cfg: AppConfig, tmp_path: Path) -> None:
    """Issue 16: `"amount": NaN` in one JSON line failed the PostgreSQL batch COPY (json column), three retries,
    then every stage after ingest. Now: quarantined with the reason, the rest of the batch stored."""
    write(tmp_path / "drop" / "a.jsonl", [good(1), good(2)],
          [f'{{"id": "A3", "at": "{AT}", "text": "x", "amount": NaN}}',
           f'{{"id": "A4", "at": "{AT}", "text": "x", "extra": {{"deep": [Infinity]}}}}',
           f'{{"id": "A5", "at": "{AT}", "text": "x", "amount": -Infinity}}'])
    summary = run(db_url, cfg)
    assert stored(db_url) == {"A1", "A2"}
    reasons = [r for _, r in quarantine(db_url)]
    assert reasons == ["non-finite number nan in field 'amount'", "non-finite number inf in field 'extra'",
                       "non-finite number -inf in field 'amount'"]
    assert (summary.inserted, summary.quarantined) == (2, 3)


@pytest.mark.parametrize(("at", "reason"), [
    ("0001-01-01T00:00:00", "received_at 0001-01-01T00:00:00+08:05:43 outside the plausible window (2000-01-01 to "
                            "7 days ahead)"),  # Asia/Shanghai (LMT then): before year 1 in UTC
    ("0001-01-01T00:00:00+00:00", "received_at 0001-01-01 before 2000-01-01"),
    ("9999-12-31T23:59:59+00:00", "received_at 9999-12-31 more than 7 days in the future"),
    ("9999-12-31T23:00:00-05:00", "received_at 9999-12-31T23:00:00-05:00 outside the plausible window (2000-01-01 "
                                  "to 7 days ahead)"),
    ("1999-12-31T23:00:00+00:00", "received_at 1999-12-31 before 2000-01-01"),
])
def test_implausible_dates_are_quarantined(db_url: str, cfg: AppConfig, tmp_path: Path, at: str,
                                           reason: str) -> None:
    """Issue 16: year 0001 was stored as a BC timestamp (every later read raised); 9999 made detection raise
    OverflowError. Now quarantined with the window from sources.yaml `limits`; the other row is stored."""
    write(tmp_path / "drop" / "a.jsonl", [good(1), good(2, at=at)])
    run(db_url, cfg)
    assert stored(db_url) == {"A1"}
    assert [r for _, r in quarantine(db_url)] == [reason + (" (sources.yaml limits)" if "before" in reason else "")]


def test_date_window_comes_from_config(db_url: str, cfg: AppConfig, tmp_path: Path) -> None:
    limits = cfg.sources.limits.model_copy(update={"received_max_future_days": 400})
    cfg = cfg.model_copy(update={"sources": cfg.sources.model_copy(update={"limits": limits})})
    soon = (datetime.now(UTC) + timedelta(days=300)).isoformat()
    write(tmp_path / "drop" / "a.jsonl", [good(1, at=soon)])
    run(db_url, cfg)
    assert stored(db_url) == {"A1"}


def test_amounts_nesting_size_and_surrogates_are_bounded(db_url: str, cfg: AppConfig, tmp_path: Path) -> None:
    nested: object = "leaf"
    for _ in range(30):
        nested = {"n": nested}
    write(tmp_path / "drop" / "a.jsonl",
          [good(1, amount="¥12.50"), good(2, amount="1" * 20), good(3, amount=1e300), good(4, meta=nested),
           good(5, blob="x" * 300_000)],
          [f'{{"id": "A6", "at": "{AT}", "text": "lone \\ud800 surrogate"}}'])
    run(db_url, cfg)
    assert stored(db_url) == {"A1"}
    assert [r for _, r in quarantine(db_url)] == [
        "amount 11111111111111111111.00 out of range (limit 1,000,000,000,000)",
        "amount 1e+300 out of range (limit 1,000,000,000,000)",
        "nested deeper than 20 levels in field 'meta'",
        "record too large: over 200000 characters",
        "invalid Unicode (lone surrogate) in field 'text'",
    ]


def poison(db_url: str) -> None:
    """A database rule validation knows nothing about: the database refuses external_id POISON."""
    with session_scope(db_url) as s:
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("ALTER TABLE complaints ADD CONSTRAINT no_poison CHECK (external_id <> 'POISON')"))
        else:
            s.execute(text("CREATE TRIGGER no_poison BEFORE INSERT ON complaints WHEN NEW.external_id = 'POISON' "
                           "BEGIN SELECT RAISE(ABORT, 'no_poison'); END"))


@pytest.mark.parametrize("batch_size", [3, 1000])  # 1000: the PostgreSQL COPY path (500+ rows)
def test_a_record_the_database_refuses_is_isolated_and_quarantined(db_url: str, cfg: AppConfig, tmp_path: Path,
                                                                   batch_size: int) -> None:
    """Second line of defence: a batch the database refuses is split until the refused record is found; it is
    quarantined with the database's reason (its first line: the DETAIL would quote values) and every other record
    of every batch is stored; the source state moves on, so the next run adds nothing."""
    poison(db_url)
    rows = [good(i) for i in range(700)]
    rows[421] = {**rows[421], "id": "POISON"}
    write(tmp_path / "drop" / "a.jsonl", rows)
    spec = SPEC.model_copy(update={"batch_size": batch_size})
    summary = run(db_url, cfg, spec)
    assert stored(db_url) == {f"A{i}" for i in range(700)} - {"A421"}
    [(location, reason)] = quarantine(db_url)
    assert location == "a.jsonl:line 422" and reason.startswith("database refused the record: ")
    assert "no_poison" in reason and "Failing row" not in reason
    assert (summary.inserted, summary.quarantined, summary.records) == (699, 1, 700)
    again = run(db_url, cfg, spec)
    assert (again.records, again.inserted) == (0, 0) and len(quarantine(db_url, open_only=False)) == 1


def test_a_fault_that_refuses_every_record_fails_the_batch(db_url: str, cfg: AppConfig, tmp_path: Path) -> None:
    """If the database refuses every record of a batch, the fault is not in a record: nothing is quarantined
    and the run fails (to be fixed and retried), instead of quarantining a whole source."""
    with session_scope(db_url) as s:
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("ALTER TABLE complaints ADD CONSTRAINT none_ok CHECK (external_id = '')"))
        else:
            s.execute(text("CREATE TRIGGER none_ok BEFORE INSERT ON complaints BEGIN SELECT RAISE(ABORT, 'x'); END"))
    write(tmp_path / "drop" / "a.jsonl", [good(i) for i in range(5)])
    with pytest.raises(Exception, match=r"none_ok|x"):
        run(db_url, cfg)
    assert quarantine(db_url) == [] and stored(db_url) == set()


def test_replay_and_reread_do_not_count_a_row_twice(db_url: str, cfg: AppConfig, tmp_path: Path) -> None:
    """Issue 16: replaying the quarantine after a fix counted the same rows again (quarantine 11 -> 13): a replay
    gave a still-bad row a new reason, and the next full re-read quarantined it again under that reason."""
    path = tmp_path / "drop" / "a.jsonl"
    write(path, [good(1), {"id": "A2", "at": AT, "txt": "typo'd column"}, {"id": "A3", "at": "yesterday"}])
    assert run(db_url, cfg).quarantined == 2
    fixed = SPEC.model_copy(update={"mapping": {**SPEC.mapping, "body": "text|txt"}})
    sources = cfg.sources.model_copy(update={"sources": [fixed]})
    fixed_cfg = cfg.model_copy(update={"sources": sources})
    with session_scope(db_url) as s:
        result = replay_quarantine(s, fixed_cfg, "k")
    assert (result.replayed, result.still_bad) == (1, 1)
    open_rows = quarantine(db_url)
    assert len(open_rows) == 1 and "missing body" in open_rows[0][1]  # A3's reason as the new mapping says
    write(path, [good(1), {"id": "A2", "at": AT, "txt": "typo'd column"}, {"id": "A3", "at": "yesterday"},
                 good(4)], ["{not json"])  # a changed file: read again from the start
    again = run(db_url, fixed_cfg, fixed)
    assert stored(db_url) == {"A1", "A2", "A4"}
    assert len(quarantine(db_url, open_only=False)) == 3  # A2 (replayed), A3, the new broken line
    assert len(quarantine(db_url)) == 2 and again.inserted == 1


def test_a_truncated_line_completed_later_resolves_its_quarantine_row(db_url: str, cfg: AppConfig,
                                                                      tmp_path: Path) -> None:
    """Issue 16: a JSON line cut off while being written was quarantined, and stayed open after the writer
    completed it. The stored complaint from the same location now resolves it."""
    path = tmp_path / "drop" / "a.jsonl"
    line = json.dumps(good(2), ensure_ascii=False)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(good(1)) + "\n" + line[:25], encoding="utf-8")
    run(db_url, cfg)
    assert [loc for loc, _ in quarantine(db_url)] == ["a.jsonl:line 2"]
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line[25:] + "\n")
    summary = run(db_url, cfg)
    assert stored(db_url) == {"A1", "A2"} and summary.resolved == 1
    assert quarantine(db_url) == [] and len(quarantine(db_url, open_only=False)) == 1


def test_most_rows_quarantined_marks_the_run_degraded(db_url: str, cfg: AppConfig, tmp_path: Path) -> None:
    """Issue 16: a mistyped column sent 163 of 165 rows to quarantine and the run said Completed."""
    write(tmp_path / "drop" / "a.jsonl", [good(1), good(2)] + [{"id": f"B{i}", "at": AT, "tekst": "x"}
                                                                for i in range(10)])
    summary = run(db_url, cfg)
    assert summary.degraded.startswith("10 of 12 records quarantined (most: 'missing body' x10")
    write(tmp_path / "drop" / "b.jsonl", [good(i) for i in range(3, 30)])
    assert run(db_url, cfg).degraded == ""  # 0 of 27: a healthy run


def test_a_path_that_matches_no_file_marks_the_run_degraded(db_url: str, cfg: AppConfig, tmp_path: Path) -> None:
    """Issue 16: a path typo gave "0 records" and Completed. A glob or file matching nothing is degraded; so is a
    drop folder that had files and has none now; an empty drop folder that never had any is not."""
    typo = SPEC.model_copy(update={"path": "drpo/*.jsonl"})
    assert run(db_url, cfg, typo).degraded == "path 'drpo/*.jsonl' matches no file"
    write(tmp_path / "drop" / "a.jsonl", [good(1)])
    assert run(db_url, cfg).degraded == ""
    (tmp_path / "drop" / "a.jsonl").rename(tmp_path / "drop" / "a.jsonl.done")
    assert run(db_url, cfg).degraded == "path 'drop/*.jsonl' matches no file (it matched 1 file(s) before)"
    folder = SPEC.model_copy(update={"name": "folder", "path": "inbox"})
    (tmp_path / "inbox").mkdir()
    assert run(db_url, cfg, folder).degraded == ""



def test_migration_0006_keys_quarantine_rows_on_content_and_merges_the_doubled(db_url: str) -> None:
    """Rows quarantined before 0006 (fingerprint of reason + raw), one of them doubled by a replay that changed its
    reason: after the migration one row each, keyed as ingest now keys them."""
    import hashlib

    from complaints.core.db import downgrade, migrate
    from complaints.ingest.store import quarantine_fingerprint

    downgrade(db_url, "0005")
    rows = [("a.jsonl:line 2", "missing body (column 'text' is empty)", '{"id": "A2"}'),
            ("a.jsonl:line 2", "missing body (column 'text|txt' is empty)", '{"id": "A2"}'),
            ("a.jsonl:line 3", "not valid JSON", '{"_raw": "{x"}')]
    with session_scope(db_url) as s:
        for location, reason, raw in rows:
            s.execute(text("INSERT INTO quarantine (source, location, reason, raw, fingerprint, created_at) "
                           "VALUES ('app', :l, :r, :w, :f, CURRENT_TIMESTAMP)"),
                      {"l": location, "r": reason, "w": raw,
                       "f": hashlib.sha256(f"{reason}\x00{raw}".encode()).hexdigest()})
    migrate(db_url)
    with session_scope(db_url) as s:
        left = s.execute(select(QuarantinedRecord.raw, QuarantinedRecord.fingerprint, QuarantinedRecord.reason)
                         .order_by(QuarantinedRecord.id)).all()
    assert [(raw, fp) for raw, fp, _ in left] == [(raw, quarantine_fingerprint(raw)) for raw in
                                                 ('{"id": "A2"}', '{"_raw": "{x"}')]
    assert left[0].reason == "missing body (column 'text' is empty)"  # the earliest is kept


def test_a_transaction_the_database_refuses_is_isolated(db_url: str, cfg: AppConfig, tmp_path: Path) -> None:
    """Transaction feeds share the second line of defence: the refused row is quarantined with the database's
    reason, the others stored, and a re-run adds nothing. An id that NFKC folding lengthens past its column
    (the database would refuse it on PostgreSQL only) is caught at the boundary on both."""
    with session_scope(db_url) as s:
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("ALTER TABLE transactions ADD CONSTRAINT no_poison CHECK (transaction_id <> 'POISON')"))
        else:
            s.execute(text("CREATE TRIGGER no_poison BEFORE INSERT ON transactions WHEN NEW.transaction_id = "
                           "'POISON' BEGIN SELECT RAISE(ABORT, 'no_poison'); END"))
    feed = tmp_path / "feed"
    feed.mkdir()
    ids = ["T1", "T2", "POISON", "T4", "\ufdfa" * 12]  # one character NFKC makes 18: 216 > 200
    (feed / "tx.csv").write_text("id,at,type,amount\n" + "".join(f"{i},2026-11-16T08:00:00+08:00,transfer,5\n"
                                                                 for i in ids), encoding="utf-8")
    spec = TransactionSourceSpec(name="wallet_tx", kind="transactions", path=str(feed / "*.csv"),
                                 mapping={"transaction_id": "id", "occurred_at": "at", "type": "type",
                                          "amount": "amount"})
    with session_scope(db_url) as s:
        summary = ingest_source(s, cfg, spec, "k")
    assert (summary.records, summary.inserted, summary.quarantined) == (5, 3, 2)
    with session_scope(db_url) as s:
        assert sorted(s.scalars(select(Transaction.transaction_id))) == ["T1", "T2", "T4"]
        reasons = sorted(s.scalars(select(QuarantinedRecord.reason)))
    assert reasons[0].startswith("database refused the record: ") and "no_poison" in reasons[0]
    assert reasons[1] == "transaction_id too long: 216 characters (limit 200)"
    with session_scope(db_url) as s:
        assert ingest_source(s, cfg, spec, "k").records == 0
