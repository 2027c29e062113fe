"""Detection's judgement on small data: a cold start without false alarms, date-only rows, one crisis = one
incident, merging and splitting by hand, a burst on a quiet source."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from scipy.stats import nbinom
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from complaints.core.config import AppConfig
from complaints.core.db import session_scope
from complaints.core.models import Complaint, Incident
from complaints.detect.baseline import tail_probability
from complaints.detect.frame import NO_FRAME, learn
from complaints.detect.incidents import MergeError, merge_incidents, split_incident
from complaints.detect.replay import MemorySource, Track, detect_window, find_alarms
from complaints.detect.signatures import Item, make_item, masked_text, skeleton
from complaints.evaluation.detection import live, replay
from tests.factories import T0, complaint
from tests.stages import classify_complaints, dedupe, detect, unprocessed

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)


def _item(n: int, at: datetime, user: str, text: str, merchant: str | None = None, category: str = "transfer_delay",
          dated: bool = False) -> Item:
    return make_item(id=n, at=at, user=user, category=category, text=text, fields={"merchant": merchant},
                     dated=dated)


def _ordinary_week(rng: np.random.Generator, start: datetime, days: int, first_id: int) -> list[Item]:
    """Ordinary traffic: ~120 complaints a day over 6 categories and 30 merchants, weekends at half, the daily
    level itself varying (gamma, CV 0.3), one merchant busier on some days than others."""
    out: list[Item] = []
    texts = ["提现一直未到账", "退款还没退回", "客服电话打不通", "手续费太高了", "优惠券用不了", "页面一直白屏"]
    cats = ["transfer_delay", "refund_after_sales", "customer_service", "fees_pricing", "marketing", "system_fault"]
    for d in range(days):
        day = start + timedelta(days=d)
        lam = 120 * (0.5 if day.weekday() >= 5 else 1.0) * rng.gamma(11, 1 / 11)
        for _ in range(rng.poisson(lam)):
            c = int(rng.integers(len(cats)))
            at = day + timedelta(hours=int(rng.integers(0, 15)), seconds=int(rng.integers(3600)))
            merchant = f"商户{min(int(rng.zipf(1.5)), 30):02d}"
            out.append(_item(first_id + len(out), at, f"u{first_id + len(out)}", f"{texts[c]} {rng.integers(99)}",
                             merchant, cats[c]))
    return out


def test_negative_binomial_tail_is_scipys() -> None:
    for observed, mean, size in [(10, 2.3, 4.1), (8, 0.5, 2.3), (300, 100.0, 10.0)]:
        assert tail_probability(observed, mean, size) == pytest.approx(
            nbinom.sf(observed - 1, size, size / (size + mean)), rel=1e-9)


def test_cold_start_with_one_week_of_history_raises_nothing_for_ordinary_variation(app_config: AppConfig) -> None:
    cfg = app_config.detection
    rng = np.random.default_rng(5)
    items = _ordinary_week(rng, MONDAY, 14, 1)
    incidents = live(replay(cfg, items))
    in_second_week = [t for t in incidents if t.detected_at >= MONDAY + timedelta(days=7)]
    assert in_second_week == [], [t.alarm.reason(3) for t in in_second_week if t.alarm]

    # A real burst in the second week is still caught, within its first hours.
    start = MONDAY + timedelta(days=10, hours=3)
    burst = [_item(100_000 + i, start + timedelta(minutes=4 * i), f"b{i}", "提现一直未到账，错误码E4410", "商户07")
             for i in range(30)]
    incidents = live(replay(cfg, items + burst))
    [caught] = [t for t in incidents if t.detected_at >= MONDAY + timedelta(days=7)]
    assert caught.signature == "category=*|error_code=E4410"
    assert caught.detected_at <= start + timedelta(hours=2)
    assert {b.id for b in burst} <= caught.members.keys()


def test_small_volume_burst_is_caught_on_a_quiet_source(app_config: AppConfig) -> None:
    """An app-review-sized source: a complaint every other day for four weeks, then six users in one day, at the
    shipped configuration (date-only rows: the hourly windows do not count them)."""
    cfg = app_config.detection
    rng = np.random.default_rng(3)
    items = [_item(n, MONDAY + timedelta(days=d), f"q{n}", "app keeps crashing", "BankApp", "app_review", dated=True)
             for n, d in enumerate(d for d in range(28) for _ in range(rng.poisson(0.5)))]
    quiet = live(replay(cfg, items))
    assert quiet == []
    day = MONDAY + timedelta(days=29)
    burst = [_item(10_000 + i, day, f"s{i}", "cannot log in after the update", "BankApp", "app_review", dated=True)
             for i in range(6)]
    [inc] = live(replay(cfg, items + burst))
    assert {b.id for b in burst} <= inc.members.keys()
    assert inc.alarm is not None and inc.alarm.min_users == 5 and inc.alarm.alpha > cfg.alpha


def _stage(s: Session, cfg: AppConfig, categories: dict[int, str] | None = None) -> list[int]:
    """Dedupe, classify (then the categories given, as a classifier might have put them), detect; opened ids."""
    batch = unprocessed(s, 100_000)
    dedupe(s, batch)
    classify_complaints(s, cfg.taxonomy, batch)
    for c in batch:
        if c.id in (categories or {}):
            c.category = (categories or {})[c.id]
    s.flush()
    opened = detect(s, cfg.detection, cfg.taxonomy, batch).opened
    s.commit()
    return opened


def test_date_only_rows_do_not_make_a_midnight_burst(db_url: str, app_config: AppConfig) -> None:
    assert "regulator" in app_config.detection.date_only_sources
    with session_scope(db_url) as s:
        # A regulator source sends ~25 referrals a day, every one stamped at midnight New York (05:00 UTC).
        for d in range(10):
            for i in range(24 + d % 3):
                complaint(s, f"Money was not available when promised, case {d}-{i}", source="regulator",
                          channel="regulator", contact=f"r{d}-{i}@example.com", merchant=None,
                          at=T0 + timedelta(days=d, hours=4), product="Money transfer")
        opened = [s.get(Incident, i) for i in _stage(s, app_config)]
        # Never in an hourly window; and once there is a day of history, not at all. (The first day has none: 25
        # referrals on one product against nothing may alarm in the daily window.)
        assert all(i.reason["window_hours"] >= 24 and i.opened_window < T0 + timedelta(days=1) for i in opened)
        # The same volume from a source with times would be one hour holding a whole day: a burst.
        later = T0 + timedelta(days=10, hours=4)
        for i in range(25):
            complaint(s, f"Money was not available when promised, app {i}", source="app", channel="app",
                      contact=f"a{i}@example.com", at=later + timedelta(minutes=i), product="Money transfer")
        [burst] = _stage(s, app_config)
        assert s.get(Incident, burst).reason["window_hours"] < 24


def _crisis(s: Session, start: datetime) -> tuple[list[Complaint], dict[int, str]]:
    """An outage with error code E7301: app rows (some classified `other`), hotline calls paraphrased by agents
    (no code), regulator referrals by different consumers (a day only)."""
    rows, categories = [], {}
    for i in range(40):
        c = complaint(s, ["付款失败，提示错误码E7301", "payment failed with error E7301", "转账报错E7301"][i % 3],
                      contact=f"app{i}@example.com", at=start + timedelta(minutes=3 * i))
        rows.append(c)
        categories[c.id] = "other" if i % 4 == 0 else "system_fault"
    for i in range(15):
        c = complaint(s, "客户来电称无法付款，系统故障，要求尽快恢复", channel="hotline", contact=f"1390000{i:04d}",
                      at=start + timedelta(minutes=30 + 4 * i))
        rows.append(c)
        categories[c.id] = "system_fault"
    for i in range(12):
        c = complaint(s, "The wallet had an outage and my payment failed with error E7301.", source="regulator",
                      channel="regulator", contact=f"reg{i}@example.com", product="Money transfer",
                      at=start.replace(hour=5, minute=0))
        rows.append(c)
        categories[c.id] = "transfer_delay"
    return rows, categories


def test_one_crisis_across_channels_and_categories_is_one_incident(db_url: str, app_config: AppConfig) -> None:
    with session_scope(db_url) as s:
        for d in range(7):  # a week of ordinary traffic first
            for i in range(20):
                complaint(s, ["退款还没退回", "客服电话打不通", "优惠券用不了", "页面一直白屏"][i % 4] + f" {d}{i}",
                          contact=f"bg{d}-{i}@example.com", at=T0 + timedelta(days=d, hours=i % 12))
        _stage(s, app_config)
        rows, categories = _crisis(s, T0 + timedelta(days=7, hours=6))
        _stage(s, app_config, categories)
        canonical = [c for c in rows if c.duplicate_of_id is None]
        incidents = list(s.execute(select(Incident)).scalars())
        assert len(incidents) == 1, [(i.signature, i.complaint_count) for i in incidents]
        [inc] = incidents
        held = [c for c in canonical if c.incident_id == inc.id]
        assert len(held) >= 0.9 * len(canonical)
        # Every signature it was seen through is in its reason, with the evidence that merged it.
        assert inc.signature == "category=*|error_code=E7301"
        assert any("text=" in m["signature"] for m in inc.reason["merged"])
        assert all(m["evidence"] for m in inc.reason["merged"])
        assert any(h.get("action") == "merge" for h in inc.history)


def test_manual_merge_and_split_are_recorded(db_url: str, app_config: AppConfig) -> None:
    cfg = app_config.detection
    with session_scope(db_url) as s:
        for i in range(12):
            complaint(s, f"提现一直未到账 订单{i}", contact=f"m{i}@example.com", merchant="快捷支付通道",
                      at=T0 + timedelta(minutes=4 * i))
            complaint(s, f"优惠券用不了 {i}", contact=f"c{i}@example.com", merchant="周末大促",
                      at=T0 + timedelta(minutes=4 * i + 1))
        opened = _stage(s, app_config)
        assert len(opened) == 2
        a, b = sorted(opened)
        users_before = s.get(Incident, a).user_count + s.get(Incident, b).user_count
        merged = merge_incidents(s, cfg, a, b, "same payment channel outage, ops call")
        s.commit()
        other = s.get(Incident, b)
        assert merged.user_count == users_before and other.complaint_count == 0
        assert other.reason["merged_into"] == a and other.status == "resolved"
        assert merged.history[-1]["action"] == "merge" and "ops call" in merged.history[-1]["note"]
        assert other.history[-1]["note"].startswith(f"merged into incident {a}")
        with pytest.raises(MergeError):
            merge_incidents(s, cfg, a, b, "again")

        members = list(s.execute(select(Complaint.id).where(Complaint.incident_id == a)
                                 .order_by(Complaint.id)).scalars())
        coupons = [c.id for c in s.execute(select(Complaint).where(Complaint.incident_id == a)).scalars()
                   if c.merchant == "周末大促"]
        new = split_incident(s, cfg, a, coupons, "coupons are a different problem")
        s.commit()
        assert s.get(Incident, a).complaint_count == len(members) - len(coupons)
        assert new.complaint_count == len(coupons) and new.reason["split_from"] == a
        assert s.get(Incident, a).history[-1]["action"] == "split"
        assert new.history[0]["note"].startswith(f"split from incident {a}")
        with pytest.raises(MergeError):
            split_incident(s, cfg, a, members, "everything")  # not all of them: some moved already
        # Detection does not merge them back: both are pinned.
        complaint(s, "提现一直未到账 又一次", contact="late@example.com", merchant="快捷支付通道",
                  at=T0 + timedelta(hours=2))
        _stage(s, app_config)
        assert s.get(Incident, new.id).complaint_count == len(coupons)


def test_a_crisis_sharing_no_code_merchant_or_words_is_one_incident_of_its_surges(app_config: AppConfig) -> None:
    """An outage told in each user's own words (no error code, no merchant, no shared sentence) shows only as whole
    categories surging: found from the surge, the other category surging at its onset joins the same incident,
    and once the surge is over the category's ordinary complaints do not keep joining."""
    cfg = app_config.detection
    rng = np.random.default_rng(11)
    items = _ordinary_week(rng, MONDAY, 21, 1)
    start = MONDAY + timedelta(days=16, hours=2)  # a Wednesday, 10:00 in Shanghai
    faults = ["app闪退{}次了", "付款页面打不开 {}", "登录一直转圈 {}", "the app keeps crashing ({})", "支付失败了{}"]
    stuck = ["提现卡住了{}", "my cash-out has not arrived {}", "转账显示处理中 {}"]
    crisis = [_item(500_000 + i, start + timedelta(minutes=int(rng.integers(0, 150))), f"c{i}",
                    str(rng.choice(faults if i % 3 else stuck)).format(rng.integers(10_000)), None,
                    "system_fault" if i % 3 else "transfer_delay") for i in range(90)]
    incidents = live(replay(cfg, items + crisis))
    after_history = [t for t in incidents if t.detected_at >= MONDAY + timedelta(days=7)]
    [outage] = after_history  # one incident, no false one in the two weeks of ordinary traffic
    assert {outage.signature, *outage.signatures} >= {"category=system_fault|any=*",
                                                      "category=transfer_delay|any=*"}
    held = {c.id for c in crisis} & outage.members.keys()
    assert len(held) >= 0.8 * len(crisis)
    ordinary_after = [it for it in outage.members.values()
                      if it.id < 500_000 and it.at >= start + timedelta(hours=6)]
    assert ordinary_after == []  # the surge was over: the everyday complaints of the day stay outside


