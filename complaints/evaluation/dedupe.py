"""Measure near-duplicate detection: injected resubmissions (synthetic, known truth) and sentence-pair corpora.

The pair corpora (AFQMC, BQ) label "same meaning", not "same complaint resubmitted": they measure the text
similarity dedupe falls back on inside one person's complaints (the pair model) against two plain baselines,
each on the dev half of a deterministic split (the model and the baselines' thresholds see the train half
only). The real CFPB sample measures the opposite error: thousands of different consumers, no person key.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import tempfile
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rapidfuzz import fuzz
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import matthews_corrcoef, precision_score, recall_score
from sqlalchemy import create_engine, func, select, update
from sqlalchemy.orm import Session

from complaints.core.config import AppConfig, DedupeSettings, FileSourceSpec
from complaints.core.db import get_engine, migrate, session_scope
from complaints.core.models import Base, Complaint, ComplaintSimilarity, DuplicateLink
from complaints.core.normalize import fold, squeeze, text_hash
from complaints.ingest.store import ingest_source
from complaints.process.dedupe import PRIOR_DOCUMENTS, DedupeSummary, dedupe_ids
from complaints.process.pairs import Idf, PairModel, best_threshold, cosine, fit, shipped_model, words

T0 = datetime(2026, 11, 1, tzinfo=UTC)
ZH = [
    "提现{amt}元到{bank}一直未到账，已经{d}天了，订单号{order}，请尽快处理",
    "{merchant}扣了我{amt}元手续费，我从来没有同意过，要求退还",
    "客服态度很差，我打了{d}次电话都没人处理{merchant}的退款问题",
    "我的账户被盗刷{amt}元，不是我本人操作，交易单号{order}",
    "在{merchant}买的东西申请退款{d}天了还没退回，订单{order}",
    "花呗额度被降到{amt}元，没有任何通知，{merchant}付款失败",
]
EN = [
    "I withdrew ${amt} to my {bank} account {d} days ago and it still has not arrived. Reference {order}.",
    "You charged me a ${amt} fee at {merchant} that I never agreed to, please refund it.",
    "There is an unauthorized payment of ${amt} to {merchant} on my account, I did not make it.",
    "My refund from {merchant} for order {order} is still not received after {d} days.",
]
BANKS = ["招商银行", "工商银行", "建设银行", "Chase", "Wells Fargo", "农业银行"]
MERCHANTS = ["快捷支付", "美团", "京东商城", "拼多多", "Amazon", "eBay", "滴滴出行", "携程"]
CHANNELS = ["app", "hotline", "email", "regulator", "web"]


def _body(rng: random.Random) -> str:
    template = rng.choice(ZH if rng.random() < 0.6 else EN)
    return template.format(amt=rng.randint(50, 20000), bank=rng.choice(BANKS), d=rng.randint(2, 9),
                           merchant=rng.choice(MERCHANTS), order=f"{rng.randint(10**9, 10**10)}")


def _variant(body: str, rng: random.Random) -> str:
    """A resubmission as users write it: other punctuation or width, a prefix or suffix, a word changed."""
    edits = [
        lambda t: t.replace("，", ",").replace("。", ".").replace(",", "，"),
        lambda t: "".join(chr(ord(ch) + 0xFEE0) if ch.isdigit() else ch for ch in t),  # full-width digits
        lambda t: rng.choice(["再次投诉：", "第二次反映：", "Again: ", "Follow-up: "]) + t,
        lambda t: t + rng.choice(["请尽快回复！", "！！", " Please respond ASAP.", " Still waiting."]),
        lambda t: t.replace("天", "多天", 1).replace("days", "whole days", 1),
    ]
    for edit in rng.sample(edits, rng.randint(1, 3)):
        body = edit(body)
    return body


def synthetic(
    n: int, seed: int = 7, dup_rate: float = 0.2, keyless_rate: float = 0.1, start: datetime = T0,
    span: timedelta = timedelta(days=30),
) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """`n` complaint rows (dicts for Complaint) and the truth {row index of a resubmission: its original}.

    Also holds the hard negatives: other users with the same template, the same user with another problem,
    and keyless posts in other sources.
    """
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    truth: dict[int, int] = {}
    step = span / max(n, 1)
    while len(rows) < n:
        i = len(rows)
        at = start + step * i
        keyless = rng.random() < keyless_rate
        user = None if keyless else f"u{rng.randint(0, n // 2)}"
        source = rng.choice(["weibo", "heimao"]) if keyless else rng.choice(CHANNELS)
        body = _body(rng)
        rows.append(_row(i, body, at, user, source))
        if rng.random() < dup_rate and len(rows) < n:
            later = at + timedelta(hours=rng.uniform(0.5, 40 if keyless else 24 * 6))
            rows.append(_row(len(rows), _variant(body, rng), later, user,
                             source if keyless else rng.choice(CHANNELS)))
            truth[len(rows) - 1] = i
    return rows, truth


def _row(i: int, body: str, at: datetime, user: str | None, source: str) -> dict[str, Any]:
    return {"source": source, "external_id": f"S{i}", "received_at": at, "channel": source, "contact_key": user,
            "body": fold(body), "text_hash": text_hash(body), "language": "zh", "raw": {}, "channels": [source],
            "first_seen_at": at, "last_seen_at": at, "severity_reasons": [], "status": "new"}


def evaluate_injected(cfg: DedupeSettings, n: int = 5000, seed: int = 7) -> dict[str, Any]:
    """Run incremental dedupe (batches in time order) over synthetic data; precision/recall vs the truth."""
    rows, truth = synthetic(n, seed)
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        objects = [Complaint(**r) for r in rows]
        session.add_all(objects)
        session.flush()
        batch = max(n // 5, 1)
        ordered = sorted(objects, key=lambda c: c.received_at)
        for k in range(0, len(ordered), batch):
            chunk = ordered[k:k + batch]
            dedupe_ids(session, [c.id for c in chunk], cfg)
            session.expire_all()
            for c in chunk:
                c.processed_at = c.received_at
            session.flush()
        index = {c.id: i for i, c in enumerate(objects)}
        found = {index[lk.complaint_id]: index[lk.canonical_id]
                 for lk in session.execute(select(DuplicateLink)).scalars()}
    engine.dispose()
    # A resubmission linked to the original (or to another resubmission of it) is right.
    root = {i: truth.get(i, i) for i in range(len(rows))}
    correct = sum(1 for d, c in found.items() if d in truth and root[c] == truth[d])
    # Keyless reposts carry no evidence of one person here: dedupe records them as similar, by design.
    keyed = {d for d in truth if rows[d]["contact_key"]}
    keyed_correct = sum(1 for d, c in found.items() if d in keyed and root[c] == truth[d])
    return {"complaints": len(rows), "injected": len(truth), "linked": len(found),
            "precision": round(correct / len(found), 4) if found else 1.0,
            "recall": round(correct / len(truth), 4) if truth else 1.0,
            "keyed_recall": round(keyed_correct / len(keyed), 4) if keyed else 1.0}


def pair_half(sentence1: str, sentence2: str) -> int:
    """0 (train) or 1 (dev) for a pair, by a salted hash: deterministic, and independent of the parity hash
    that split the shared data from its hold-out."""
    return hashlib.sha256(f"dedupe-pairs\t{sentence1}\t{sentence2}".encode()).digest()[0] % 2


def read_pairs(path: Path) -> pd.DataFrame:
    """A sentence-pair CSV (sentence1, sentence2, label) with its `half` column."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame["label"] = frame.label.astype(int)
    frame["half"] = [pair_half(a, b) for a, b in zip(frame.sentence1, frame.sentence2, strict=True)]
    return frame


