"""Leases: a run started right after a crash waits for the dead run's lease to lapse and then does the work."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from complaints.core.leases import LeaseTaken, held, remaining, try_acquire


def test_a_waiting_run_outlasts_a_dead_holders_lease(db_url: str) -> None:
    """Issue 16: a killed process run held its lease 15 minutes while a new run waited 10 and gave up, so the
    pipeline started right after the crash reported without the pending complaints. Scaled down: the dead run's
    lease lapses in 2 s, the new run's wait is 0.5 s; it waits for the lapse and takes the lease."""
    start = time.monotonic()  # the dead run's lease lapses 2 s after this, or later
    assert try_acquire(db_url, "process", "flow-run:killed", timedelta(seconds=2))
    with held(db_url, "process", "flow-run:new", timedelta(minutes=1), timedelta(seconds=0.5), poll_s=0.1):
        waited = time.monotonic() - start
        assert not try_acquire(db_url, "process", "flow-run:killed", timedelta(seconds=2))
    assert 1.95 < waited < 10


def test_a_live_holder_that_keeps_renewing_still_wins(db_url: str) -> None:
    """The wait is bounded: a holder that renews past the wait and past the lapse first seen keeps the lease."""
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(0.1):
            try_acquire(db_url, "process", "flow-run:alive", timedelta(seconds=1))

    assert try_acquire(db_url, "process", "flow-run:alive", timedelta(seconds=1))
    renewer = threading.Thread(target=renew)
    renewer.start()
    start = time.monotonic()
    # The lapse as it stands now; renewals only move it later, so the run waits at least this long (and past its
    # own 0.3 s). Not a fixed 0.9 s: on a busy machine the last renewal can be 0.2 s old when the run looks.
    lapse = remaining(db_url, "process")
    try:
        with pytest.raises(LeaseTaken), held(db_url, "process", "flow-run:new", timedelta(minutes=1),
                                             timedelta(seconds=0.3), poll_s=0.1):
            pass
    finally:
        stop.set()
        renewer.join()
    assert lapse is not None and max(0.3, lapse.total_seconds()) < time.monotonic() - start < 10
