"""Measure the category model on labelled data: accuracy, macro-F1, per-class scores, confused pairs, baselines."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from complaints.core.config import TaxonomyConfig
from complaints.process.classifier import DEFAULT_PARAMS, ModelParams, fit, predict, prepare, scores

_WORD_RE = re.compile(r"[a-z]{3,}")
_STOP = frozenset({"the", "and", "for", "with", "not", "was", "are", "you", "your", "have", "has", "from", "when",
                   "other", "about", "what", "can", "did"})


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


# --- cold start: the seed model and keywords alone on data written independently of this codebase ----------

HELDOUT_PATH = Path(__file__).with_name("data") / "classify_heldout.tsv"

# BANKING77 intents whose meaning is one of our categories; the other intents (card delivery, exchange rates,
# top-up how-tos, ...) have no clear counterpart and are left out.
BANKING77_MAP: dict[str, str] = {
    **dict.fromkeys(("pending_transfer", "transfer_not_received_by_recipient",
                     "balance_not_updated_after_bank_transfer", "balance_not_updated_after_cheque_or_cash_deposit",
                     "pending_cash_withdrawal", "pending_top_up",
                     "failed_transfer", "transfer_timing"), "transfer_delay"),
    **dict.fromkeys(("card_payment_fee_charged", "transfer_fee_charged", "top_up_by_bank_transfer_charge",
                     "top_up_by_card_charge", "cash_withdrawal_charge", "exchange_charge"), "fees_pricing"),
    **dict.fromkeys(("card_payment_not_recognised", "cash_withdrawal_not_recognised",
                     "direct_debit_payment_not_recognised", "compromised_card", "lost_or_stolen_card",
                     "lost_or_stolen_phone"), "account_security"),
    **dict.fromkeys(("request_refund", "Refund_not_showing_up"), "refund_after_sales"),
    **dict.fromkeys(("top_up_limits", "disposable_card_limits", "beneficiary_not_allowed"), "feature_limit"),
    **dict.fromkeys(("why_verify_identity", "unable_to_verify_identity", "verify_my_identity",
                     "verify_source_of_funds"), "compliance"),
    "virtual_card_not_working": "system_fault",
}

# CFPB issues (or, first, sub-issues) with a clear counterpart; credit reporting, debt collection and loan
# servicing issues have none and are left out, and so is "Improper use of your report" (unrecognised credit
# inquiries: privacy or identity theft, the narratives do not say which).
CFPB_MAP: dict[str, str] = {
    "Fraud or scam": "account_security",
    "Unauthorized transactions or other transaction problem": "account_security",
    "Card was charged for something you did not purchase with the card": "account_security",
    "Credit card company isn't resolving a dispute about a purchase on your statement": "refund_after_sales",
    "Charged fees or interest you didn't expect": "fees_pricing",
    "Fees or interest": "fees_pricing",
    "Unexpected or other fees": "fees_pricing",
    "Overdrafts and overdraft fees": "fees_pricing",
    "Non-sufficient funds and associated fees": "fees_pricing",
    "Money was not available when promised": "transfer_delay",
    "Advertising and marketing, including promotional offers": "marketing",
    "Problem with customer service": "customer_service",
    "Threatened to contact someone or share information improperly": "privacy",
    "Improper contact or sharing of info": "privacy",
}


def load_banking77(path: Path) -> pd.DataFrame:
    """BANKING77 queries of the mapped intents, as text, label (our category)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame = frame[frame.category.isin(BANKING77_MAP)]
    return pd.DataFrame({"text": frame.text, "label": frame.category.map(BANKING77_MAP)}).reset_index(drop=True)


