"""Evaluate collective-complaint detection: synthetic bursts with known starts, and real data.

The replay is complaints.detect's own (Replay) over an in-memory stream, so months of traffic evaluate in
seconds without a database.
"""

from __future__ import annotations

import csv
import dataclasses
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np

from complaints.core.config import DetectionConfig
from complaints.detect.baseline import HOUR
from complaints.detect.frame import learn
from complaints.detect.replay import FRAME_DAYS, Alarm, MemorySource, Replay, Track, floor_hour
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


EVIDENCE_USERS = 10  # time to detection is also measured from a burst's 10th user


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
    """Hour-by-hour detection over an in-memory stream, as the hourly runs would do it; the channels' frame learnt
    from its first week, as a backfill from its start into an empty database learns it."""
    tracks: list[Track] = []
    if items:
        start = min(it.at for it in items)
        frame = learn(((it.category, it.at.date(), it.skeleton) for it in items if it.at < start + FRAME_DAYS),
                      cfg.frame_share)
        items = [dataclasses.replace(it, skeleton=frame.trim(it.skeleton)) for it in items]

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
    incidents = [i for i in live(replay(cfg, items)) if i.detected_at > period]
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
    # moment it had its 10th distinct user (each burst user is a new user).
    at = {it.id: it.at for it in items}
    evidence = {b: sorted(at[i] for i in t.ids)[EVIDENCE_USERS - 1] for b, t in enumerate(truth)}
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
    """Replay data that carries dates only (the items are dated: only the daily window counts them), at the
    configuration as shipped."""
    incidents = live(replay(cfg, items))
    out = []
    for inc in incidents:
        members = sorted(inc.members.values(), key=lambda it: it.at)
        out.append({
            "signature": inc.signature, "detected_at": inc.detected_at.date().isoformat(),
            "first": members[0].at.date().isoformat(), "last": members[-1].at.date().isoformat(),
            "users": len(inc.users), "window_hours": opening(inc).window.hours,
            "observed": opening(inc).observed, "expected": round(opening(inc).baseline.expected, 2),
            "p_value": float(f"{opening(inc).p_value:.3g}"), "top_phrases": top_phrases(members, 5),
        })
    return out


# The known one-star bursts of the app reviews (data README): (bank, first day, last day).
APP_REVIEW_BURSTS = (("CBE", "2024-02-11", "2024-02-11"), ("CBE", "2024-03-09", "2024-03-09"),
                     ("BOA", "2024-04-29", "2024-05-03"))


