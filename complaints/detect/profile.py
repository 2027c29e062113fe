"""Whether a complaint reads like an incident's complaints rather than like its category's everyday ones.

A crisis goes on after its burst: the same problem keeps arriving, more slowly, for hours or days (hotline notes
the next morning, referrals from the regulator), too few an hour for an alarm, and in words too varied for a
signature. Such a complaint joins the active incident when its text is closer to the incident's complaints than to
the everyday complaints of its category in the week before it opened (and, judged across categories, of each of the
incident's categories: everyday_sides), by a margin. Two closenesses, both cosines of character 2-3-gram profiles of
the texts' skeletons (no digits, punctuation or spaces; masked; at most 300 characters; both languages, no training,
about 0.2 ms a text):
- to each side's centroid (detection.yaml `content_margin`): a wave whose complaints share its words as a whole;
- to each side's nearest complaints (`neighbour_margin`): a crisis told in a handful of ways, each said by several
  users (an outage: "App打不开了，一直转圈", "payments keep failing with 'system busy'"), whose centroid is diffuse but
  whose tail repeats one of its ways more closely than any everyday complaint does. The incident's side is its
  burst (its complaints received before its first hours after detection were over): a later surge of its category
  may bring another problem's first complaints in, and those must not draw the rest of that problem after them.
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
# Texts a centroid is made of, at most; the nearest-complaints test's everyday side is the same sample. Its size
# sets how close an everyday copy of a phrase must be found (README, "A crisis's tail joins by its words").
SAMPLE = 500
# A complaint reads like a side's nearest complaints by its mean cosine to the closest this many: two, so that one
# ordinary complaint an incident holds (a surge takes some) does not draw its everyday kind in after it.
NEIGHBOURS = 2
# A burst member's own text is no neighbour of it: there must be NEIGHBOURS others.
assert MIN_MEMBERS > NEIGHBOURS

_VECTORS = HashingVectorizer(analyzer="char", ngram_range=(2, 3), n_features=2**18, alternate_sign=False,
                             norm="l2")


def vectors(texts: Sequence[str]) -> sparse.csr_matrix:
    """The texts' profiles, one unit-length row each."""
    return _VECTORS.transform(list(texts))


def _centroid(x: sparse.csr_matrix) -> sparse.csr_matrix:
    """The unit-length mean of the rows, as one sparse row: only the n-grams its texts have (500 texts: some 30,000
    of 2^18, 0.3 MB where a dense centroid holds 2 MB; an incident judged across categories keeps several per
    category). Made dense only for a product (rows())."""
    total = sparse.csr_matrix(np.ones((1, x.shape[0]))) @ x
    norm = float(np.sqrt(total.multiply(total).sum()))
    return sparse.csr_matrix(total / norm if norm else total)


def _columns(rows: sparse.csr_matrix) -> np.ndarray:
    """Centroid rows as dense columns, for one product with vectors() (a sparse product costs several times more)."""
    return rows.toarray().T