def test_a_whole_category_is_not_tested_before_a_day_of_history(app_config: AppConfig) -> None:
    """A new deployment's first morning: its first hours were night, so every category's daytime volume would look
    like a surge against them."""
    cfg = app_config.detection
    rng = np.random.default_rng(2)
    items = _ordinary_week(rng, MONDAY, 1, 1)
    rush = [_item(900_000 + i, MONDAY + timedelta(hours=9, minutes=i), f"r{i}", f"退款 {i}", None,
                  "refund_after_sales") for i in range(40)]
    assert [t.signature for t in live(replay(cfg, items + rush)) if t.group.kind == "any"] == []


def test_a_crisis_tail_joins_by_its_words_and_the_everyday_complaints_do_not(app_config: AppConfig) -> None:
    """A phishing wave: a burst of 40 users in two hours, then a tail of one or two an hour for a day and a half,
    too slow for any alarm, in the same varied words. Content joins (detection.yaml content_margin) bring the tail
    into the incident; the category's everyday complaints of the same hours stay outside; and after content_hours
    nothing more joins. Off (content_margin and neighbour_margin null), the tail stays out."""
    cfg = app_config.detection
    rng = np.random.default_rng(8)
    items = _ordinary_week(rng, MONDAY, 21, 1)
    everyday = ["忘记登录密码了怎么重置", "账户被冻结了要求解冻", "换手机后收不到验证码", "my account got locked after "
                "three wrong passwords", "人脸识别一直不通过", "cannot reset my payment PIN"]
    items += [_item(300_000 + i, MONDAY + timedelta(hours=int(rng.integers(0, 21 * 24)),
                                                    minutes=int(rng.integers(60))),
                    f"e{i}", f"{rng.choice(everyday)} {rng.integers(999)}", None, "account_security")
              for i in range(21 * 12)]
    wave = ["收到冒充客服的短信，点了里面的链接，账户里的钱被转走了 {}",
            "短信说我的账户异常要我点链接验证，点完余额没了 {}",
            "got a text pretending to be your support, clicked the link and my balance was drained {}",
            "冒充官方的短信链接，输入了验证码后被盗刷 {}", "a fake SMS from the wallet asked me to verify via a link, "
            "then money was stolen {}"]
    start = MONDAY + timedelta(days=17, hours=2)
    burst = [_item(600_000 + i, start + timedelta(minutes=3 * i), f"p{i}", str(rng.choice(wave)).format(i), None,
                   "account_security") for i in range(40)]
    tail = [_item(700_000 + i, start + timedelta(hours=3, minutes=50 * i), f"t{i}", str(rng.choice(wave)).format(i),
                  None, "account_security") for i in range(40)]  # 2 h to 36 h after the burst
    late = [_item(800_000 + i, start + timedelta(hours=60 + i), f"l{i}", str(rng.choice(wave)).format(i), None,
                  "account_security") for i in range(5)]  # past content_hours
    # A second crisis of the same category during the tail, in other words: face verification failing for everyone.
    faces = ["刷脸认证一直报错，登录不了 {}", "face verification keeps failing so I cannot log in {}",
             "人脸识别失败，提示系统繁忙，账户进不去 {}", "the face check says system busy and locks me out {}"]
    second = [_item(900_000 + i, start + timedelta(hours=20, minutes=3 * i), f"f{i}",
                    str(rng.choice(faces)).format(i), None, "account_security") for i in range(40)]
    stream = items + burst + tail + late + second

    # The centroids' test alone takes the tail too (the nearest complaints' test has its own stream below).
    centroids = cfg.model_copy(update={"neighbour_margin": None})
    [alone] = [t for t in live(replay(centroids, stream)) if {b.id for b in burst} & t.members.keys()]
    assert len({t.id for t in tail} & alone.members.keys()) >= 0.8 * len(tail)

    incidents = live(replay(cfg, stream))
    [wave_incident] = [t for t in incidents if {b.id for b in burst} & t.members.keys()]
    members = wave_incident.members.keys()
    assert len({t.id for t in tail} & members) >= 0.8 * len(tail)
    # The second crisis keeps its own incident: the first one's profile is made from what its signature and alarms
    # brought in, not from what it took in by words, and an hour is judged by words only after its alarms (the
    # first incident had drifted towards the new crisis and taken 25 of its 40, leaving its own incident 15); the
    # nearest complaints are its burst's, not those a later surge of the category brought in (it took 14 of 40).
    # Known limit: its phrasings that its own text cluster does not hold can still read like the older, broader
    # incident (a few do here).
    assert len({f.id for f in second} & members) <= 0.25 * len(second)
    [face_incident] = [t for t in incidents if len({f.id for f in second} & t.members.keys()) >= 0.6 * len(second)]
    assert face_incident is not wave_incident
    # The everyday complaints of the burst's own hours join with the surge's alarm; after it, none joins (until
    # the second crisis makes the whole category surge again, and that alarm's window joins the same way).
    ordinary = [it for it in wave_incident.members.values()
                if it.id < 600_000 and start + timedelta(hours=2) <= it.at < start + timedelta(hours=17)]
    assert ordinary == []
    assert not {it.id for it in late} & members

    off = cfg.model_copy(update={"content_margin": None, "neighbour_margin": None})
    [without] = [t for t in live(replay(off, stream)) if {b.id for b in burst} & t.members.keys()]
    assert len({t.id for t in tail} & without.members.keys()) <= 0.2 * len(tail)