def app_reviews(cfg: DetectionConfig, path: Path, max_stars: int = 1) -> dict[str, Any]:
    """Google Play reviews: each review of at most max_stars is a complaint by its own reviewer, grouped by bank
    (the merchant); a review carries a day only. The known bursts found, and the other incidents per 4 weeks of
    the weeks that had any such review (the data is sparse before 2024: counted over its whole span, the rate
    would look better than it is)."""
    items = []
    with path.open(encoding="utf-8", newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            if int(row["rating"]) > max_stars:
                continue
            at = datetime.fromisoformat(row["date"]).replace(tzinfo=UTC)
            items.append(make_item(id=i + 1, at=at, user=row["review_id"], category="app_review",
                                   text=row["review"], fields={"merchant": row["bank"]}, dated=True))
    incidents = _dated(cfg, items)

    def hits(inc: dict[str, Any], bank: str, first: str, last: str) -> bool:
        return f"merchant={bank.lower()}" in inc["signature"].lower() and inc["first"] <= last and inc["last"] >= first

    found = [b for b in APP_REVIEW_BURSTS if any(hits(inc, *b) for inc in incidents)]
    false = [inc for inc in incidents if not any(hits(inc, *b) for b in APP_REVIEW_BURSTS)]
    weeks = len({it.at.isocalendar()[:2] for it in items})
    return {"reviews": len(items), "weeks_with_reviews": weeks,
            "known_bursts_found": f"{len(found)}/{len(APP_REVIEW_BURSTS)}",
            "missed": [list(b) for b in APP_REVIEW_BURSTS if b not in found],
            "false_incidents": len(false), "false_per_4_weeks": round(4 * len(false) / weeks, 3),
            "incidents": incidents}


def cfpb(cfg: DetectionConfig, path: Path) -> list[dict[str, Any]]:
    """CFPB sample: product as category, sub-product and state as entities, each complaint its own user; a day
    only. The company is the firm complained about, no entity (as in the cfpb source preset)."""
    items = []
    with path.open(encoding="utf-8", newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            at = datetime.fromisoformat(row["Date received"]).replace(tzinfo=UTC)
            items.append(make_item(
                id=i + 1, at=at, user=row["Complaint ID"], category=row["Product"],
                text=row["Consumer complaint narrative"] or row["Issue"],
                fields={"product": row["Sub-product"] or None, "region": row["State"] or None}, dated=True))
    return _dated(cfg, items)


# --- cold start: a new deployment with one week of history ----------------------------------------------------
# Written apart from synthetic_stream (other texts, channels and shapes): a stream somebody trying to break
# detection would send. Four channels: app (evenings), hotline (agents paraphrase calls; office hours), regulator
# referrals (a day only, no person key, stored at midnight New York = 05:00 UTC), and the `other` rows.
COLD_TEXTS = {
    "transfer_delay": ["转到银行卡的钱两天了还没到", "my bank transfer is stuck in processing",
                       "提现显示成功但是没收到", "money sent to my card has not arrived"],
    "fees_pricing": ["这笔提现怎么收了手续费", "why was I charged a service fee",
                     "会员费自动续费了", "hidden fee on top-up"],
    "refund_after_sales": ["退款说三个工作日到现在没到", "merchant refused my refund",
                           "退货了钱没退", "refund never came back"],
    "customer_service": ["在线客服一直是机器人", "nobody answers the support chat",
                         "投诉了没人回电话", "agent hung up on me"],
    "account_security": ["收到陌生登录提醒", "someone logged into my account",
                         "账户有一笔不认识的消费", "my password was changed"],
    "system_fault": ["页面加载不出来", "the app crashes when I open the wallet",
                     "付款页面转圈", "login button does nothing"],
    "feature_limit": ["单笔限额太低了", "cannot raise my daily limit",
                      "不能绑定第二张卡", "limit reduced without notice"],
    "marketing": ["满减券领了用不了", "the cashback promo was not applied",
                  "签到积分没到账", "coupon expired early"],
    "usability": ["新版找不到账单入口", "too many steps to pay",
                  "字太小看不清", "menu changed and I am lost"],
    "other": ["想问一下怎么开发票", "question about my statement",
              "建议加个夜间模式", "how do I close the account"],
}
COLD_CATEGORY_SHARE = np.array([14, 8, 10, 12, 5, 9, 6, 8, 6, 22], float)
CRISIS_CODE = "E7301"
CRISIS_APP = ["付款失败，提示错误码E7301", "payment failed with error E7301 again and again", "转账卡住了，报错E7301",
              "app says error E7301 when I pay", "今天一直付不了款，系统故障"]
CRISIS_HOTLINE = ["客户来电：APP付款报错E7301，要求尽快恢复", "来电反映付款失败，系统提示E7301，情绪激动",
                  "客户来电称无法转账，系统故障，要求解释"]
CRISIS_REGULATOR = ["The wallet app had an outage and every payment failed with error E7301. I could not pay rent.",
                    "During the outage my transfer failed (error E7301) and the company ignored me.",
                    "Payments failed all afternoon with error E7301; customer service did not answer."]
HOTLINE_HOURS = range(1, 10)  # 09:00-18:00 Asia/Shanghai in UTC
APP_DIURNAL = np.array([0.5, 0.6, 0.8, 1.0, 1.1, 1.1, 1.0, 1.0, 1.1, 1.2, 1.4, 1.6,
                        1.8, 1.7, 1.5, 1.2, 0.8, 0.5, 0.3, 0.2, 0.2, 0.2, 0.3, 0.4])  # UTC; evenings in China
WEEKDAY = np.array([1.25, 1.05, 1.0, 1.0, 0.9, 0.6, 0.5])


@dataclass(frozen=True)
class ColdStart:
    items: list[Item]
    start: datetime  # the deployment's first day
    history_days: int
    crisis: frozenset[int]  # every complaint of the injected outage, any channel or category
    bursts: dict[str, frozenset[int]]  # other real bursts, by name


def cold_start_stream(seed: int = 11, per_day: int = 300, history_days: int = 7,
                      weeks: int = 4) -> ColdStart:
    """history_days of history then `weeks` evaluated weeks of over-dispersed traffic (a gamma factor per day and
    per category and day) with weekday/weekend cycles, an app release whose version spreads through ordinary
    complaints, common error codes in the background, date-only regulator rows; one outage spanning app,
    hotline, regulator and `other`, with an error code; a fraud wave at a small merchant; a near-identical text
    wave. Volume scales with per_day; the events keep their size."""
    rng = np.random.default_rng(seed)
    t0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
    cats = list(COLD_TEXTS)
    share = COLD_CATEGORY_SHARE / COLD_CATEGORY_SHARE.sum()
    merchants = [f"merchant-{i:03d}" for i in range(200)]
    merch_p = 1 / np.arange(1, 201) ** 1.2
    merch_p /= merch_p.sum()
    items: list[Item] = []

    def add(at: datetime, user: str, category: str, text: str, dated: bool = False,
            fields: dict[str, str | None] | None = None) -> int:
        items.append(make_item(id=len(items) + 1, at=at, user=user, category=category, text=text,
                               fields=fields, dated=dated))
        return len(items)

    days = history_days + 7 * weeks
    release = t0 + timedelta(days=history_days + 8)
    for d in range(days):
        day = t0 + timedelta(days=d)
        level = per_day * WEEKDAY[day.weekday()] / WEEKDAY.mean() * rng.gamma(10, 0.1)
        cat_factor = rng.gamma(6, 1 / 6, len(cats))
        for c, cat in enumerate(cats):
            n = rng.poisson(level * share[c] * cat_factor[c])
            for _ in range(n):
                channel = rng.choice(3, p=[0.75, 0.2, 0.05])
                text = str(rng.choice(COLD_TEXTS[cat]))
                if cat == "system_fault" and rng.random() < 0.1:
                    text += f" 错误码E{400 + 4 * min(int(rng.zipf(1.8)), 6)}"
                if rng.random() < 0.05:  # the version users run; the release spreads over a week
                    adopted = min(1.0, max(0.0, (day - release) / timedelta(days=7)))
                    text += f" 版本 {'7.3.0' if rng.random() < adopted else '7.2.4'}"
                fields = {"merchant": merchants[rng.choice(200, p=merch_p)] if rng.random() < 0.5 else None}
                if channel == 2:
                    fields["product"] = "Money transfer, virtual currency, or money service"
                    add(day + timedelta(hours=5), f"reg{len(items)}", cat, text, True, fields)
                elif channel == 1:
                    at = day + timedelta(hours=int(rng.choice(HOTLINE_HOURS)), seconds=int(rng.integers(3600)))
                    add(at, f"tel{int(rng.integers(10 * per_day * days))}", cat, f"客户来电反映：{text}", False,
                        fields)
                else:
                    hour = int(rng.choice(24, p=APP_DIURNAL / APP_DIURNAL.sum()))
                    add(day + timedelta(hours=hour, seconds=int(rng.integers(3600))),
                        f"app{int(rng.integers(10 * per_day * days))}", cat, text, False, fields)
    crisis: list[int] = []
    outage = t0 + timedelta(days=history_days + 10, hours=6, minutes=20)
    crisis_cats = ["system_fault"] * 6 + ["transfer_delay"] * 2 + ["other"] * 2
    for i in range(150):
        at = outage + timedelta(seconds=float(rng.gamma(2, 3600)))
        crisis.append(add(at, f"crisis-app{i}", str(rng.choice(crisis_cats)), str(rng.choice(CRISIS_APP))))
    for i in range(60):
        at = outage + timedelta(seconds=float(rng.gamma(2, 3600)) + 1800)
        user = f"crisis-app{i}" if i % 2 == 0 else f"crisis-tel{i}"  # half called after writing in the app
        crisis.append(add(at, user, str(rng.choice(crisis_cats)), str(rng.choice(CRISIS_HOTLINE))))
    for i in range(40):
        day = (outage + timedelta(days=int(i % 3 != 0))).replace(hour=5, minute=0, second=0)
        crisis.append(add(day, f"crisis-reg{i}", str(rng.choice(crisis_cats)), str(rng.choice(CRISIS_REGULATOR)),
                          True, {"product": "Money transfer, virtual currency, or money service"}))
    fraud_at = t0 + timedelta(days=history_days + 17, hours=11)
    fraud = [add(fraud_at + timedelta(minutes=float(rng.uniform(0, 360))), f"fraud{i}", "account_security",
                 str(rng.choice(["充值后账户被盗刷", "unauthorized charge right after top-up", "陌生扣款不是我本人"])),
                 False, {"merchant": "merchant-177"}) for i in range(40)]
    wave_at = t0 + timedelta(days=history_days + 23, hours=2)
    wave = [add(wave_at + timedelta(minutes=float(rng.uniform(0, 240))), f"wave{i}", "transfer_delay",
                "余额转出到银行卡显示成功但是银行卡一直没有收到" + str(rng.choice(["", "，急", "!!", "，请处理"])))
            for i in range(25)]
    return ColdStart(items, t0, history_days, frozenset(crisis), {"fraud": frozenset(fraud), "wave": frozenset(wave)})


def live(tracks: list[Track]) -> list[Track]:
    """The incidents a replay leaves: those merged into another are gone."""
    return [t for t in tracks if t.merged_into is None and t.members]


def evaluate_cold_start(cfg: DetectionConfig, seed: int = 11, per_day: int = 300) -> dict[str, Any]:
    """False incidents per week in the first weeks of a new deployment (week 0 has no history at all), the
    outage: how many incidents it became, the share of its complaints the one holding most of them has and that
    one's purity; and whether the other bursts were found."""
    s = cold_start_stream(seed, per_day)
    incidents = live(replay(cfg, s.items))
    truth = {"crisis": s.crisis, **s.bursts}
    false_by_week: Counter[int] = Counter()
    found: Counter[str] = Counter()
    for inc in incidents:
        overlap = {name: len(ids & inc.members.keys()) for name, ids in truth.items()}
        name, n = max(overlap.items(), key=lambda kv: kv[1])
        if 2 * n >= len(inc.members):
            found[name] += 1
        else:
            false_by_week[(inc.detected_at - s.start).days // 7] += 1
    weeks = (max(it.at for it in s.items) - s.start).days // 7 + 1
    largest = max(incidents, key=lambda inc: len(s.crisis & inc.members.keys()), default=None)
    held = len(s.crisis & largest.members.keys()) if largest is not None else 0
    return {
        "seed": seed, "per_day": per_day, "complaints": len(s.items), "history_days": s.history_days,
        "false_per_week": [false_by_week[w] for w in range(weeks)],
        "false_per_week_after_first_week": round(sum(false_by_week[w] for w in range(1, weeks)) / (weeks - 1), 2),
        "crisis_complaints": len(s.crisis), "crisis_incidents": found["crisis"],
        "crisis_share_held": round(held / len(s.crisis), 3),
        # Of the complaints in that incident, the share that are the outage's: what joined it by mistake.
        "crisis_purity": round(held / len(largest.members), 3) if largest is not None and held else None,
        "bursts_found": {name: found[name] > 0 for name in s.bursts},
        "false": [{"signature": i.signature, "at": i.detected_at.isoformat(), "users": len(i.users),
                   "observed": opening(i).observed, "expected": round(opening(i).baseline.expected, 2),
                   "window_hours": opening(i).window.hours} for i in incidents
                  if max(len(ids & i.members.keys()) for ids in truth.values()) * 2 < len(i.members)],
    }
