"""Same problem or not, for two texts of one person: a small logistic-regression pair model.

Character fuzz ratios find near-copies only, and score a short text inside a longer one as a match
("借款验证码" vs "借款验证码发错了"). This model reads lexical evidence of meaning: TF-IDF cosines over
character 1-3 grams (Latin words count as characters) and words (Chinese: character bigrams), length ratio,
ratio / partial / token-sort ratios, n-gram coverage each way, the weight of the words only one text has, shared and
conflicting numbers, and which words the two texts share or do not share (an exclusive 花呗 vs 借呗 is a
different product). Dense features enter as quantile bins, so the model stays linear and its weights are
a small JSON file.

It is fitted on the first halves of the AFQMC and BQ same-meaning question pairs, with topic negatives drawn
from them and English BANKING77 intent pairs (`complaints evaluate dedupe --pairs A --pairs B --intents C
--refit`; complaints/evaluation/dedupe.py), and ships as pair_model.json.gz: no network, no training at run
time. Its threshold is the one with the best Matthews correlation, averaged over AFQMC and BQ, on 2-fold
out-of-fold predictions of those halves.
"""

from __future__ import annotations

import bisect
import gzip
import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from rapidfuzz import fuzz

from complaints.core.normalize import fold, squeeze

MODEL_PATH = Path(__file__).with_name("pair_model.json.gz")
# Long narratives: the first part says what the problem is; the cost of the ratios grows with length.
MAX_CHARS = 1000
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")
FEATURES = ("char_cosine", "word_cosine", "length_ratio", "ratio", "partial_ratio", "token_sort_ratio",
            "coverage_min", "coverage_max", "unshared_max_idf", "weighted_jaccard", "numbers_shared",
            "numbers_conflict", "cosine_x_length", "log_min_length")


_WORD_RUN_RE = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+|[^\W\d_]+|\d+", re.UNICODE)
_UNIT_RE = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\W\d_]+|\d+", re.UNICODE)


def units(text: str) -> list[str]:
    """The text as units of meaning: each Chinese character, each Latin word, each number. A Latin word plays
    the part of a Chinese character, so English texts do not look alike for sharing letters."""
    return _UNIT_RE.findall(fold(text).lower()[:MAX_CHARS])


def char_grams(u: Sequence[str]) -> list[str]:
    """Unit 1-3 grams (character 1-3 grams for Chinese)."""
    return ["\x1f".join(u[i:i + n]) for n in (1, 2, 3) for i in range(len(u) - n + 1)]


def words(text: str) -> list[str]:
    """Latin words, numbers and the character bigrams of Chinese runs (a single character alone), folded and
    lower-cased: most Chinese words are two characters, and a bigram costs nothing next to a segmenter."""
    out: list[str] = []
    for run in _WORD_RUN_RE.findall(fold(text).lower()[:MAX_CHARS]):
        if "\u3400" <= run[0] <= "\u9fff" or "\uf900" <= run[0] <= "\ufaff":
            out += [run[i:i + 2] for i in range(len(run) - 1)] or [run]
        else:
            out.append(run)
    return out


@dataclass(frozen=True)
class Idf:
    """Smoothed inverse document frequencies; terms never seen in training get the largest weight."""

    table: dict[str, float]
    unseen: float

    @classmethod
    def fit(cls, docs: Sequence[Sequence[str]], min_df: int) -> Idf:
        df: Counter[str] = Counter()
        for d in docs:
            df.update(set(d))
        n = len(docs)
        return cls({t: round(math.log((1 + n) / (1 + c)) + 1, 4) for t, c in df.items() if c >= min_df},
                   round(math.log(1 + n) + 1, 4))

    def share(self, token: str) -> float:
        """The share of documents holding the token that this IDF implies."""
        return math.exp(1 - self.weight(token))

    @classmethod
    def fit_with_prior(cls, docs: Sequence[Sequence[str]], prior: Idf, prior_docs: int) -> Idf:
        """IDF of these documents with `prior` counted as `prior_docs` documents more: a few documents (a new
        deployment's first batch, a test) weigh words as the prior does, thousands as they themselves do."""
        df: Counter[str] = Counter()
        for d in docs:
            df.update(set(d))
        total = 1 + len(docs) + prior_docs

        def idf(count: float) -> float:
            return round(math.log(total / (1 + count)) + 1, 4)

        table = {t: idf(prior_docs * prior.share(t)) for t in prior.table}
        table |= {t: idf(c + prior_docs * prior.share(t)) for t, c in df.items()}
        return cls(table, idf(prior_docs * math.exp(1 - prior.unseen)))

    def vector(self, tokens: Sequence[str]) -> dict[str, float]:
        """Unit TF-IDF vector as a dict."""
        v = {t: tf * self.table.get(t, self.unseen) for t, tf in Counter(tokens).items()}
        norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
        return {t: x / norm for t, x in v.items()}

    def weight(self, token: str) -> float:
        """IDF of one token."""
        return self.table.get(token, self.unseen)