WAYS = ["App打不开了，一直转圈", "付款一直失败，提示系统繁忙", "首页白屏，刷新多少次都没用",
        "payments keep failing with system busy", "the app won't load at all, just spinning",
        "登录不上，提示服务暂不可用", "扫码付不了钱，换了三家店都一样", "你们系统是不是崩了？什么都用不了",
        "转账提示网络错误，钱到底去哪了", "can't log in since this morning", "付款转圈然后失败，银行卡扣了钱",
        "is the whole thing down? nothing works"]
GREETINGS = ["", "客服你好，", "在吗？", "急！", "Hi, ", "URGENT: ", "我要投诉！", "请问"]
ENDINGS = ["", "，请尽快处理", "，给个说法", " please fix this", "！！", "，再不处理我就去投诉", " what is going on?"]


def _told(rng: np.random.Generator, said: list[str], i: int) -> str:
    """One of the ways, with a user's own greeting and ending."""
    return f"{rng.choice(GREETINGS)}{rng.choice(said)}{rng.choice(ENDINGS)} {i}"


def _outage(rng: np.random.Generator) -> tuple[list[Item], list[Item], list[Item]]:
    """Three weeks of ordinary traffic and of system faults in everyday words, then an outage told in a dozen ways,
    each by several users with their own greeting and ending: (everyday, burst, tail 6 h to 40 h after it)."""
    items = _ordinary_week(rng, MONDAY, 21, 1)
    everyday = ["付款的时候App卡了一下，重试就好了", "登录提示密码错误，可我没输错", "账单页面一直转圈，加载不出记录",
                "got system busy when checking my bill", "the app won't show my coupons", "首页广告太多，刷新很慢",
                "在国外登录提示服务暂不可用", "payments page loads slowly", "付款失败，提示余额不足，可我余额够",
                "打开App就提示更新，更新完白屏了一下", "转账到银行卡提示网络错误，重试成功了", "扫码付款要输两次密码",
                "can't log in with fingerprint since the update"]

    items += [_item(300_000 + i, MONDAY + timedelta(hours=int(rng.integers(0, 21 * 24)),
                                                    minutes=int(rng.integers(60))),
                    f"e{i}", _told(rng, everyday, i), None, "system_fault") for i in range(21 * 12)]
    start = MONDAY + timedelta(days=17, hours=2)
    burst = [_item(600_000 + i, start + timedelta(minutes=2 * i), f"p{i}", _told(rng, WAYS, i), None, "system_fault")
             for i in range(60)]
    tail = [_item(700_000 + i, start + timedelta(hours=6, minutes=80 * i), f"t{i}", _told(rng, WAYS, i), None,
                  "system_fault") for i in range(26)]
    return items, burst, tail



