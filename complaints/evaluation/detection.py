"""Evaluate collective-complaint detection: synthetic bursts with known starts, and real data.

The replay is complaints.detect's own (Replay) over an in-memory stream, so months of traffic evaluate in
seconds without a database.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np

from complaints.core.config import DetectionConfig
from complaints.detect.baseline import HOUR
from complaints.detect.replay import Alarm, MemorySource, Replay, Track, floor_hour
from complaints.detect.signatures import Item, make_item, top_phrases

CATEGORIES = {
    "transfer_delay": ["提现一直未到账", "转账显示处理中", "withdrawal still pending after two days", "提现延迟到账"],
    "fees_pricing": ["被多扣了手续费", "charged a fee I never agreed to", "服务费乱收费", "年费没有通知就扣了"],
    "refund_after_sales": ["商家不退款", "refund not received yet", "退货后钱没有退回", "售后一直推诿"],
    "customer_service": ["客服电话打不通", "customer service never answers", "人工服务排队太久", "客服态度差"],
    "account_security": ["账户被盗刷了", "unauthorized payment on my account", "陌生交易不是我本人", "账号异常登录"],
    "system_fault": ["页面一直白屏", "the app keeps freezing", "系统繁忙请稍后再试", "付款时报错"],
    "feature_limit": ["额度突然被降了", "transfer limit too low", "无法开通免密支付", "限额太低"],
    "marketing": ["优惠券用不了", "cashback never credited", "红包活动规则不清楚", "积分清零没有提醒"],
    "usability": ["界面太难用找不到入口", "the new menu is confusing", "操作太复杂", "找不到注销入口"],
    "other": ["其他问题咨询", "general question about my account", "建议增加功能", "意见反馈"],
}
FILLER = ["请尽快处理", "已经好几天了", "很着急", "please fix this", "非常失望", "希望给个说法", "", "", "", ""]
BURST_TEXTS = {
    "merchant": ("account_security", "在{m}充值后账户被盗刷，陌生交易不是我本人操作"),
    "error_code": ("system_fault", "付款一直失败，提示错误码{c}"),
    "app_version": ("system_fault", "升级到版本{v}后一打开就闪退"),
    "text": ("transfer_delay", "余额宝转出到银行卡显示成功但银行卡一直没有收到钱"),
}


@dataclass(frozen=True)
class Burst:
    start: datetime
    users: int
    hours: int
    shape: str  # front | uniform | ramp
    kind: str  # the entity the burst shares: merchant | error_code | app_version | text
    ids: frozenset[int] = frozenset()


def synthetic_stream(seed: int = 7, weeks: int = 8, per_day: int = 600, bursts: int = 12,
                     warmup_weeks: int = 4) -> tuple[list[Item], list[Burst], datetime]:
    """Background traffic with daily and weekly seasonality (Monday peak), plus bursts of >= 100
    distinct users within a day, each sharing one entity, starting in the weeks after the warm-up.
    Returns (items, bursts, start of the evaluated period)."""
    rng = np.random.default_rng(seed)
    t0 = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
    diurnal = np.array([0.2, 0.15, 0.1, 0.1, 0.15, 0.3, 0.6, 1.0, 1.4, 1.6, 1.6, 1.5,
                        1.4, 1.5, 1.6, 1.6, 1.5, 1.4, 1.3, 1.2, 1.1, 0.9, 0.6, 0.4])
    weekly = np.array([1.5, 1.1, 1.0, 1.0, 1.0, 0.8, 0.7])
    cats = list(CATEGORIES)
    cat_p = np.array([14, 10, 10, 12, 6, 8, 6, 6, 5, 23], float)
    cat_p /= cat_p.sum()
    merchants = [f"商户{i:03d}" for i in range(300)]
    merch_p = 1 / np.arange(1, 301) ** 1.1
    merch_p /= merch_p.sum()
    codes = [f"E{1000 + 37 * i}" for i in range(40)]
    items: list[Item] = []
    next_id = 0

    def add(at: datetime, user: str, category: str, text: str, fields: dict[str, str | None]) -> int:
        nonlocal next_id
        next_id += 1
        items.append(make_item(id=next_id, at=at, user=user, category=category, text=text, fields=fields))
        return next_id

    for h in range(weeks * 7 * 24):
        hour = t0 + timedelta(hours=h)
        lam = per_day / 24 * diurnal[hour.hour] * weekly[hour.weekday()] / diurnal.mean()
        for _ in range(rng.poisson(lam)):
            cat = cats[rng.choice(len(cats), p=cat_p)]
            text = f"{rng.choice(CATEGORIES[cat])}，{rng.choice(FILLER)}"
            if rng.random() < 0.04:
                text += f" 错误码{codes[min(int(rng.zipf(1.6)) - 1, 39)]}"
            if rng.random() < 0.04:
                text += f" 版本 5.{int(rng.integers(0, 4))}.0"
            fields: dict[str, str | None] = {
                "merchant": merchants[rng.choice(300, p=merch_p)] if rng.random() < 0.6 else None,
                "region": f"省份{int(rng.integers(0, 31)):02d}" if rng.random() < 0.5 else None,
            }
            add(hour + timedelta(seconds=int(rng.integers(0, 3600))), f"bg{int(rng.integers(0, 500_000))}", cat,
                text, fields)

    period = t0 + timedelta(weeks=warmup_weeks)
    span_hours = (weeks - warmup_weeks) * 7 * 24 - 24
    starts = sorted(rng.choice(span_hours, size=bursts, replace=False))
    made = []
    for b, start_h in enumerate(starts):
        kind = ("merchant", "error_code", "app_version", "text")[b % 4]
        shape = ("uniform", "front", "ramp")[b % 3]
        hours = int(rng.integers(4, 25))
        n = int(rng.integers(100, 301))
        start = period + timedelta(hours=int(start_h), minutes=int(rng.integers(0, 60)))
        cat, template = BURST_TEXTS[kind]
        m = merchants[int(rng.integers(100, 300))]  # a small merchant: it has little history
        text = template.format(m=m, c=f"E9{b:03d}", v=f"6.{b}.1")
        u = rng.random(n)
        offsets = {"uniform": u, "front": -np.log1p(-u * (1 - np.exp(-4))) / 4, "ramp": np.sqrt(u)}[shape]
        ids = []
        for i, off in enumerate(sorted(offsets)):
            at = start + timedelta(seconds=float(off) * hours * 3600)
            ids.append(add(at, f"burst{b}-{i}", cat, f"{text}，{rng.choice(FILLER)}",
                           {"merchant": m if kind == "merchant" else None}))
        made.append(Burst(start, n, hours, shape, kind, frozenset(ids)))
    return items, made, period


def replay(cfg: DetectionConfig, items: list[Item]) -> list[Track]:
    """Hour-by-hour detection over an in-memory stream, as the hourly runs would do it."""
    tracks: list[Track] = []

    def open_incident(alarm: Alarm) -> Track:
        tracks.append(Track(id=len(tracks) + 1, group=alarm.group, opened_window=alarm.hour, alarm=alarm,
                            last=alarm.members[-1].at))
        return tracks[-1]

    engine = Replay(cfg, MemorySource(items), [], open_incident)
    for hour in sorted({floor_hour(it.at) for it in items}):
        engine.hour(hour)
    return tracks


def opening(track: Track) -> Alarm:
    """The alarm that opened an incident of the replay."""
    assert track.alarm is not None  # every incident of an in-memory replay was opened by it
    return track.alarm


def evaluate_synthetic(cfg: DetectionConfig, seed: int = 7, weeks: int = 8, per_day: int = 600,
                       bursts: int = 12) -> dict[str, Any]:
    """Replay a synthetic stream with known bursts: recall, hours to detect and false incidents per week."""
    items, truth, period = synthetic_stream(seed, weeks, per_day, bursts)
    incidents = [i for i in replay(cfg, items) if i.detected_at > period]
    found: dict[int, Track] = {}
    false = []
    for inc in incidents:
        share = Counter(b for b, burst in enumerate(truth) for m in inc.members if m in burst.ids)
        if share and share.most_common(1)[0][1] * 2 >= len(inc.members):
            b = share.most_common(1)[0][0]
            if b not in found or inc.detected_at < found[b].detected_at:
                found[b] = inc
        else:
            false.append(inc)
    delays = {b: (found[b].detected_at - truth[b].start) / HOUR for b in found}
    # A burst that ramps up from nothing has too few users in its first hours for any test: also measure from the
    # moment it had the daily window's minimum of distinct users (each burst user is a new user).
    at = {it.id: it.at for it in items}
    evidence = {b: sorted(at[i] for i in t.ids)[cfg.min_distinct_users - 1] for b, t in enumerate(truth)}
    after_evidence = {b: (found[b].detected_at - evidence[b]) / HOUR for b in found}
    eval_weeks = weeks - 4

    def by_shape(hours: dict[int, float]) -> dict[str, str]:
        return {shape: f"{sum(hours.get(b, 99) <= 2 for b, t in enumerate(truth) if t.shape == shape)}"
                       f"/{sum(t.shape == shape for t in truth)}" for shape in sorted({t.shape for t in truth})}

    return {
        "seed": seed, "weeks_evaluated": eval_weeks, "complaints": len(items),
        "background_per_day": per_day, "bursts": len(truth),
        "recall": round(len(found) / len(truth), 3),
        "within_2h": round(sum(d <= 2 for d in delays.values()) / len(truth), 3),
        "median_hours_to_detect": round(median(delays.values()), 2) if delays else None,
        "max_hours_to_detect": round(max(delays.values()), 2) if delays else None,
        "within_2h_by_shape": by_shape(delays),
        "within_2h_of_min_users": round(sum(d <= 2 for d in after_evidence.values()) / len(truth), 3),
        "within_2h_of_min_users_by_shape": by_shape(after_evidence),
        "max_hours_after_min_users": round(max(after_evidence.values()), 2) if after_evidence else None,
        "false_incidents": len(false), "false_per_week": round(len(false) / eval_weeks, 2),
        "per_burst": [
            {"kind": t.kind, "shape": t.shape, "users": t.users, "hours": t.hours, "start": t.start.isoformat(),
             "detected_after_h": round(delays[b], 2) if b in delays else None,
             "min_users_after_h": round((evidence[b] - t.start) / HOUR, 2),
             "signature": found[b].signature if b in found else None}
            for b, t in enumerate(truth)
        ],
        "false": [{"signature": i.signature, "at": i.detected_at.isoformat(), "users": len(i.users),
                   "observed": opening(i).observed, "expected": round(opening(i).baseline.expected, 2),
                   "window_hours": opening(i).window.hours} for i in false],
    }


def _dated(cfg: DetectionConfig, items: list[Item]) -> list[dict[str, Any]]:
    """Replay data that carries dates only: hourly windows would see a whole day at once, so only the
    daily window applies."""
    incidents = replay(cfg.model_copy(update={"short_windows": []}), items)
    by_id = {it.id: it for it in items}
    out = []
    for inc in incidents:
        members = sorted((by_id[m] for m in inc.members), key=lambda it: it.at)
        out.append({
            "signature": inc.signature, "detected_at": inc.detected_at.date().isoformat(),
            "first": members[0].at.date().isoformat(), "last": members[-1].at.date().isoformat(),
            "users": len(inc.users), "window_hours": opening(inc).window.hours,
            "observed": opening(inc).observed, "expected": round(opening(inc).baseline.expected, 2),
            "p_value": float(f"{opening(inc).p_value:.3g}"), "top_phrases": top_phrases(members, 5),
        })
    return out


def app_reviews(cfg: DetectionConfig, path: Path, max_stars: int = 1) -> list[dict[str, Any]]:
    """Google Play reviews: each review of at most max_stars is a complaint by its own reviewer, grouped
    by bank (the merchant). Reviews carry only a date: each counts at noon UTC of its day."""
    items = []
    with path.open(encoding="utf-8", newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            if int(row["rating"]) > max_stars:
                continue
            at = datetime.fromisoformat(row["date"]).replace(hour=12, tzinfo=UTC)
            items.append(make_item(id=i + 1, at=at, user=row["review_id"], category="app_review",
                                   text=row["review"], fields={"merchant": row["bank"]}))
    return _dated(cfg, items)


def cfpb(cfg: DetectionConfig, path: Path) -> list[dict[str, Any]]:
    """CFPB sample: product as category, company as merchant, each complaint its own user; day only."""
    items = []
    with path.open(encoding="utf-8", newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            at = datetime.fromisoformat(row["Date received"]).replace(hour=12, tzinfo=UTC)
            items.append(make_item(
                id=i + 1, at=at, user=row["Complaint ID"], category=row["Product"],
                text=row["Consumer complaint narrative"] or row["Issue"],
                fields={"merchant": row["Company"], "product": row["Sub-product"] or None,
                        "region": row["State"] or None}))
    return _dated(cfg, items)
