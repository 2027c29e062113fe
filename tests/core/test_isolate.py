"""complaints.core.isolate: the items that make an attempt fail are found by halves; the rest are done."""

from __future__ import annotations

import pytest

from complaints.core.isolate import isolate


class Attempts:
    """Fails a part that holds a bad item (with that item's error), records every part attempted and done."""

    def __init__(self, bad: set[int]) -> None:
        self.bad, self.parts, self.done = bad, [], []

    def __call__(self, part: list[int]) -> BaseException | None:
        self.parts.append(part)
        found = [i for i in part if i in self.bad]
        if found:
            return ValueError(f"item {found[0]}")
        self.done += part
        return None


def test_one_bad_item_is_isolated_in_about_2_log2_n_attempts_and_the_rest_is_done() -> None:
    attempts = Attempts({11})
    failed = isolate(list(range(64)), attempts)
    assert [(i, str(e)) for i, e in failed] == [(11, "item 11")]
    assert sorted(attempts.done) == [i for i in range(64) if i != 11]
    assert len(attempts.parts) == 1 + 2 * 6  # the whole, then both halves at each of the 6 levels
    assert attempts.parts[1] == list(range(32))  # the earlier half first


def test_bad_items_come_back_in_order_with_their_errors() -> None:
    failed = isolate(list(range(20)), Attempts({3, 17, 4}))
    assert [(i, str(e)) for i, e in failed] == [(3, "item 3"), (4, "item 4"), (17, "item 17")]


def test_every_item_failing_is_no_item_s_fault() -> None:
    with pytest.raises(ValueError, match="item 0"):
        isolate(list(range(8)), Attempts(set(range(8))))
    assert [(i, str(e)) for i, e in isolate([5], Attempts({5}))] == [(5, "item 5")]  # one item: its own fault


def test_more_failures_than_allowed_stops_early_with_the_first_error() -> None:
    attempts = Attempts(set(range(0, 1000, 2)))
    with pytest.raises(ValueError, match="item 0"):
        isolate(list(range(1000)), attempts, max_failures=3)
    assert len(attempts.parts) < 60  # stopped after the fourth bad item, not after 500


def test_an_error_the_attempt_raises_is_not_isolated() -> None:
    def attempt(part: list[int]) -> BaseException | None:
        raise ConnectionError("database down")

    with pytest.raises(ConnectionError):
        isolate([1, 2, 3], attempt)