def _holding(tracks: list[Track], burst: list[Item]) -> Track:
    [found] = [t for t in tracks if {b.id for b in burst} & t.members.keys()]
    return found


def test_an_outage_told_in_a_few_ways_takes_its_tail_by_its_nearest_complaints(app_config: AppConfig) -> None:
    """An outage told in a dozen ways among everyday faults in the same words and the same greetings: too varied
    for a text cluster and for the incident's centroid to tell most of its tail from the everyday, but a tail
    complaint repeats one of its ways more closely than any everyday complaint does (detection.yaml
    neighbour_margin). The tail joins; the category's everyday complaints of those hours do not. Without it (and
    without the centroids') the tail stays out. Known limit of the centroids' test, not pinned here: this week's
    everyday faults are mostly of one kind (页面一直白屏), which puts the everyday centroid far from the category's
    other kinds, and it takes 15 of them in. Requiring also a non-negative nearest-complaints margin kept them out
    but halved the first stream's fee wave.
    """
    cfg = app_config.detection
    items, burst, tail = _outage(np.random.default_rng(12))
    stream = items + burst + tail

    # The nearest-complaints test alone (the centroid's is off: see the docstring). The surge took a few everyday
    # complaints of the burst's hours in with it, two of one kind (付款的时候App卡了一下): two more of that kind
    # follow them by their words; the other everyday complaints do not.
    outage = _holding(live(replay(cfg.model_copy(update={"content_margin": None}), stream)), burst)
    assert len({t.id for t in tail} & outage.members.keys()) >= 0.6 * len(tail)
    joined = [it for it in outage.members.values() if it.id < 600_000 and it.id in outage.by_words]
    assert len(joined) <= 2 and all("付款的时候app卡了一下" in it.text for it in joined)

    without = _holding(live(replay(cfg.model_copy(update={"content_margin": None, "neighbour_margin": None}),
                                   stream)), burst)
    assert len({t.id for t in tail} & without.members.keys()) <= 0.2 * len(tail)


def test_an_ordinary_surge_merged_into_an_outage_keeps_to_its_own_words(app_config: AppConfig) -> None:
    """The outage's hours are busy for transfers too, told as every day (the money has not arrived): that surge is
    merged into the outage (the whole of two categories within 3 h). Each category of an incident has its own
    words to recognise its tail by: the outage's faults still take their tail, the transfers none of the everyday
    ones that follow. One profile of both had no distinctive words left, and the tail stayed out. Nor do such
    everyday transfers join when the classifier files them under a third category: judged across, they must read
    more like the incident than like the everyday complaints of each of its categories (against the third
    category's alone, the merged surge drew 21 of 26 in); while the outage's tail filed there does join: only the
    categories with distinctive words of their own lend their complaints to that test (with the surge's too, the
    test had no distinctive words left and took none of it)."""
    cfg = app_config.detection
    rng = np.random.default_rng(12)
    items, burst, tail = _outage(rng)

    def transfers(first: int, at: datetime, n: int, minutes: int, category: str = "transfer_delay") -> list[Item]:
        return [_item(first + i, at + timedelta(minutes=minutes * i), f"x{first + i}",  # as _ordinary_week says them
                      f"提现一直未到账 {rng.integers(99)}", None, category) for i in range(n)]

    surge = transfers(800_000, burst[0].at, 90, 2)
    after = transfers(900_000, burst[0].at + timedelta(hours=6), 26, 80)
    filed_elsewhere = transfers(950_000, burst[0].at + timedelta(hours=6, minutes=7), 26, 80, "customer_service")
    tail_elsewhere = [dataclasses.replace(it, id=it.id + 300_000, user=f"c{it.id}", category="customer_service")
                      for it in tail]
    outage = _holding(live(replay(cfg.model_copy(update={"content_margin": None}),
                                  items + burst + tail + surge + after + filed_elsewhere + tail_elsewhere)), burst)
    assert len({x.id for x in surge} & outage.members.keys()) >= 0.5 * len(surge)  # merged in
    assert len({t.id for t in tail} & outage.members.keys()) >= 0.6 * len(tail)
    assert not {x.id for x in after + filed_elsewhere} & outage.members.keys()
    assert len({t.id for t in tail_elsewhere} & outage.members.keys()) >= 0.6 * len(tail_elsewhere)


def test_an_outage_tail_classified_in_another_category_joins_by_the_outages_words(app_config: AppConfig) -> None:
    """After the burst, the outage's users keep writing in its ways, but the classifier files some of them under
    transfers ("转账提示网络错误", "付款转圈然后失败，银行卡扣了钱"). Such a complaint is judged against the outage's
    complaints of the other categories and the everyday complaints of its own: it joins. The transfers of those
    hours in everyday words do not, and everyday system faults filed under transfers join no more often than they
    do filed as system faults (judged across, a complaint must also read more like the incident than like the
    everyday complaints of the incident's own category: against the transfers' alone, 18 of 26 joined). Without
    content_across_categories the outage's tail in transfers stays out."""
    cfg = app_config.detection
    rng = np.random.default_rng(12)
    items, burst, tail = _outage(rng)
    as_transfers = [dataclasses.replace(it, id=it.id + 100_000, user=f"x{it.id}", category="transfer_delay")
                    for it in tail]
    ordinary = [_item(900_000 + i, burst[0].at + timedelta(hours=6, minutes=80 * i), f"o{i}",
                      f"提现一直未到账 {rng.integers(99)}") for i in range(26)]
    faults = ["付款的时候App卡了一下，重试就好了", "账单页面一直转圈，加载不出记录",
              "got system busy when checking my bill", "首页广告太多，刷新很慢", "payments page loads slowly",
              "转账到银行卡提示网络错误，重试成功了"]
    misfiled = [_item(950_000 + i, burst[0].at + timedelta(hours=6, minutes=80 * i + 9), f"m{i}",
                      _told(rng, faults, i), None, "transfer_delay") for i in range(26)]
    filed_right = [dataclasses.replace(it, id=it.id + 10_000, user=f"r{it.id}", category="system_fault")
                   for it in misfiled]
    stream = items + burst + tail + as_transfers + ordinary + misfiled + filed_right
    moved = {it.id for it in as_transfers}

    outage = _holding(live(replay(cfg, stream)), burst)
    assert len(moved & outage.members.keys()) >= 0.6 * len(moved)
    assert not {it.id for it in ordinary} & outage.members.keys()
    assert len({it.id for it in misfiled} & outage.members.keys()) <= len(
        {it.id for it in filed_right} & outage.members.keys())

    within = _holding(live(replay(cfg.model_copy(update={"content_across_categories": False}), stream)), burst)
    assert len(moved & within.members.keys()) <= 0.2 * len(moved)


