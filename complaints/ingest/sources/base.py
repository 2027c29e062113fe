"""What every connector hands to ingest: batches of raw records with the source state to store after them."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from complaints.core.config import SecretRef
from complaints.core.records import RawRecord


@dataclass(frozen=True)
class Batch:
    """Records read together. `state` is the whole source state to store in the same transaction as the
    rows (so a crash re-reads the batch); `after_commit` runs once that transaction has committed."""

    label: str
    records: list[RawRecord]
    state: dict[str, Any]
    after_commit: Callable[[], None] | None = None


@dataclass(frozen=True)
class Window:
    """A backfill window, or the live pull when both ends are None."""

    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        # A swapped --since/--until would read everything and store nothing: refused before any work.
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise WindowError(f"since {self.since.isoformat()} is not before until {self.until.isoformat()}: "
                              "the window [since, until) is empty")

    @property
    def backfill(self) -> bool:
        return self.since is not None or self.until is not None


class WindowError(ValueError):
    """since/until that select nothing."""


class Connector(Protocol):
    # Units (files, ...) found unchanged since the state the run started from; known once batches() is drained.
    skipped: int

    def batches(self, state: dict[str, Any], window: Window) -> Iterator[Batch]:
        """Read from where `state` says the last committed batch ended; a backfill passes state {}."""
        ...


def resolve_secret(ref: SecretRef) -> str:
    """The secret's value: a Prefect Secret block (Prefect imported only then) or an environment variable."""
    if ref.secret_block is not None:
        from prefect.blocks.system import Secret

        return str(Secret.load(ref.secret_block).get())
    value = os.environ.get(ref.env or "")
    if not value:
        raise RuntimeError(f"environment variable {ref.env} is not set")
    return value
