"""With result persistence on (PREFECT_RESULTS_PERSIST_BY_DEFAULT=true, a common production setting), a task
without its own cache policy answers repeated calls from the cache: the process flow's `next_batch_task` loop would
get the first batch forever. Every task declares NO_CACHE, so the flow ends with everything processed."""

from __future__ import annotations

import contextvars
import threading
from typing import Any

from sqlalchemy import func, select

from complaints.core.db import session_scope
from complaints.core.models import Complaint
from tests.factories import T0, complaint


def test_process_flow_terminates_with_result_persistence_on(prefect_api: None, app_env: str) -> None:
    from prefect.settings import PREFECT_RESULTS_PERSIST_BY_DEFAULT, temporary_settings

    from flows.process import process

    with session_scope(app_env) as s:
        for i in range(7):
            complaint(s, f"提现{i}天未到账，请尽快处理", contact=f"user{i}@example.com", at=T0)
    result: dict[str, Any] = {}
    with temporary_settings({PREFECT_RESULTS_PERSIST_BY_DEFAULT: True}):
        assert PREFECT_RESULTS_PERSIST_BY_DEFAULT.value() is True
        # Three batches of at most 3: the same call arguments every time round the loop.
        # A thread (to time out instead of hanging) that sees these settings: they live in a context variable.
        run = contextvars.copy_context().run
        runner = threading.Thread(target=run, args=(lambda: result.update(process(batch_size=3, partitions=1)),),
                                  daemon=True)
        runner.start()
        runner.join(timeout=180)
    assert not runner.is_alive(), "the process flow looped on a cached batch"
    assert result["processed"] == 7
    with session_scope(app_env) as s:
        assert s.execute(select(func.count()).where(Complaint.processed_at.is_(None))).scalar_one() == 0