def test_one_fee_change_told_in_two_languages_is_one_incident_by_its_rate(app_config: AppConfig) -> None:
    """A fee change: Chinese users burst in their words, English users five hours later in theirs (two text
    clusters, too far apart to be one onset, nothing shared but the rate, written 千分之六 and 0.6%). One problem:
    merged on the rate, and the reason says so. Its tail quoting the old rate beside the new one still joins by its
    words. Another rate's burst of the same hours is another problem and stays apart, and so is a 5% cashback
    beside a 5% fee: a rate names a problem within a category only."""
    cfg = app_config.detection
    rng = np.random.default_rng(5)
    items = _ordinary_week(rng, MONDAY, 21, 1)
    start = MONDAY + timedelta(days=16, hours=2)

    def burst(first: int, text: str, hours: int, n: int = 30, minutes: int = 4,
              category: str = "fees_pricing") -> list[Item]:
        return [_item(first + i, start + timedelta(hours=hours, minutes=minutes * i + 7), f"{first}-{i}",
                      text.format(i=i), None, category) for i in range(n)]

    zh = burst(600_000, "这个月开始往卡里转钱突然要收千分之六的手续费，以前是免费的 {i}", 0)
    en = burst(700_000, "starting this month moving money to my card costs 0.6%, it used to be free {i}", 5)
    tail = burst(750_000, "急！往卡里转钱突然要收千分之六的手续费，以前是千分之一，给个说法 {i}", 10, 10, 170)
    incidents = live(replay(cfg, items + zh + en + tail))
    [fee] = [t for t in incidents if {x.id for x in zh} & t.members.keys()]
    assert len({x.id for x in zh + en} & fee.members.keys()) >= 0.9 * len(zh + en)
    assert any("rate=0.6%" in e for m in fee.merged for e in m["evidence"])
    assert len({x.id for x in tail} & fee.by_words) >= 0.5 * len(tail)

    other = burst(800_000, "starting this month topping up by credit card costs 2.5%, it used to be free {i}", 5)
    cashback = burst(850_000, "双十一活动说好的返现5%，到现在一分钱都没返 {i}", 0, category="marketing")
    five = burst(900_000, "credit card repayment suddenly charged a 5% fee, never did before {i}", 8)
    for a, b in ((zh, other), (cashback, five)):
        [of_a] = [t for t in live(replay(cfg, items + a + b)) if {x.id for x in a} & t.members.keys()]
        assert not {x.id for x in b} & of_a.members.keys()


def test_an_outage_tail_alarmed_on_its_own_entity_is_merged_by_its_words(app_config: AppConfig) -> None:
    """Five hours after the outage's burst, its users at one merchant write in its ways fast enough for an alarm on
    that merchant: judged by their words two hours later, they would have joined the outage, but the alarm opened
    an incident first. Most of them read like the outage by its words: one incident. With no test by words, two."""
    cfg = app_config.detection
    rng = np.random.default_rng(12)
    items, burst, tail = _outage(rng)
    at_shop = [_item(800_000 + i, burst[0].at + timedelta(hours=5, minutes=2 * i), f"m{i}",
                     _told(rng, WAYS, i), "商户99", "system_fault")
               for i in range(25)]
    stream = items + burst + tail + at_shop
    shop = {x.id for x in at_shop}

    merged = _holding(live(replay(cfg, stream)), burst)
    assert len(shop & merged.members.keys()) >= 0.9 * len(shop)
    assert any("read like the older's" in e for m in merged.merged for e in m["evidence"])

    apart = live(replay(cfg.model_copy(update={"content_margin": None, "neighbour_margin": None}), stream))
    assert len(shop & _holding(apart, burst).members.keys()) <= 0.1 * len(shop)
    assert any(len(shop & t.members.keys()) >= 0.9 * len(shop) for t in apart)


def test_two_merchants_bursts_in_one_template_stay_two_incidents(app_config: AppConfig) -> None:
    """The same refund complaint about two merchants a day apart: alike in every word but the merchant's name, two
    problems. Neither merchant's complaints join the other's incident by their words, and the incidents are not
    merged for their shared phrases (an incident about merchant A and one about merchant B); nor does a trickle
    about a third merchant, too small for an incident, join A's by its words."""
    cfg = app_config.detection
    rng = np.random.default_rng(4)
    items = _ordinary_week(rng, MONDAY, 21, 1)
    template = ["在{m}买的东西退货了，退款一直没到账 {i}", "{m}的退款申请通过了但钱没退回来 {i}",
                "refund from {m} approved days ago, still not in my wallet {i}"]
    start = MONDAY + timedelta(days=16, hours=2)

    def burst(first: int, merchant: str, at: datetime, n: int, minutes: int) -> list[Item]:
        return [_item(first + i, at + timedelta(minutes=minutes * i), f"{merchant}-{i}",
                      str(rng.choice(template)).format(m=merchant, i=i), merchant, "refund_after_sales")
                for i in range(n)]

    a = burst(600_000, "星辰数码", start, 40, 3) + burst(650_000, "星辰数码", start + timedelta(hours=3), 20, 45)
    b = burst(700_000, "蓝海生鲜", start + timedelta(hours=20), 40, 3)
    incidents = live(replay(cfg, items + a + b))
    [of_a] = [t for t in incidents if len({x.id for x in a} & t.members.keys()) >= 0.9 * len(a)]
    [of_b] = [t for t in incidents if len({x.id for x in b} & t.members.keys()) >= 0.9 * len(b)]
    assert of_a is not of_b
    assert not {x.id for x in b} & of_a.members.keys() and not {x.id for x in a} & of_b.members.keys()

    # A few complaints about a third merchant in the same words, too few for an incident of their own: they read
    # like merchant A's incident, but name another merchant, so they are another problem and stay outside.
    c = burst(800_000, "云朵家居", start + timedelta(hours=4), 6, 120)
    incidents = live(replay(cfg, items + a + c))
    [of_a] = [t for t in incidents if len({x.id for x in a} & t.members.keys()) >= 0.9 * len(a)]
    assert not {x.id for x in c} & of_a.members.keys()


def test_an_outage_whose_error_code_reaches_its_own_alarm_later_is_one_incident(app_config: AppConfig) -> None:
    """An outage found as a surge of system faults told in each user's words; a few of its first users write the
    error code, each in their own way (E-5031, 错误代码 5031, code 5031, ERR_5031). Hours later the code has
    enough users of its own (failed transfers naming it) to open an incident: that is the same outage, merged
    into the surge's incident (it had stayed a parallel incident: the code is in a few of the surge's complaints,
    not in the 30% a shared entity needs)."""
    cfg = app_config.detection
    rng = np.random.default_rng(4)
    items = _ordinary_week(rng, MONDAY, 21, 1)
    start = MONDAY + timedelta(days=16, hours=2)
    faults = ["app闪退{}次了", "付款页面打不开 {}", "登录一直转圈 {}", "the app keeps crashing ({})", "支付失败了{}"]
    written = ["付款失败，提示E-5031", "扫码付款报错 错误代码 5031", "payment failed with code 5031",
               "Getting ERR_5031 every time I pay", "支付不了(E5031)"]
    surge = [_item(500_000 + i, start + timedelta(minutes=int(rng.integers(0, 150))), f"c{i}",
                   (written[i] if i < len(written) else str(rng.choice(faults)).format(rng.integers(10_000))),
                   None, "system_fault") for i in range(60)]
    code = [_item(600_000 + i, start + timedelta(hours=5, minutes=20 * i), f"k{i}",
                  f"转账{rng.integers(50, 999)}元提示{rng.choice(['E5031', '错误码 5031', 'error 5031'])}，钱没到",
                  None, "transfer_delay") for i in range(15)]
    assert {e for it in surge[:5] + code for e in it.entities} == {("error_code", "E5031")}

    outage = [t for t in live(replay(cfg, items + surge + code)) if t.detected_at >= MONDAY + timedelta(days=7)]
    [incident] = outage
    assert {incident.signature, *incident.signatures} >= {"category=system_fault|any=*", "category=*|error_code=E5031"}
    held = {it.id for it in surge + code} & incident.members.keys()
    assert len(held) >= 0.9 * len(surge + code)
    evidence = [e for merge in incident.merged for e in merge["evidence"]]
    assert any("error_code=E5031" in e and "before the other opened" in e for e in evidence), evidence


