"""Measure the category model on labelled data: accuracy, macro-F1, per-class scores, confused pairs, baselines."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support
from sklearn.model_selection import train_test_split

from complaints.process.classifier import DEFAULT_PARAMS, ModelParams, fit, predict, prepare

_WORD_RE = re.compile(r"[a-z]{3,}")
_STOP = frozenset({"the", "and", "for", "with", "not", "was", "are", "you", "your", "have", "has", "from", "when",
                   "other", "about", "what", "can", "did"})


def scores(y_true: list[str], y_pred: list[str], top_confusions: int = 10) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1 and the most frequent confusions, rounded."""
    labels = sorted(set(y_true) | set(y_pred))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    per_class = {
        label: {"precision": round(float(p), 4), "recall": round(float(r), 4), "f1": round(float(f), 4),
                "support": int(n)}
        for label, p, r, f, n in zip(labels, precision, recall, f1, support, strict=True)
        if n  # labels only ever predicted carry no recall; they still count in macro-F1 below via f1_score
    }
    confused = Counter((t, p) for t, p in zip(y_true, y_pred, strict=True) if t != p)
    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        # Macro over the labels present in the test set, as usually reported.
        "macro_f1": round(float(f1_score(y_true, y_pred, labels=sorted(set(y_true)), average="macro",
                                          zero_division=0)), 4),
        "per_class": per_class,
        "confusions": [{"true": t, "predicted": p, "count": n} for (t, p), n in confused.most_common(top_confusions)],
    }


def split(frame: pd.DataFrame, *, split_column: str | None = None, train_value: str = "train",
          test_value: str = "test", test_fraction: float = 0.25) -> tuple[pd.DataFrame, pd.DataFrame]:
    """By a split column's values, else a seeded random split (stratified where every class has 2 rows)."""
    if split_column:
        if split_column not in frame.columns:
            raise ValueError(f"no split column {split_column!r}; columns are {list(frame.columns)}")
        values = frame[split_column].astype(str)
        return frame[values == train_value], frame[values == test_value]
    counts = frame.label.value_counts()
    stratify = frame.label if counts.min() >= 2 else None
    train, test = train_test_split(frame, test_size=test_fraction, random_state=0, stratify=stratify)
    return train, test


def label_keyword_baseline(train_labels: list[str], texts: list[str]) -> list[str]:
    """Predict the label whose name shares most words with the text; no overlap: the majority label.
    Stands for hand-written keyword rules built from the label names alone."""
    majority = Counter(train_labels).most_common(1)[0][0]
    # Sorted: ties go to the same label in every process (set order follows the string hash seed).
    vocab = {label: set(_WORD_RE.findall(prepare(label))) - _STOP for label in sorted(set(train_labels))}
    out = []
    for text in texts:
        words = set(_WORD_RE.findall(prepare(text)))
        best = max(vocab, key=lambda lab: (len(vocab[lab] & words), lab == majority))
        out.append(best if vocab[best] & words else majority)
    return out


def evaluate(train: pd.DataFrame, test: pd.DataFrame, params: ModelParams = DEFAULT_PARAMS,
             baselines: bool = False) -> dict[str, Any]:
    """Train exactly as `complaints train` does on `train`, score on `test` (frames with text, label)."""
    pipeline = fit(train.text.tolist(), train.label.tolist(), params)
    predicted, _ = predict(pipeline, test.text.tolist())
    y_true = test.label.tolist()
    result = scores(y_true, predicted) | {"n_train": len(train), "n_test": len(test),
                                          "n_labels": train.label.nunique()}
    if baselines:
        majority = Counter(train.label).most_common(1)[0][0]
        result["baselines"] = {
            "majority_class": {k: v for k, v in scores(y_true, [majority] * len(y_true)).items()
                               if k in ("accuracy", "macro_f1")},
            "label_keywords": {k: v for k, v in scores(y_true, label_keyword_baseline(
                train.label.tolist(), test.text.tolist())).items() if k in ("accuracy", "macro_f1")},
        }
    return result