def spread(texts: Sequence[str]) -> list[str]:
    """At most SAMPLE of the texts, evenly across them (the earliest alone would be one day of a busy week)."""
    step = max(1, -(-len(texts) // SAMPLE))
    return list(texts[::step])


def _nearest(similarities: sparse.csr_matrix | np.ndarray) -> np.ndarray:
    """Per row: the mean of its NEIGHBOURS highest similarities."""
    dense = similarities.toarray() if sparse.issparse(similarities) else similarities
    return np.sort(dense, axis=1)[:, -NEIGHBOURS:].mean(axis=1)


@dataclass(frozen=True)
class Profile:
    incident: sparse.csr_matrix  # centroid of its members (one sparse row)
    # One row per everyday side (a category's other complaints in the week before it opened): the centroids a
    # complaint must be closer to the incident than to, each of them (a complaint's cosines in one product).
    everyday: sparse.csr_matrix
    members: int  # how many members the incident centroid was made from
    burst: int  # how many of them its burst had (its profile is made again when that changes)
    burst_x: sparse.csr_matrix | None  # the profiles of its members of its first hours (None: too few)
    everyday_x: sparse.csr_matrix  # the everyday complaints' profiles (a sample across the week)
    # The median margins of the members themselves, by each closeness (a member is not its own neighbour): how
    # distinctive the incident's words are.
    own: float = 0.0
    own_near: float = 0.0

    def tests(self, margin: float | None, neighbour_margin: float | None) -> tuple[bool, bool]:
        """Which tests (centroids, nearest complaints) the incident's own complaints would pass (their median margin
        reaches it): a surge of ordinary complaints (a busy day) or of a problem told in every user's own words has
        no words of its own to recognise its tail by."""
        return (margin is not None and self.own >= margin,
                neighbour_margin is not None and self.burst_x is not None and self.own_near >= neighbour_margin)

    def distinctive(self, margin: float | None, neighbour_margin: float | None) -> bool:
        """Whether its words are distinctive by either test."""
        return any(self.tests(margin, neighbour_margin))

    def margins(self, x: sparse.csr_matrix) -> np.ndarray:
        """For each row of vectors(): its cosine to the incident minus its cosine to the closest everyday side."""
        return (x @ _columns(self.incident)).ravel() - (x @ _columns(self.everyday)).max(axis=1)

    def near_margins(self, x: sparse.csr_matrix) -> np.ndarray:
        """For each row of vectors(): its closeness to the nearest members of the incident's burst minus to the
        nearest everyday complaints."""
        assert self.burst_x is not None
        return _nearest(x @ self.burst_x.T) - _nearest(x @ self.everyday_x.T)

    def excess(self, x: sparse.csr_matrix, margin: float | None, neighbour_margin: float | None) -> np.ndarray:
        """For each row of vectors(): how far above its margin it passes the better of the tests the incident is
        distinctive by (>= 0: it reads like the incident); -inf where neither applies. The two tests' scales
        differ, so among incidents this ranks by margin passed, not by closeness."""
        by_centroid, by_nearest = self.tests(margin, neighbour_margin)
        out = np.full(x.shape[0], -np.inf)
        if by_centroid and margin is not None:
            out = np.maximum(out, self.margins(x) - margin)
        if by_nearest and neighbour_margin is not None:
            out = np.maximum(out, self.near_margins(x) - neighbour_margin)
        return out


def everyday_sides(samples: Sequence[sparse.csr_matrix]) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """The everyday side of a profile from the vectors() of one or more everyday samples (spread()): their centroids,
    one row each, and all their complaints as one matrix (the nearest everyday ones are looked for among all)."""
    return sparse.vstack([_centroid(x) for x in samples], format="csr"), sparse.vstack(list(samples), format="csr")


def profile(members: sparse.csr_matrix, burst: sparse.csr_matrix | None,
            everyday: tuple[sparse.csr_matrix, sparse.csr_matrix]) -> Profile | None:
    """The incident's profile from the vectors() of its first SAMPLE members, of those of its first hours (None:
    too few) and its everyday sides (everyday_sides); None when either side has too few texts."""
    centroids, everyday_x = everyday
    if members.shape[0] < MIN_MEMBERS or everyday_x.shape[0] < MIN_EVERYDAY:
        return None
    made = Profile(_centroid(members), centroids, members.shape[0],
                   burst.shape[0] if burst is not None else 0, None, everyday_x)
    made = dataclasses.replace(made, own=float(np.median(made.margins(members))))
    if burst is None or burst.shape[0] < MIN_MEMBERS:
        return made
    among = (burst @ burst.T).toarray()
    np.fill_diagonal(among, -np.inf)  # its own text is no neighbour
    return dataclasses.replace(made, burst_x=burst,
                               own_near=float(np.median(_nearest(among) - _nearest(burst @ everyday_x.T))))
