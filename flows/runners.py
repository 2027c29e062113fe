"""Task runners for the flows that partition their batches (COMPLAINTS_TASK_RUNNER, read at import)."""

from __future__ import annotations

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from complaints.core.settings import get_settings


def partition_runner() -> TaskRunner:  # type: ignore[type-arg]
    """Threads by default; "dask": the partitions run in separate processes (both cores, or a cluster)."""
    settings = get_settings()
    if settings.task_runner == "dask":
        from prefect_dask import DaskTaskRunner

        if settings.dask_address:
            return DaskTaskRunner(address=settings.dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": settings.process_partitions, "threads_per_worker": 1,
                                              "processes": True})
    return ThreadPoolTaskRunner(max_workers=settings.process_partitions)
