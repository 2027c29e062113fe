"""The adversarial stream and its scorecard: the truth is what the stream says, and the scorer counts it right."""

import itertools
from datetime import datetime, timedelta
from types import SimpleNamespace

from complaints.evaluation.stream import _duplicate_figures, _incident_figures, generate


def test_stream_has_its_traps() -> None:
    s = generate(seed=3, per_day=60, weeks=5)
    by_problem: dict[tuple[int, int], list] = {}
    for r in s.rows:
        by_problem.setdefault((r.person, r.problem), []).append(r)
    resubmissions = [rows for rows in by_problem.values() if len(rows) > 1]
    across = [rows for rows in resubmissions if rows[0].channel != rows[1].channel]
    assert across and all(rows[0].text != rows[1].text for rows in across)  # paraphrases, not copies
    # The same words from one person within a week are that problem told again, never a new problem.
    said: dict[tuple[int, str], list] = {}
    for r in s.rows:
        said.setdefault((r.person, r.text), []).append(r)
    for rows in said.values():
        for a, b in itertools.pairwise(rows):
            assert b.at - a.at > timedelta(days=7) or a.problem == b.problem
    outage = [r for r in s.rows if r.crisis == "outage"]
    assert {r.channel for r in outage} == {"app", "hotline", "regulator"}
    assert len({r.category for r in outage}) >= 3 and len({r.person for r in outage}) == len(outage)


def test_scorer_counts_links_and_incidents() -> None:
    truth = {
        "a1": {"person": 1, "problem": 10, "crisis": None, "channel": "app", "ids": {"ref:W1"}},
        "a2": {"person": 1, "problem": 10, "crisis": None, "channel": "hotline", "ids": {"ref:W1", "phone:1"}},
        "b1": {"person": 2, "problem": 20, "crisis": "outage", "channel": "regulator", "ids": set()},
        "c1": {"person": 3, "problem": 30, "crisis": "outage", "channel": "regulator", "ids": set()},
        "d1": {"person": 4, "problem": 40, "crisis": None, "channel": "app", "ids": {"mail:x"}},
        "d2": {"person": 4, "problem": 40, "crisis": None, "channel": "hotline", "ids": {"phone:4"}},
        "b2": {"person": 2, "problem": 20, "crisis": "outage", "channel": "app", "ids": {"ref:W2"}},
    }
    ids = {n: k for n, k in enumerate(truth, start=1)}
    at = {ext: datetime(2026, 10, 5, hour) for hour, ext in enumerate(truth)}
    number = {ext: n for n, ext in ids.items()}
    row = lambda ext, dup=None, inc=None: SimpleNamespace(id=number[ext], external_id=ext,  # noqa: E731
                                                          duplicate_of_id=dup, incident_id=inc, received_at=at[ext])
    # a2 -> a1 right; c1 -> b1 wrong (two consumers); d2 is a resubmission nobody can tie to d1 (no shared id).
    # b2 is b1 told again: linked, it is in b1's incident through b1 (its user hears that incident's news).
    # Read in another order than they arrived (a source read later can hold the earlier complaint): the first to
    # arrive is the canonical one, so a2 is the resubmission to find.
    rows = [row("a2", 1), row("a1"), row("b1", inc=7), row("c1", 3, inc=7), row("d1"), row("d2", inc=8), row("b2", 3)]
    figures = _duplicate_figures(rows, ids, truth)
    assert (figures["predicted_links"], figures["precision"]) == (3, 0.667)
    assert (figures["findable_resubmissions"], figures["recall"]) == (1, 1.0)
    assert figures["resubmissions_without_shared_identifier"] == 2
    assert figures["regulator_marked_duplicate"] == "1 of 2"
    incidents = _incident_figures(rows, truth, weeks=1)
    assert (incidents["incidents"], incidents["false"]) == (2, 1)
    assert incidents["outage"] == {"complaints": 3, "incidents_holding_it": 1, "largest_share": 1.0, "purity": 1.0}
