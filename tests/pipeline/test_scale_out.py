"""Scale-out of the process flow: partitions on a 2-worker Dask cluster and overlapping runs give exactly the
database results of one single-partition run (categories, severities, duplicate links, incidents); the lease
and the bulk writes they rely on."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bench.synthetic import SYNTHETIC_MAPPING, complaints, write_csv
from complaints.core import bulk
from complaints.core import runtime as runtime_module
from complaints.core.config import AppConfig, FileSourceSpec
from complaints.core.db import migrate, session_scope
from complaints.core.leases import try_acquire
from complaints.core.models import Complaint, ComplaintEvent, DuplicateLink, Incident, utcnow
from complaints.ingest.store import ingest_source
from tests.conftest import _pg_database
from tests.factories import T0, complaint

N = 2000
SPEC = FileSourceSpec(name="synthetic", kind="file", channel="app", path="data/*.csv", timezone="UTC",
                      mapping=SYNTHETIC_MAPPING)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The flow-level tests run on PostgreSQL: worker processes on several machines share a database server.
    (The lease and bulk-write tests below run on both backends.)"""
    gen = _pg_database()
    url = next(gen)
    migrate(url)
    yield url
    gen.close()


@contextmanager
def using(url: str, var: Path) -> Iterator[None]:
    """Point the flows (and Dask workers started inside, which inherit the environment) at a database."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COMPLAINTS_VAR_DIR", str(var))
        mp.setenv("COMPLAINTS_DATABASE_URL", url)
        runtime_module.reset()
        try:
            yield
        finally:
            runtime_module.reset()


@pytest.fixture(scope="module")
def input_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same synthetic input (Chinese and English, resubmissions, 3 bursts of 60 users) for every database."""
    directory = tmp_path_factory.mktemp("scale-out")
    write_csv(directory / "data" / "complaints.csv", complaints(N, burst_users=60))
    return directory


@pytest.fixture(scope="module")
def reference(prefect_api: None, input_dir: Path, app_config: AppConfig) -> dict[str, Any]:
    """One run, one partition, threads: the results every other layout must reproduce."""
    from flows.process import process

    gen = _pg_database()
    url = next(gen)
    try:
        migrate(url)
        _ingest(url, app_config, input_dir)
        with using(url, input_dir / "var"):
            process(partitions=1)
        ref = _results(url)
    finally:
        gen.close()
    assert all(row[-1] for row in ref["complaints"]) and len(ref["complaints"]) == N
    assert len(ref["links"]) > 100 and {m for _, _, m, _ in ref["links"]} >= {"exact"}
    assert ref["incidents"], "the bursts open incidents"
    return ref


def _ingest(url: str, app_config: AppConfig, input_dir: Path) -> None:
    with session_scope(url) as s:
        ingest_source(s, app_config.model_copy(update={"directory": input_dir}), SPEC, "test-key")


def _results(url: str) -> dict[str, Any]:
    """Everything the process stage decides, keyed by external ids (independent of row ids)."""
    with session_scope(url) as s:
        ext = dict(s.execute(select(Complaint.id, Complaint.external_id)).tuples().all())
        incidents = {i.id: (i.signature, i.opened_window) for i in s.execute(select(Incident)).scalars()}
        rows = s.execute(select(Complaint).order_by(Complaint.external_id)).scalars().all()
        return {
            "complaints": [(c.external_id, c.status, c.category, c.category_confidence, c.category_source,
                            c.needs_review, c.severity, c.severity_reasons, ext.get(c.duplicate_of_id),
                            c.channels, c.first_seen_at, c.last_seen_at, incidents.get(c.incident_id),
                            c.processed_at is not None) for c in rows],
            "links": sorted((ext[lk.complaint_id], ext[lk.canonical_id], lk.method, lk.score)
                            for lk in s.execute(select(DuplicateLink)).scalars()),
            "incidents": sorted((i.signature, i.opened_window, i.category, i.severity, i.status, i.user_count,
                                 i.complaint_count) for i in s.execute(select(Incident)).scalars()),
            "status_events": sorted(ext[e.complaint_id] for e in s.execute(
                select(ComplaintEvent).where(ComplaintEvent.kind == "status")).scalars()),
        }