def cosine(u: dict[str, float], v: dict[str, float]) -> float:
    """Dot product of two unit sparse vectors."""
    if len(u) > len(v):
        u, v = v, u
    return sum(x * v.get(t, 0.0) for t, x in u.items())


@dataclass(frozen=True)
class Text:
    """What the features read of one text, computed once per text."""

    squeezed: str
    length: int  # in units
    chars: dict[str, float]
    bigrams: frozenset[str]
    words: frozenset[str]
    word_vector: dict[str, float]
    joined_words: str
    numbers: frozenset[str]


@dataclass(frozen=True)
class PairModel:
    char_idf: Idf
    word_idf: Idf
    edges: list[list[float]]  # per dense feature, the inner bin edges
    bin_weights: list[list[float]]  # per dense feature, one weight per bin
    shared_weights: dict[str, float]  # a word both texts have
    unshared_weights: dict[str, float]  # a word only one of them has
    intercept: float
    threshold: float

    def text(self, raw: str) -> Text:
        """The per-text part of the features."""
        s = squeeze(raw)[:MAX_CHARS]
        u = units(raw)
        w = words(raw)
        return Text(s, len(u), self.char_idf.vector(char_grams(u)),
                    frozenset("\x1f".join(u[i:i + 2]) for i in range(len(u) - 1)) or frozenset(u) or frozenset({""}),
                    frozenset(w), self.word_idf.vector(w), " ".join(w), frozenset(_NUMBER_RE.findall(s)))

    def dense(self, a: Text, b: Text) -> list[float]:
        """The dense features of a pair, in FEATURES order."""
        la, lb = a.length, b.length
        length_ratio = min(la, lb) / max(la, lb, 1)
        char_cos = cosine(a.chars, b.chars)
        shared = len(a.bigrams & b.bigrams)
        cover = (shared / len(a.bigrams), shared / len(b.bigrams))
        union = a.words | b.words
        unshared = a.words ^ b.words
        weight = self.word_idf.weight
        return [
            char_cos,
            cosine(a.word_vector, b.word_vector),
            length_ratio,
            fuzz.ratio(a.squeezed, b.squeezed) / 100,
            fuzz.partial_ratio(a.squeezed, b.squeezed) / 100,
            fuzz.token_sort_ratio(a.joined_words, b.joined_words) / 100,
            min(cover),
            max(cover),
            max((weight(w) for w in unshared), default=0.0) / self.word_idf.unseen,
            sum(weight(w) for w in a.words & b.words) / max(sum(weight(w) for w in union), 1e-9),
            float(bool(a.numbers & b.numbers)),
            float(bool(a.numbers and b.numbers and not a.numbers & b.numbers)),
            char_cos * length_ratio,
            math.log1p(min(la, lb)),
        ]

    def probability(self, a: Text, b: Text) -> float:
        """P(same meaning) for a pair of prepared texts."""
        z = self.intercept
        for x, edges, weights in zip(self.dense(a, b), self.edges, self.bin_weights, strict=True):
            z += weights[_bin(edges, x)]
        z += sum(self.shared_weights.get(w, 0.0) for w in a.words & b.words)
        z += sum(self.unshared_weights.get(w, 0.0) for w in a.words ^ b.words)
        return 1 / (1 + math.exp(-z))

    def score(self, a: str, b: str) -> float:
        """P(same meaning) for two raw texts."""
        return self.probability(self.text(a), self.text(b))

    def to_json(self) -> dict[str, Any]:
        return {"char_idf": self.char_idf.table, "char_unseen": self.char_idf.unseen,
                "word_idf": self.word_idf.table, "word_unseen": self.word_idf.unseen, "features": FEATURES,
                "edges": self.edges, "bin_weights": self.bin_weights, "shared_weights": self.shared_weights,
                "unshared_weights": self.unshared_weights, "intercept": self.intercept, "threshold": self.threshold}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PairModel:
        if tuple(d["features"]) != FEATURES:
            raise ValueError("pair model file was fitted on other features: refit it")
        return cls(Idf(d["char_idf"], d["char_unseen"]), Idf(d["word_idf"], d["word_unseen"]), d["edges"],
                   d["bin_weights"], d["shared_weights"], d["unshared_weights"], d["intercept"], d["threshold"])

    def save(self, path: Path = MODEL_PATH) -> None:
        """Write the model as gzipped JSON (mtime 0: the same fit gives the same bytes)."""
        with gzip.GzipFile(path, "wb", mtime=0) as fh:
            fh.write(json.dumps(self.to_json(), ensure_ascii=False, sort_keys=True).encode())


def _bin(edges: list[float], x: float) -> int:
    return bisect.bisect_right(edges, x)


@lru_cache(maxsize=1)
def shipped_model() -> PairModel:
    """The pair model shipped with the package, read once per process."""
    with gzip.open(MODEL_PATH, "rt", encoding="utf-8") as fh:
        return PairModel.from_json(json.load(fh))


