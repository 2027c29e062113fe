"""What every task shares: the runtime and a session, no result cache, and retries only where a retry can help.

Tasks read and write the database, so a cached result would be wrong (a loop asking for the next batch would get
the first one forever when result persistence is on): every task declares NO_CACHE. A retry helps with I/O that
can recover (a dropped connection, a locked database, a timeout, a mail server that is down); a bad config file,
a missing file or a refused decision fails the same way every time, so it fails at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.states import State
from sqlalchemy.orm import Session

from complaints.core.db import refresh_statistics, session_scope
from complaints.core.errors import can_heal
from complaints.core.runtime import Runtime, runtime

F = TypeVar("F", bound=Callable[..., Any])

def retry_if_it_can_heal(_task: Task[..., Any], _run: TaskRun, state: State[Any]) -> bool:
    try:
        state.result()
    except Exception as error:
        return can_heal(error)
    return False


def stage_task(*, retries: int = 2, retry_delay_seconds: int | list[int] = 10, **options: Any) -> Callable[[F], F]:
    """`@task` with the project's cache policy and retry condition; other options as Prefect's."""
    return task(cache_policy=NO_CACHE, retries=retries, retry_delay_seconds=retry_delay_seconds,
                retry_condition_fn=retry_if_it_can_heal, **options)  # type: ignore[return-value]


@contextmanager
def stage(*, refresh: bool = False) -> Iterator[tuple[Runtime, Session]]:
    """The process's runtime and one transaction; `refresh` first re-analyses tables a bulk write left stale."""
    rt = runtime()
    if refresh:
        refresh_statistics(rt.db_url)
    with session_scope(rt.db_url) as session:
        yield rt, session
