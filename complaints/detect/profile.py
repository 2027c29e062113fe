"""Whether a complaint reads like an incident's complaints rather than like its category's everyday ones.

A crisis goes on after its burst: the same problem keeps arriving, more slowly, for hours or days (hotline notes
the next morning, referrals from the regulator), too few an hour for an alarm, and in words too varied for a
signature. Such a complaint joins the active incident when its text is closer to the incident's complaints than to
the everyday complaints of the incident's categories in the week before it opened, by a margin (detection.yaml
`content_margin`). Closeness is the cosine to each side's centroid of character 2-3-gram profiles of the texts'
skeletons (no digits, punctuation or spaces; masked): both languages, no training, a few microseconds a text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer

# Fewer texts than these make no reliable centroid: no content joins for that incident (yet).
MIN_MEMBERS = 5
MIN_EVERYDAY = 20
SAMPLE = 500  # texts a centroid is made of, at most (the earliest: stable as the incident grows)

_VECTORS = HashingVectorizer(analyzer="char", ngram_range=(2, 3), n_features=2**18, alternate_sign=False,
                             norm="l2")


def centroid(texts: Sequence[str]) -> np.ndarray:
    """The unit-length mean of the texts' profiles."""
    mean = np.asarray(_VECTORS.transform(list(texts[:SAMPLE])).mean(axis=0)).ravel()
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm else mean


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

    def margins(self, texts: Sequence[str]) -> np.ndarray:
        """For each text: its cosine to the incident minus its cosine to the everyday complaints."""
        if not texts:
            return np.zeros(0)
        x = _VECTORS.transform(list(texts))
        return np.asarray(x @ self.incident - x @ self.everyday).ravel()


def profile(members: Sequence[str], everyday: Sequence[str], everyday_centroid: np.ndarray | None = None
            ) -> Profile | None:
    """The incident's profile against its everyday complaints; None when either side has too few texts."""
    if len(members) < MIN_MEMBERS or (everyday_centroid is None and len(everyday) < MIN_EVERYDAY):
        return None
    made = Profile(centroid(members), everyday_centroid if everyday_centroid is not None else centroid(everyday),
                   len(members))
    return dataclasses.replace(made, own=float(np.median(made.margins(members[:SAMPLE]))))
