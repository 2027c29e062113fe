"""Named leases in the database: one run at a time works on a stage's rows, on any number of machines.

The process stage is order-dependent (a complaint is deduplicated against the earlier ones, detection replays
hours in order), so overlapping runs must not split the unprocessed rows between them: the second run waits
for the lease and then finds the rows done. A lease lapses unless its holder renews it (every batch), so a
crashed run blocks the next one for at most the lease time, and a waiting run waits at least that long.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import delete, select, update

from complaints.core.db import insert_ignore, session_scope
from complaints.core.models import Lease, utcnow


def try_acquire(db_url: str, name: str, holder: str, ttl: timedelta) -> bool:
    """Take the lease if it is free or lapsed, or renew it if `holder` has it; True when `holder` has it."""
    with session_scope(db_url) as session:
        now = utcnow()
        insert_ignore(session, Lease, [{"name": name, "holder": holder, "expires_at": now + ttl}])
        # Atomic: of two runs racing for a lapsed lease, the second sees the first's holder and matches nothing.
        session.execute(update(Lease)
                        .where(Lease.name == name, (Lease.holder == holder) | (Lease.expires_at < now))
                        .values(holder=holder, expires_at=now + ttl))
        return session.execute(select(Lease.holder).where(Lease.name == name)).scalar_one() == holder


def release(db_url: str, name: str, holder: str) -> None:
    """Give the lease up if `holder` has it; a lease held by another run is left alone."""
    with session_scope(db_url) as session:
        session.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))


class LeaseTaken(RuntimeError):
    pass


def remaining(db_url: str, name: str) -> timedelta | None:
    """How long until the lease lapses unless renewed (None: nobody holds it)."""
    with session_scope(db_url) as session:
        expires_at = session.execute(select(Lease.expires_at).where(Lease.name == name)).scalar_one_or_none()
    return None if expires_at is None else max(expires_at - utcnow(), timedelta(0))


@contextmanager
def held(db_url: str, name: str, holder: str, ttl: timedelta, wait: timedelta,
         poll_s: float = 1.0) -> Iterator[None]:
    """Hold the lease for the block, waiting for it up to `wait` or until the lease found held lapses, whichever
    is later; LeaseTaken if its holder keeps renewing it past both.

    Waiting for the lapse matters after a crash: a killed run's lease stays until it expires (the TTL), and a run
    started right after the crash that gave up sooner would leave the pending rows to nobody."""
    deadline = time.monotonic() + wait.total_seconds()
    expiry_seen = False
    while not try_acquire(db_url, name, holder, ttl):
        if not expiry_seen:
            expiry_seen = True
            left = remaining(db_url, name)
            if left is not None:
                deadline = max(deadline, time.monotonic() + left.total_seconds() + poll_s)
        if time.monotonic() >= deadline:
            raise LeaseTaken(f"lease {name!r} is held by another run")
        time.sleep(poll_s)
    try:
        yield
    finally:
        release(db_url, name, holder)
