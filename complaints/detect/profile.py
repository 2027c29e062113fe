"""Whether a complaint reads like an incident's complaints rather than like its category's everyday ones.

A crisis goes on after its burst: the same problem keeps arriving, more slowly, for hours or days (hotline notes
the next morning, referrals from the regulator), too few an hour for an alarm, and in words too varied for a
signature. Such a complaint joins the active incident when its text is closer to the incident's complaints than to
the everyday complaints of the incident's categories in the week before it opened, by a margin (detection.yaml
`content_margin`). Closeness is the cosine to each side's centroid of character 2-3-gram profiles of the texts'
skeletons (no digits, punctuation or spaces; masked; at most 300 characters): both languages, no training, about
0.2 ms a text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer

# Fewer texts than these make no reliable centroid: no content joins for that incident (yet).
MIN_MEMBERS = 5
MIN_EVERYDAY = 20
SAMPLE = 500  # texts a centroid is made of, at most

_VECTORS = HashingVectorizer(analyzer="char", ngram_range=(2, 3), n_features=2**18, alternate_sign=False,
                             norm="l2")


def vectors(texts: Sequence[str]) -> sparse.csr_matrix:
    """The texts' profiles, one unit-length row each."""
    return _VECTORS.transform(list(texts))


def stack(rows: Sequence[sparse.csr_matrix]) -> sparse.csr_matrix:
    """Rows made one by one (vectors of single texts) as one matrix."""
    return sparse.vstack(list(rows), format="csr")


def _centroid(x: sparse.csr_matrix) -> np.ndarray:
    mean = np.asarray(x.mean(axis=0)).ravel()
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm else mean


def _spread(texts: Sequence[str]) -> list[str]:
    """At most SAMPLE of the texts, evenly across them (the earliest alone would be one day of a busy week)."""
    step = max(1, -(-len(texts) // SAMPLE))
    return list(texts[::step])


@dataclass(frozen=True)
class Profile:
    incident: np.ndarray  # centroid of its members
    everyday: np.ndarray  # centroid of its categories' other complaints in the week before it opened
    members: int  # how many members the incident centroid was made from
    own: float = 0.0  # the median margin of those members themselves: how distinctive the incident's words are
    categories: frozenset[str] | None = None  # the incident's categories it was made for (None: all)

    def distinctive(self, margin: float) -> bool:
        """Whether the incident's own complaints would join it by the same test (their median margin reaches it): a
        surge of ordinary complaints (a busy day) or of a problem told in every user's own words has no words of
        its own to recognise its tail by."""
        return self.own >= margin

    def margins(self, x: sparse.csr_matrix) -> np.ndarray:
        """For each row of vectors(): its cosine to the incident minus its cosine to the everyday complaints."""
        return np.asarray(x @ (self.incident - self.everyday)).ravel()


def profile(members: Sequence[str], everyday: Sequence[str], everyday_centroid: np.ndarray | None = None
            ) -> Profile | None:
    """The incident's profile (from its first SAMPLE members) against its everyday complaints; None when either
    side has too few texts."""
    if len(members) < MIN_MEMBERS or (everyday_centroid is None and len(everyday) < MIN_EVERYDAY):
        return None
    x = vectors(members[:SAMPLE])
    base = everyday_centroid if everyday_centroid is not None else _centroid(vectors(_spread(everyday)))
    made = Profile(_centroid(x), base, min(len(members), SAMPLE))
    return dataclasses.replace(made, own=float(np.median(made.margins(x))))