def test_an_incidents_own_error_code_joins_it_while_active_and_an_everyday_code_does_not(
        app_config: AppConfig) -> None:
    """An outage's code E4410, which no complaint of the week before named, opens an incident; the regulator's
    referrals naming it come dated two days on, past join_hours: they join while it is active. E1001 is named now
    and then (once in 40 hours, so not on a typical day): its burst opens an incident too, but its complaints of two
    days on are ordinary ones and stay out (they would keep it from ever going quiet). So does E2002, which only a
    date-only referral named, whose day (stored at its start in the writer's time zone) ended 12 h before the outage
    opened; E3003's referral, whose day ended 11 h before, may be the outage's own: E3003 lasts. Content joins are
    off: this is about the code."""
    cfg = app_config.detection.model_copy(update={"content_margin": None, "neighbour_margin": None})
    rng = np.random.default_rng(6)
    items = _ordinary_week(rng, MONDAY, 21, 1)
    everyday = [_item(300_000 + i, MONDAY + timedelta(hours=40 * i + 1), f"e{i}", "余额提现失败，提示E1001",
                      None, "transfer_delay") for i in range(16 * 24 // 40)]
    start = MONDAY + timedelta(days=16, hours=2)
    everyday += [_item(310_000 + n, start - timedelta(hours=hours), f"d{n}", f"Payment failed with error {code}",
                       None, "system_fault", dated=True)
                 for n, (code, hours) in enumerate((("E2002", 36), ("E3003", 35)))]
    bursts = {code: [_item(base + i, start + timedelta(minutes=4 * i), f"{code}-{i}", f"支付失败了，错误码{code}",
                           None, "system_fault") for i in range(30)]
              for code, base in (("E4410", 500_000), ("E1001", 510_000), ("E2002", 540_000), ("E3003", 560_000))}
    day = (start + timedelta(days=2)).replace(hour=0)
    later = {code: [_item(base + i, day, f"r{code}-{i}", text.format(code), None, "system_fault", dated=True)
                    for i in range(6)]
             for code, base, text in (("E4410", 520_000, "I could not pay for hours, the app showed {}"),
                                      ("E1001", 530_000, "I could not pay for hours, the app showed {}"),
                                      ("E2002", 550_000, "my transfer was rejected with {} and nobody helps"),
                                      ("E3003", 570_000, "{} every time I open the wallet, support never answers"))}
    assert day - start > timedelta(hours=cfg.join_hours)
    tracks = [t for t in live(replay(cfg, items + everyday + [it for b in (*bursts.values(), *later.values())
                                                               for it in b]))
              if t.detected_at >= MONDAY + timedelta(days=7)]
    by_code = {code: next(t for t in tracks if f"error_code={code}" in t.signature) for code in bursts}
    assert by_code["E2002"].opened_window == by_code["E3003"].opened_window == start
    assert {it.id for it in later["E4410"] + later["E3003"]} <= {m for code in ("E4410", "E3003")
                                                              for m in by_code[code].members}
    held = {m for t in tracks for m in t.members}
    assert not {it.id for it in later["E1001"] + later["E2002"]} & held


def test_a_surge_goes_on_joining_its_incident_in_its_first_hours(app_config: AppConfig) -> None:
    """An outage told in each user's own words: its first two hours make system faults surge and open the incident;
    the next hours still run at several times the usual rate, but fewer than at the start. They join: in the first
    hours of its incident (surges.related_hours), the surge is tested on all of the category's users, its
    incident's included (it was tested on the others alone, which are no surge by themselves, and the outage's
    later hours stayed outside).
    Content joins are off: their words would bring them in too, and this is about the counts."""
    cfg = app_config.detection.model_copy(update={"content_margin": None, "neighbour_margin": None})
    rng = np.random.default_rng(9)
    items = _ordinary_week(rng, MONDAY, 21, 1)
    start = MONDAY + timedelta(days=16, hours=2)
    openers = ["今天中午开始", "刚才", "从十点多起", "this morning", "just now", "since lunch", "一直", "好几次了"]
    faults = ["app闪退", "付款页面打不开", "登录一直转圈", "the app keeps crashing", "支付失败", "扫码没反应",
              "payments won't go through", "首页白屏"]
    tails = ["，急死了", "，怎么回事？", " please fix it", "，店员都等着", " and nobody answers", "，重启也没用", "!!",
             ""]

    def worded() -> str:  # each user's own words: no two alike enough for a text cluster
        return f"{rng.choice(openers)}{rng.choice(faults)}{rng.choice(tails)}"

    first = [_item(500_000 + i, start + timedelta(minutes=2 * i), f"c{i}", worded(), None, "system_fault")
             for i in range(60)]
    later = [_item(600_000 + i, start + timedelta(hours=2, minutes=12 * i), f"d{i}", worded(), None, "system_fault")
             for i in range(15)]
    [incident] = [t for t in live(replay(cfg, items + first + later)) if t.detected_at >= MONDAY + timedelta(days=7)]
    assert incident.signature == "category=system_fault|any=*"
    assert len({it.id for it in first} & incident.members.keys()) >= 0.9 * len(first)
    # In its first surges.related_hours: afterwards a surge of the category is tested as a new burst.
    early = {it.id for it in later if it.at < incident.detected_at + timedelta(hours=cfg.surges.related_hours)}
    assert len(early) >= 8 and len(early & incident.members.keys()) >= 0.8 * len(early)


def _store(s: Session, items: list[Item], texts: dict[int, str]) -> list[Complaint]:
    """Items as stored complaints, classified as the item says (detection reads only stored rows)."""
    stored = []
    for it in items:
        c = complaint(s, texts[it.id], at=it.at, contact=f"{it.user}@example.com")
        c.category, c.processed_at = it.category, it.at
        stored.append(c)
    s.flush()
    return stored


def _incidents_with_members(s: Session) -> dict[tuple[str, datetime], frozenset[str]]:
    """Each incident that holds complaints (one merged into another holds none; an hourly run keeps it, resolved,
    where a backfill that opened and merged it in one run never stored it): its members' contacts."""
    members: dict[int, set[str]] = {}
    for incident_id, contact in s.execute(select(Complaint.incident_id, Complaint.contact)
                                          .where(Complaint.incident_id.is_not(None))):
        members.setdefault(incident_id, set()).add(contact)
    return {(i.signature, i.opened_window): frozenset(members[i.id])
            for i in s.execute(select(Incident)).scalars() if i.id in members}


def test_hourly_runs_and_one_backfill_make_the_same_incidents(db_url: str, app_config: AppConfig) -> None:
    """What `complaints detect --since --until` promises, with what detection carries from one hourly run to the
    next in the database (content joins' profiles, incidents merged, surges): a week of history, then a phishing
    wave and its slow tail, and an outage found as a surge whose error code opens an incident of its own hours
    later. Hour by hour, each run seeing only the complaints received so far, and one backfill over the same
    complaints afterwards (the same database, detection forgotten) make the same incidents with the same members."""
    det, tax = app_config.detection, app_config.taxonomy
    rng = np.random.default_rng(3)
    items = _ordinary_week(rng, MONDAY, 10, 1)
    everyday = ["忘记登录密码了怎么重置", "账户被冻结了要求解冻", "换手机后收不到验证码", "人脸识别一直不通过",
                "cannot reset my payment PIN"]
    items += [_item(300_000 + i, MONDAY + timedelta(hours=int(rng.integers(0, 10 * 24)), minutes=int(rng.integers(60))),
                    f"e{i}", f"{rng.choice(everyday)} {rng.integers(999)}", None, "account_security")
              for i in range(10 * 12)]
    wave = ["收到冒充客服的短信，点了里面的链接，账户里的钱被转走了", "短信说我的账户异常要我点链接验证，点完余额没了",
            "got a text pretending to be your support, clicked the link and my balance was drained",
            "冒充官方的短信链接，输入了验证码后被盗刷"]
    start = MONDAY + timedelta(days=8, hours=2)
    items += [_item(500_000 + i, start + timedelta(minutes=3 * i), f"p{i}", f"{rng.choice(wave)} {i}", None,
                    "account_security") for i in range(40)]
    items += [_item(600_000 + i, start + timedelta(hours=3, minutes=55 * i), f"t{i}", f"{rng.choice(wave)} {i}",
                    None, "account_security") for i in range(20)]
    outage = start + timedelta(hours=20)
    faults = ["app闪退了", "付款页面打不开", "登录一直转圈", "the app keeps crashing", "支付失败，急死了", "扫码没反应"]
    items += [_item(700_000 + i, outage + timedelta(minutes=2 * i), f"o{i}",
                    "付款失败，提示E-5031" if i < 3 else f"{rng.choice(faults)} {rng.integers(99)}", None,
                    "system_fault") for i in range(50)]
    items += [_item(800_000 + i, outage + timedelta(hours=4, minutes=15 * i), f"k{i}", f"转账提示错误代码 5031 {i}",
                    None, "transfer_delay") for i in range(15)]
    texts = {it.id: it.text for it in items}
    crisis_day = MONDAY + timedelta(days=8)
    hourly: dict[datetime, list[Item]] = {}
    for it in items:
        hourly.setdefault(it.at.replace(minute=0, second=0, microsecond=0), []).append(it)

    with session_scope(db_url) as s:
        _store(s, [it for it in items if it.at < crisis_day], texts)
        detect_window(s, det, tax, MONDAY, crisis_day)
        s.commit()
        for hour in sorted(h for h in hourly if h >= crisis_day):  # the hourly runs
            detect(s, det, tax, _store(s, hourly[hour], texts))
            s.commit()
        found = _incidents_with_members(s)
        # What is carried between runs was used: complaints joined by their words, an incident merged into another.
        assert s.execute(select(func.count()).where(Complaint.joined_by_words)).scalar_one() > 0
        assert any(i.reason.get("merged") for i in s.execute(select(Incident)).scalars())
        # The same database, detection forgotten, one backfill over the whole stream.
        s.execute(update(Complaint).values(incident_id=None, joined_by_words=False, detected_at=None))
        s.execute(delete(Incident))
        s.commit()
        detect_window(s, det, tax, MONDAY, MONDAY + timedelta(days=11))
        s.commit()
        assert _incidents_with_members(s) == found
    # And what they found is what the stream holds: the wave with most of its tail, the outage as one incident.
    [wave_members] = [m for m in found.values() if "p0@example.com" in m]
    assert sum(f"t{i}@example.com" in wave_members for i in range(20)) >= 15
    [outage_members] = [m for m in found.values() if "o10@example.com" in m]
    assert all(f"k{i}@example.com" in outage_members for i in range(15))


def test_a_code_burst_does_not_merge_into_an_incident_that_named_it_in_passing(app_config: AppConfig) -> None:
    """A merchant's refund burst in which three users also mention a common error (error 404, in the everyday
    complaints too); hours later that error bursts on its own in other complaints. Two problems: a code merges
    into an older incident only when that is a whole category's surge whose complaints named it improbably often
    for its rate before (this merged on "the code is rarer in the day's other complaints")."""
    cfg = app_config.detection
    rng = np.random.default_rng(12)
    items = _ordinary_week(rng, MONDAY, 21, 1)
    items += [_item(300_000 + i, MONDAY + timedelta(hours=int(rng.integers(0, 21 * 24))), f"e{i}",
                    f"页面打不开，显示error 404 {i}", None, "system_fault") for i in range(40)]
    start = MONDAY + timedelta(days=16, hours=2)
    refunds = [_item(500_000 + i, start + timedelta(minutes=3 * i), f"r{i}",
                     f"在美团退款一直没到账，页面还报 error 404 {i}" if i < 3 else f"在美团退款一直没到账 {i}",
                     "美团", "refund_after_sales") for i in range(20)]
    errors = [_item(600_000 + i, start + timedelta(hours=5, minutes=4 * i), f"x{i}", f"一打开就 error 404 了 {i}",
                    None, "system_fault") for i in range(15)]
    incidents = live(replay(cfg, items + refunds + errors))
    [of_refunds] = [t for t in incidents if "r5" in t.users]
    [of_errors] = [t for t in incidents if "x5" in t.users]
    assert of_refunds is not of_errors


def test_a_quiet_categorys_everyday_complaints_do_not_join_its_surge(app_config: AppConfig) -> None:
    """A quiet category (about three complaints a day) surges with 40 users in 80 minutes; two ordinary questions
    an hour later are no part of it: in its first hours a surge takes new users only while they are as many as
    the smallest burst (they had joined: three times a quiet category's expected is less than one user)."""
    cfg = app_config.detection.model_copy(update={"content_margin": None, "neighbour_margin": None})
    rng = np.random.default_rng(9)
    items = _ordinary_week(rng, MONDAY, 21, 1)
    items += [_item(900_000 + i, MONDAY + timedelta(days=int(d), hours=int(rng.integers(0, 15)),
                                                    minutes=int(rng.integers(60))),
                    f"q{i}", f"问一下账户安全设置 {i}", None, "account_security")
              for i, d in enumerate(rng.integers(0, 21, 63))]
    start = MONDAY + timedelta(days=16, hours=2)
    hacked = ["账户被盗", "余额被转走", "收到陌生登录提醒", "my account was hacked", "密码被改了", "绑定手机被换"]
    burst = [_item(500_000 + i, start + timedelta(minutes=2 * i), f"c{i}",
                   f"{rng.choice(['刚才', 'this morning', '一直', '好几次了'])}{rng.choice(hacked)} {i}", None,
                   "account_security") for i in range(40)]
    ordinary = [_item(950_000 + i, start + timedelta(hours=h), f"x{i}", f"怎么修改登录密码 {i}", None,
                      "account_security") for i, h in enumerate([2.2, 2.7])]
    [incident] = [t for t in live(replay(cfg, items + burst + ordinary))
                  if t.detected_at >= MONDAY + timedelta(days=7)]
    assert {it.id for it in burst} <= incident.members.keys()
    assert not {it.id for it in ordinary} & incident.members.keys()


GREETING = ["", "Hello there, ", "I saw others posting about this. ", "您好，我想反映一下，", "Please read. "]
SIGN_OFF = ["", " I expect compensation.", ", this is the second time I'm reporting it", " Please sort it out.",
            "，请尽快处理", " I need an explanation."]


def test_the_channels_frame_is_learnt_from_every_category_and_trimmed_from_the_ends() -> None:
    problems = {"transfer_delay": "my withdrawal never arrived", "fees_pricing": "the new transfer fee is too high",
                "system_fault": "the page stays blank", "refund_after_sales": "the refund is still missing",
                "marketing": "the coupon does not apply", "privacy": "strangers call me about my loan"}
    said = [(cat, (MONDAY + timedelta(days=n % 7)).date(), _skeleton(f"{GREETING[n % 5]}{text} {SIGN_OFF[n // 6 % 6]}"))
            for n in range(600) for cat, text in [list(problems.items())[n % 6]]]
    frame = learn(said, 0.003)
    assert frame.trim(_skeleton("Hello there, the new transfer fee is too high, this is the second time I'm "
                                "reporting it")) \
        == _skeleton("the new transfer fee is too high")
    assert frame.trim(_skeleton("您好，我想反映一下，the page stays blank，请尽快处理")) == _skeleton(
        "the page stays blank")
    # A problem's words are in one category: never the frame, however common.
    assert frame.trim(_skeleton("my withdrawal never arrived")) == _skeleton("my withdrawal never arrived")
    assert learn(said[:9], 0.003) == NO_FRAME  # too few to tell a formula from chance
    assert learn(said, None) == NO_FRAME
    # A crisis told in one sentence across five categories for two days is no formula: it is not said every day.
    outage = "付款时提示系统繁忙稍后再试然后就卡住了"
    crisis = [(cat, (MONDAY + timedelta(days=n % 2)).date(), _skeleton(f"{GREETING[n % 5]}{outage}"))
              for n in range(60) for cat in [list(problems)[n % 5]]]
    assert learn(said + crisis, 0.003).trim(crisis[0][2]) == _skeleton(outage)


def _skeleton(text: str) -> str:
    return skeleton(masked_text(text))


def test_one_description_greeted_and_signed_off_differently_is_one_text_burst(db_url: str,
                                                                            app_config: AppConfig) -> None:
    """Users who write the same words about an outage, each with their own greeting and ending (or an agent's
    formula), are one text group: with whole texts compared, no two endings are alike enough and the burst is
    split into groups too small for an alarm."""
    rng = np.random.default_rng(8)
    everyday = {"transfer_delay": "提现一直未到账", "fees_pricing": "手续费太高了", "system_fault": "页面一直白屏",
                "refund_after_sales": "退款还没退回", "marketing": "优惠券用不了", "customer_service": "客服电话打不通"}
    week, burst = MONDAY, MONDAY + timedelta(days=7, hours=9)
    shares = {}
    for frame_share in (None, app_config.detection.frame_share):
        cfg = app_config.model_copy(update={"detection": app_config.detection.model_copy(
            update={"frame_share": frame_share})})
        with session_scope(db_url) as s:
            s.execute(delete(Complaint))
            s.execute(delete(Incident))
            categories: dict[int, str] = {}
            for n in range(7 * 60):
                category, text = list(everyday.items())[n % 6]
                at = week + timedelta(hours=int(rng.integers(7 * 24)))
                c = complaint(s, f"{GREETING[n % 5]}{text}{SIGN_OFF[n // 6 % 6]}", at=at,
                              contact=f"e{n}@example.com")
                categories[c.id] = category
            s.flush()
            _stage(s, cfg, categories)
            users = []
            for i in range(8):
                c = complaint(s, f"{GREETING[i % 5]}what is going on with you today? nothing works{SIGN_OFF[i % 6]}",
                              at=burst + timedelta(minutes=7 * i), contact=f"b{i}@example.com")
                users.append(c.id)
            s.flush()
            opened = _stage(s, cfg, dict.fromkeys(users, "system_fault"))
            held = [len(set(users) & set(s.scalars(select(Complaint.id).where(Complaint.incident_id == i))))
                    for i in opened]
            shares[frame_share] = max(held, default=0)
    assert shares == {None: 0, app_config.detection.frame_share: 8}


def test_a_categorys_everyday_wording_is_no_burst_of_its_own_but_a_crisis_told_again_is(
        app_config: AppConfig) -> None:
    """Most refund complaints are one template: when the category surges, that template is no problem's
    description of its own. The surge alarms as the category's, not as its wording too. A crisis described in one
    sentence that recurs five days later (its incident quiet) alarms again as that text: a burst earlier in the week
    makes no everyday wording (the median day counts, not the mean)."""
    cfg = app_config.detection
    rng = np.random.default_rng(4)
    template = "退款申请提交好几天了还是没有退回来"
    items: list[Item] = []

    def say(at: datetime, category: str, text: str) -> None:
        items.append(_item(len(items) + 1, at, f"u{len(items) + 1}", text, category=category))

    def refunds(start: datetime, hours: float, n: int) -> None:
        for _ in range(n):
            say(start + timedelta(hours=float(rng.uniform(0, hours))), "refund_after_sales",
                template if rng.random() < 0.6 else f"退款问题{rng.integers(10_000)}号订单")

    for d in range(21):
        refunds(MONDAY + timedelta(days=d), 24, int(rng.poisson(40)))
        for category, n in (("transfer_delay", 120), ("system_fault", 30)):
            for _ in range(int(rng.poisson(n))):
                say(MONDAY + timedelta(days=d, hours=float(rng.uniform(0, 24))), category,
                    f"{category}问题{rng.integers(10_000)}")
    busy = MONDAY + timedelta(days=16, hours=9)
    refunds(busy, 3, 100)
    kinds = {a.group.kind for a in find_alarms(cfg, busy + timedelta(hours=2), MemorySource(items))
             if a.group.category == "refund_after_sales"}
    assert kinds == {"any"}

    outage = "付款时提示系统繁忙稍后再试然后就卡住了"
    for start in (MONDAY + timedelta(days=10, hours=9), MONDAY + timedelta(days=15, hours=9)):
        for i in range(30):
            say(start + timedelta(minutes=4 * i), "system_fault", outage)
    opened = [t for t in live(replay(cfg, items)) if t.detected_at >= MONDAY + timedelta(days=8)]
    assert sorted(t.detected_at.day for t in opened if t.group.kind == "text") == [12, 17]
