"""Measure near-duplicate detection: injected resubmissions (synthetic, known truth) and sentence-pair corpora.

The pair corpora (AFQMC, BQ) label "same meaning", not "same complaint resubmitted": they show what pure
text similarity can and cannot tell, as a reference, not a target.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from complaints.core.config import DedupeSettings
from complaints.core.models import Base, Complaint, DuplicateLink
from complaints.core.normalize import fold, squeeze, text_hash
from complaints.process.dedupe import dedupe_ids, similarity

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
    return {"complaints": len(rows), "injected": len(truth), "linked": len(found),
            "precision": round(correct / len(found), 4) if found else 1.0,
            "recall": round(correct / len(truth), 4) if truth else 1.0}


def evaluate_pairs(path: Path, cfg: DedupeSettings) -> dict[str, Any]:
    """Same-meaning question pairs scored by the keyed near-duplicate rule (ratio >= near_threshold)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    scores = [similarity(squeeze(a), squeeze(b)) for a, b in zip(frame.sentence1, frame.sentence2, strict=True)]
    positive = frame.label.astype(int).to_numpy() == 1
    out: dict[str, Any] = {"pairs": len(frame), "same_meaning": int(positive.sum())}
    for name, threshold in (("near", cfg.near_threshold), ("keyless", cfg.keyless.verify_threshold)):
        predicted = [s >= threshold for s in scores]
        tp = sum(1 for p, y in zip(predicted, positive, strict=True) if p and y)
        n_pred = sum(predicted)
        out[f"{name}_precision"] = round(tp / n_pred, 4) if n_pred else None
        out[f"{name}_recall"] = round(tp / out["same_meaning"], 4) if out["same_meaning"] else None
    return out