def _same(got: dict[str, Any], want: dict[str, Any]) -> None:
    for key, rows in want.items():
        diff = [(a, b) for a, b in zip(got[key], rows, strict=True) if a != b]
        assert not diff, f"{key}: {len(diff)} rows differ, e.g. {diff[:2]}"


@pytest.mark.prefect
def test_dask_cluster_of_two_workers_gives_the_single_process_results(
        reference: dict[str, Any], pg_url: str, input_dir: Path, app_config: AppConfig, tmp_path: Path) -> None:
    from prefect_dask import DaskTaskRunner

    from flows.process import process

    _ingest(pg_url, app_config, input_dir)
    runner = DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "processes": True})
    with using(pg_url, tmp_path / "var"):
        # Two batches, each split in 3 parts over the 2 worker processes.
        result = process.with_options(task_runner=runner)(batch_size=1000, partitions=3)
    assert result["processed"] == N
    _same(_results(pg_url), reference)


@pytest.mark.prefect
def test_overlapping_runs_work_each_row_once(reference: dict[str, Any], pg_url: str, input_dir: Path,
                                             app_config: AppConfig, tmp_path: Path) -> None:
    from flows.process import process

    _ingest(pg_url, app_config, input_dir)
    results: list[dict[str, Any]] = []
    runs = [threading.Thread(target=lambda: results.append(process(batch_size=500, partitions=2)))
            for _ in range(2)]
    with using(pg_url, tmp_path / "var"):
        for t in runs:
            t.start()
        for t in runs:
            t.join()
    # The second run waited for the lease, then found nothing left: together they processed each row once.
    assert sorted(r.get("processed", 0) for r in results) == [0, N]
    _same(_results(pg_url), reference)


def test_lease_is_exclusive_renewable_and_lapses(db_url: str) -> None:
    minute = timedelta(minutes=1)
    assert try_acquire(db_url, "process", "run-a", minute)
    assert not try_acquire(db_url, "process", "run-b", minute)
    assert try_acquire(db_url, "process", "run-a", minute)  # renewal
    assert try_acquire(db_url, "other-stage", "run-b", minute)  # leases are per name
    assert try_acquire(db_url, "process", "run-a", -minute)  # renewed into the past: lapsed
    assert try_acquire(db_url, "process", "run-b", minute)
    assert not try_acquire(db_url, "process", "run-a", minute)


def test_bulk_update_writes_every_type(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL the COPY + UPDATE ... FROM path (forced here for 3 rows) writes what executemany writes."""
    monkeypatch.setattr(bulk, "COPY_MIN", 0)
    with session_scope(db_url) as s:
        ids = [complaint(s, f"提现未到账 {i}", amount="12.50").id for i in range(3)]
    now = utcnow()
    rows = [{"_id": i, "category": "transfer_delay", "category_confidence": 0.5, "needs_review": k == 1,
             "severity_reasons": [f"原因 {k}", "amount 12.50 >= 10"], "channels": ["app", "hotline"],
             "duplicate_of_id": ids[0] if k else None, "processed_at": now, "last_seen_at": T0 + timedelta(days=k)}
            for k, i in enumerate(ids)]
    with session_scope(db_url) as s:
        bulk.update_by_id(s, Complaint.__table__, rows)
    with session_scope(db_url) as s:
        stored = bulk.rows_by_id(s, [Complaint.id, *(Complaint.__table__.c[c] for c in rows[0] if c != "_id"),
                                     Complaint.amount], ids)
    assert [tuple(r) for r in stored] == [(*r.values(), Decimal("12.50")) for r in rows]