# --- fitting ------------------------------------------------------------------------------------


def _design(model: PairModel, pairs: Sequence[tuple[str, str]], vocab: dict[str, int]) -> Any:
    """Sparse design matrix: one-hot bins of every dense feature, then shared / unshared word indicators."""
    from scipy import sparse

    n_bins = [len(e) + 1 for e in model.edges]
    offsets = np.cumsum([0, *n_bins])
    width = int(offsets[-1])
    rows, cols = [], []
    cache: dict[str, Text] = {}
    for r, (a, b) in enumerate(pairs):
        ta = cache.get(a) or cache.setdefault(a, model.text(a))
        tb = cache.get(b) or cache.setdefault(b, model.text(b))
        for k, (x, edges) in enumerate(zip(model.dense(ta, tb), model.edges, strict=True)):
            rows.append(r)
            cols.append(int(offsets[k]) + _bin(edges, x))
        for w in ta.words & tb.words:
            if w in vocab:
                rows.append(r)
                cols.append(width + vocab[w])
        for w in ta.words ^ tb.words:
            if w in vocab:
                rows.append(r)
                cols.append(width + len(vocab) + vocab[w])
    return sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(pairs), width + 2 * len(vocab)))


def best_threshold(scores: np.ndarray, labels: np.ndarray, groups: np.ndarray | None = None) -> float:
    """The score cut with the best Matthews correlation, averaged over groups (corpora) if given, so that the
    larger corpus does not choose it alone; pairs of a negative group only train. Candidates: score quantiles."""
    from sklearn.metrics import matthews_corrcoef

    group_of = np.zeros(len(scores), dtype=int) if groups is None else np.asarray(groups)
    masks = [group_of == g for g in np.unique(group_of) if g >= 0]
    candidates = np.unique(np.round(np.quantile(scores, np.linspace(0.01, 0.99, 99)), 4))

    def mean_mcc(t: float) -> float:
        return float(np.mean([matthews_corrcoef(labels[m], scores[m] >= t) for m in masks]))

    return float(max(candidates, key=lambda t: (mean_mcc(t), -t)))


def fit(pairs: Sequence[tuple[str, str]], labels: Sequence[int], groups: Sequence[int] | None = None, *,
        bins: int = 12, min_df: int = 3, c: float = 0.1) -> PairModel:
    """Fit the pair model; the threshold comes from 2-fold out-of-fold predictions, best MCC averaged over
    `groups` (one per corpus). Deterministic."""
    from sklearn.linear_model import LogisticRegression

    texts = [t for p in pairs for t in p]
    char_idf = Idf.fit([char_grams(units(t)) for t in texts], min_df)
    word_lists = [words(t) for t in texts]
    word_idf = Idf.fit(word_lists, min_df)
    vocab_df: Counter[str] = Counter()
    for w in word_lists:
        vocab_df.update(set(w))
    vocab = {w: i for i, w in enumerate(sorted(w for w, n in vocab_df.items() if n >= min_df))}
    y = np.asarray(labels)
    bare = PairModel(char_idf, word_idf, [], [], {}, {}, 0.0, 0.5)
    cache: dict[str, Text] = {}
    dense = np.array([bare.dense(cache.get(a) or cache.setdefault(a, bare.text(a)),
                                 cache.get(b) or cache.setdefault(b, bare.text(b))) for a, b in pairs])
    edges = [sorted({round(float(e), 4) for e in np.quantile(col, np.linspace(0, 1, bins + 1)[1:-1])})
             for col in dense.T]
    shaped = PairModel(char_idf, word_idf, edges, [], {}, {}, 0.0, 0.5)
    x = _design(shaped, pairs, vocab)

    def lr() -> Any:
        return LogisticRegression(C=c, max_iter=5000)

    fold_of = np.arange(len(y)) % 2
    out_of_fold = np.zeros(len(y))
    for k in (0, 1):
        out_of_fold[fold_of != k] = lr().fit(x[fold_of == k], y[fold_of == k]).predict_proba(x[fold_of != k])[:, 1]
    threshold = best_threshold(out_of_fold, y, None if groups is None else np.asarray(groups))
    clf = lr().fit(x, y)
    w = clf.coef_[0]
    n_bins = [len(e) + 1 for e in edges]
    offsets = np.cumsum([0, *n_bins])
    width = int(offsets[-1])
    words_by_index = sorted(vocab, key=vocab.__getitem__)

    def nonzero(part: np.ndarray) -> dict[str, float]:
        return {words_by_index[i]: round(float(v), 4) for i, v in enumerate(part) if abs(v) >= 1e-4}

    return PairModel(
        char_idf, word_idf, edges,
        [[round(float(v), 4) for v in w[offsets[k]:offsets[k + 1]]] for k in range(len(edges))],
        nonzero(w[width:width + len(vocab)]), nonzero(w[width + len(vocab):]),
        round(float(clf.intercept_[0]), 4), round(threshold, 4))
