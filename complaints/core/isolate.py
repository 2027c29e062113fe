"""Isolating the items that make a batch fail, so that one bad item does not stop the others.

Ingest stores a batch the database refused by halves down to the refused records (quarantined); process dedupes
and classifies a partition that raised by halves down to the complaints that raise (held out of processing).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def isolate(items: Sequence[T], attempt: Callable[[list[T]], BaseException | None],
            max_failures: int | None = None) -> list[tuple[T, BaseException]]:
    """Attempt the items as one; a part whose attempt fails is attempted again as two halves (the earlier half
    first), down to the single items that fail, which come back with their errors in order.

    `attempt` is one transaction: it returns None when it is done, the error when the items caused it (rolled
    back), and raises any other error. One bad item among n costs about 2*log2(n) attempts instead of blocking
    the n (and the same n on every later run). When every item of several fails, or more than `max_failures`
    do, the fault is not in the items: the first error is raised (what the halves that succeeded did stays)."""
    failed: list[tuple[T, BaseException]] = []
    first: BaseException | None = None
    pending = [list(items)]
    while pending:
        part = pending.pop()
        error = attempt(part)
        if error is None:
            continue
        first = first or error
        if len(part) > 1:
            mid = len(part) // 2
            pending += [part[mid:], part[:mid]]
            continue
        failed.append((part[0], error))
        if max_failures is not None and len(failed) > max_failures:
            raise first
    if first is not None and len(items) > 1 and len(failed) == len(items):
        raise first
    return failed