TRAIN_ONLY = -1  # a group of training pairs that takes no part in choosing the threshold


def _stable(text: str) -> str:
    return hashlib.sha256(f"dedupe-pairs\t{text}".encode()).hexdigest()


def topic_negatives(frame: pd.DataFrame) -> pd.DataFrame:
    """Pairs of questions from different rows (another topic, almost always): the same person writing about
    two problems looks like this, and the corpora hold few such pairs. Deterministic."""
    first = sorted(set(frame.sentence1), key=_stable)
    second = sorted(set(frame.sentence2), key=lambda t: _stable(t[::-1]))
    n = min(len(first), len(second)) // 4
    return pd.DataFrame({"sentence1": first[:n], "sentence2": second[:n], "label": 0})


def intent_pairs(path: Path) -> pd.DataFrame:
    """English pairs from an intent-labelled query set (text, category; BANKING77): a query and the next one of
    its intent (same problem), and the next one of another intent (different problem), on the train half."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame = frame[[pair_half(t, "") == 0 for t in frame.text]]
    frame = frame.assign(key=[_stable(t) for t in frame.text]).sort_values("key")
    rows: list[tuple[str, str, int]] = []
    by_intent = {c: g.text.tolist() for c, g in frame.groupby("category", sort=True)}
    intents = sorted(by_intent)
    for k, intent in enumerate(intents):
        # The next intent by name is often a neighbour (card_arrival, card_delivery_estimate): a hard negative.
        texts, others = by_intent[intent], by_intent[intents[(k + 1) % len(intents)]]
        rows += [(a, b, 1) for a, b in itertools.pairwise(texts)]
        rows += [(a, b, 0) for a, b in zip(texts, others, strict=False)]
    return pd.DataFrame(rows, columns=["sentence1", "sentence2", "label"])


def fit_pair_model(paths: list[Path], intents: Path | None = None) -> PairModel:
    """Fit the pair model on the train halves of these corpora (the threshold balances them), with topic
    negatives drawn from them and, if given, English intent pairs (training only)."""
    frames = [read_pairs(p) for p in paths]
    parts = [f[f.half == 0].assign(group=k) for k, f in enumerate(frames)]
    parts += [topic_negatives(f[f.half == 0]).assign(group=TRAIN_ONLY) for f in frames]
    if intents is not None:
        parts.append(intent_pairs(intents).assign(group=TRAIN_ONLY))
    train = pd.concat(parts, ignore_index=True)
    return fit(list(zip(train.sentence1, train.sentence2, strict=True)), train.label.tolist(), train.group.tolist())


def _figures(predicted: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float]:
    return {"mcc": round(float(matthews_corrcoef(labels, predicted)), 4),
            "precision": round(float(precision_score(labels, predicted, zero_division=0)), 4),
            "recall": round(float(recall_score(labels, predicted, zero_division=0)), 4),
            "threshold": round(threshold, 4)}


def evaluate_pairs(path: Path, cfg: DedupeSettings, model: PairModel | None = None) -> dict[str, Any]:
    """On the dev half of a pair corpus: the pair model dedupe uses at its threshold, and two baselines with the
    threshold that did best on the train half: TF-IDF character 1-3 gram cosine (IDF from the train half) and
    the rapidfuzz ratio. Matthews correlation, precision, recall each."""
    model = model or shipped_model()
    frame = read_pairs(path)
    train, dev = frame[frame.half == 0], frame[frame.half == 1]
    labels = dev.label.to_numpy()
    threshold = model.threshold if cfg.pair_threshold is None else cfg.pair_threshold
    scores = np.array([model.score(a, b) for a, b in zip(dev.sentence1, dev.sentence2, strict=True)])
    # The whole decision for a same-person pair the signature cannot settle: the pair model and the content
    # cosine (word weights from the corpus's train half, with the prior dedupe uses).
    idf = Idf.fit_with_prior([words(t) for t in (*train.sentence1, *train.sentence2)], model.word_idf,
                             PRIOR_DOCUMENTS)
    content = np.array([cosine(idf.vector(words(a)), idf.vector(words(b)))
                        for a, b in zip(dev.sentence1, dev.sentence2, strict=True)])
    decision = (scores >= threshold) & (content >= cfg.content_threshold)
    out: dict[str, Any] = {"dev_pairs": len(dev), "same_meaning": int(labels.sum()),
                           "pair_model": _figures(scores >= threshold, labels, threshold),
                           "dedupe_decision": _figures(decision, labels, threshold)
                           | {"content_threshold": cfg.content_threshold}}
    tfidf = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), preprocessor=squeeze)
    tfidf.fit([*train.sentence1, *train.sentence2])

    def char_cosine(f: pd.DataFrame) -> np.ndarray:
        a, b = tfidf.transform(f.sentence1), tfidf.transform(f.sentence2)
        return np.asarray(a.multiply(b).sum(axis=1)).ravel()

    def ratio(f: pd.DataFrame) -> np.ndarray:
        return np.array([fuzz.ratio(squeeze(a), squeeze(b)) / 100
                         for a, b in zip(f.sentence1, f.sentence2, strict=True)])

    for name, scorer in (("tfidf_char_cosine", char_cosine), ("fuzz_ratio", ratio)):
        cut = best_threshold(scorer(train), train.label.to_numpy())
        out[name] = _figures(scorer(dev) >= cut, labels, cut)
    return out


def evaluate_cfpb(path: Path, config: AppConfig, db_url: str | None = None) -> dict[str, Any]:
    """Ingest the CFPB export with the `cfpb` preset into a scratch database (`db_url`, empty; default a SQLite
    file) and dedupe it as the process flow does (batches in time order). Every row is another consumer, so every
    duplicate link is false: the duplicate rate is the false-merge rate."""
    spec = FileSourceSpec(name="cfpb", kind="cfpb", channel="regulator", path=str(path),
                          timezone="America/New_York", batch_size=1000)
    with tempfile.TemporaryDirectory() as tmp:
        url = db_url or f"sqlite:///{Path(tmp) / 'cfpb.db'}"
        migrate(url)
        with session_scope(url) as session:
            ingest_source(session, config, spec, "evaluation")
        with session_scope(url) as session:
            ids = session.execute(select(Complaint.id).order_by(Complaint.received_at, Complaint.id)).scalars().all()
        summary = DedupeSummary()
        for k in range(0, len(ids), 1000):
            with session_scope(url) as session:
                part = dedupe_ids(session, ids[k:k + 1000], config.taxonomy.dedupe)
                session.execute(update(Complaint).where(Complaint.id.in_(ids[k:k + 1000]))
                                .values(processed_at=Complaint.received_at))
            for f in fields(DedupeSummary):
                setattr(summary, f.name, getattr(summary, f.name) + getattr(part, f.name))
        with session_scope(url) as session:
            duplicates = session.execute(select(func.count()).select_from(DuplicateLink)).scalar_one()
            similar = session.execute(select(func.count()).select_from(ComplaintSimilarity)).scalar_one()
        get_engine(url).dispose()
    return {"complaints": len(ids), "duplicates": duplicates,
            "duplicate_rate": round(duplicates / len(ids), 4) if ids else 0.0, "similar": similar}