def load_cfpb(path: Path) -> pd.DataFrame:
    """CFPB narratives whose sub-issue or issue maps to a category, as text, label."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame = frame[frame["Consumer complaint narrative"].str.strip() != ""]
    label = frame["Sub-issue"].map(CFPB_MAP).fillna(frame["Issue"].map(CFPB_MAP))
    keep = label.notna()
    return pd.DataFrame({"text": frame.loc[keep, "Consumer complaint narrative"],
                         "label": label[keep]}).reset_index(drop=True)


def load_heldout(path: Path = HELDOUT_PATH) -> pd.DataFrame:
    """Our own held-out set (text, label, lang), written apart from the seed set and never trained on."""
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, quoting=3)


def _figures(y_true: list[str], y_pred: list[str], confidence: list[float], fallback: str,
             threshold: float) -> dict[str, Any]:
    """Accuracy, macro-F1, share fallen to the fallback, and how honest the confidence is."""
    result = scores(y_true, y_pred)
    right = np.array([t == p for t, p in zip(y_true, y_pred, strict=True)], dtype=float)
    conf = np.asarray(confidence, dtype=float)
    confident = conf >= threshold
    out = {k: result[k] for k in ("accuracy", "macro_f1", "per_class", "confusions")} | {
        "n": len(y_true),
        "other_share": round(float(np.mean([p == fallback for p in y_pred])), 4),
        "review_share": round(float(np.mean(~confident)), 4),
        "accuracy_not_reviewed": round(float(right[confident].mean()), 4) if confident.any() else None,
        "mean_confidence": round(float(conf.mean()), 4),
    }
    if conf.size:
        out["calibration_error"] = round(expected_calibration_error(right, conf), 4)
    return out


def expected_calibration_error(right: np.ndarray, confidence: np.ndarray, bins: int = 10) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by their counts."""
    edges = np.minimum((confidence * bins).astype(int), bins - 1)
    return float(sum(abs(right[edges == b].mean() - confidence[edges == b].mean()) * (edges == b).sum()
                     for b in range(bins) if (edges == b).any()) / len(right))


def cold_start(datasets: dict[str, pd.DataFrame], taxonomy: TaxonomyConfig) -> dict[str, dict[str, Any]]:
    """A fresh install's classification of each labelled frame: the seed model and keyword rules alone,
    as `classify` decides them (rule overrides included; keyword ties without a model go to the fallback)."""
    from complaints.process.classifier import seed_examples, seed_pipeline
    from complaints.process.classify import KeywordClassifier, decide

    seeded = seed_pipeline(taxonomy.categories)
    if seeded is None:
        raise ValueError("the seed set covers fewer than 2 of the taxonomy's categories")
    rules = KeywordClassifier(taxonomy)
    threshold = taxonomy.classifier.review_threshold
    out: dict[str, dict[str, Any]] = {}
    for name, frame in datasets.items():
        texts, y_true = frame.text.tolist(), frame.label.tolist()
        model = decide(taxonomy, rules, texts, seeded[1])
        keywords = decide(taxonomy, rules, texts, None)
        out[name] = {
            "seed_model": _figures(y_true, [d.category for d in model], [d.confidence for d in model],
                                   taxonomy.fallback, threshold),
            "keywords": _figures(y_true, [d.category for d in keywords], [d.confidence for d in keywords],
                                 taxonomy.fallback, threshold),
        }
        if len(frame) >= 2 * taxonomy.classifier.self_train_from > 0:
            out[f"{name}/self-trained"] = _self_trained(frame, taxonomy, rules, seed_examples(taxonomy.categories),
                                                        seeded[1])
        if "lang" in frame.columns:
            for lang in sorted(frame.lang.unique()):
                idx = [i for i, v in enumerate(frame.lang) if v == lang]
                out[f"{name}/{lang}"] = {
                    "seed_model": _figures([y_true[i] for i in idx], [model[i].category for i in idx],
                                           [model[i].confidence for i in idx], taxonomy.fallback, threshold),
                    "keywords": _figures([y_true[i] for i in idx], [keywords[i].category for i in idx],
                                         [keywords[i].confidence for i in idx], taxonomy.fallback, threshold),
                }
    return out


def _self_trained(frame: pd.DataFrame, taxonomy: TaxonomyConfig, rules: Any, seed: pd.DataFrame,
                  pipeline: Any) -> dict[str, dict[str, Any]]:
    """Self-training as the seed model does it, measured fairly: one half of the frame is the unlabelled stream
    (its confident classifications join the seed set), the other half is scored, by the seed model and by the
    retrained one (rows split by a hash of the text)."""
    from complaints.process.classify import decide

    stream = frame.text.map(lambda t: int(hashlib.sha256(t.encode()).hexdigest(), 16) % 2 == 0)
    pool, scored = frame[stream], frame[~stream]
    threshold = taxonomy.classifier.review_threshold
    confident = [(t, d.category) for t, d in zip(pool.text, decide(taxonomy, rules, pool.text.tolist(), pipeline),
                                                strict=True)
                 if d.source == "model" and d.confidence >= taxonomy.classifier.self_train_confidence]
    retrained = fit(seed.text.tolist() + [t for t, _ in confident], seed.label.tolist() + [c for _, c in confident])
    out: dict[str, dict[str, Any]] = {}
    for which, model in (("seed_model", pipeline), ("seed+self", retrained)):
        ds = decide(taxonomy, rules, scored.text.tolist(), model)
        out[which] = _figures(scored.label.tolist(), [d.category for d in ds], [d.confidence for d in ds],
                              taxonomy.fallback, threshold) | {"n_stream": len(pool), "n_pseudo": len(confident)}
    return out
