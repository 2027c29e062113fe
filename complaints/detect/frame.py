"""The channels' frame: the greetings, sign-offs and agents' formulas that complaints of every category share.

"Hi, …", "您好，…", "… I expect compensation.", "…，这是第二次反映了", "I saw others posting about this. …": two users
who describe one problem in the same words but greet or sign off differently wrote the same description, and an
agent's formula says nothing of the problem. Detection compares texts (the near-identical descriptions of text
groups, the word profiles of content joins) by their skeletons with the frame trimmed from both ends.

The frame is learnt from the deployment's own complaints of the week before the hours detection evaluates (those
no incident holds: a crisis is no formula), from the first and last ENDS characters of their skeletons only: the
character 5-grams there that at least `frame_share` of them have (and FRAME_MIN), on at least FRAME_DAYS_SEEN
different days (a formula is said every day, a crisis's words for a few), spread over at least FRAME_CATEGORIES
categories with none holding half of them (a problem's words gather in its category; a greeting is in all of them).
Only the ends are trimmed: words in the middle of a description stay, however common. Skeletons have no spaces, so
a cut can fall inside a word; both texts of a comparison are cut alike.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

N = 5  # characters per gram: a two-character Chinese word or a short English word is not a frame by itself
ENDS = 40  # characters at each end of a skeleton where greetings and sign-offs are
FRAME_CATEGORIES = 5
FRAME_DAYS_SEEN = 5
FRAME_MIN = 10  # complaints a gram must be in at the least: a new deployment's first week learns no frame by chance


@dataclass(frozen=True)
class Frame:
    grams: frozenset[str] = frozenset()

    def trim(self, skeleton: str) -> str:
        """The skeleton without the frame at its start and its end."""
        if not self.grams:
            return skeleton
        i, j = 0, len(skeleton)
        while i + N <= j and skeleton[i:i + N] in self.grams:
            i += 1
        if i:
            i += N - 1  # the last frame gram's other characters
        while j - N >= i and skeleton[j - N:j] in self.grams:
            j -= 1
        if j < len(skeleton):
            j -= N - 1
        return skeleton[i:j] if i < j else ""


NO_FRAME = Frame()


def _ends(skeleton: str) -> set[str]:
    head, tail = skeleton[:ENDS], skeleton[-ENDS:]
    return {t[k:k + N] for t in (head, tail) for k in range(len(t) - N + 1)}


def learn(said: Iterable[tuple[str, date, str]], share: float | None) -> Frame:
    """The frame of these (category, day, skeleton) triples; share None: no frame."""
    if share is None:
        return NO_FRAME
    seen: Counter[str] = Counter()
    days: dict[str, int] = defaultdict(int)  # a bit per day a gram was said on (no set per gram: memory)
    by_category: dict[str, Counter[str]] = defaultdict(Counter)
    n = 0
    for category, day, skeleton in said:
        n += 1
        grams = _ends(skeleton)
        seen.update(grams)
        by_category[category].update(grams)
        bit = 1 << day.toordinal() % 64
        for g in grams:
            days[g] |= bit
    least = max(share * n, FRAME_MIN)
    common = {g for g, k in seen.items() if k >= least and days[g].bit_count() >= FRAME_DAYS_SEEN}
    spread: dict[str, list[int]] = defaultdict(list)
    for counts in by_category.values():
        for g in common & counts.keys():
            spread[g].append(counts[g])
    return Frame(frozenset(g for g in common
                           if len(spread[g]) >= FRAME_CATEGORIES and max(spread[g]) <= seen[g] / 2))
