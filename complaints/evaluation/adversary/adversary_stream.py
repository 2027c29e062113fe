"""Adversarial hold-out stream for the complaint-operations product (standard library only, Python 3.11).

write(folder, seed, per_day, weeks) writes channel files (app JSON lines, GBK hotline CSV, web-form CSV with BOM,
CFPB-layout regulator referrals), a sources.yaml for them and truth.jsonl (person, problem, category, crisis and
the person identifiers of every valid row). See README.md next to this file.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import math
import pathlib
import random
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo


def _load_texts() -> Any:
    """The phrase bank lives next to this file; load it whether or not the folder is on sys.path."""
    path = pathlib.Path(__file__).with_name("adversary_texts.py")
    spec = importlib.util.spec_from_file_location("adversary_texts", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("adversary_texts", module)
    spec.loader.exec_module(module)
    return module


T = _load_texts()

START = date(2026, 10, 26)  # a Monday; five weeks end 2026-11-29, safely in the past of the product's clock
SHANGHAI, NEW_YORK = ZoneInfo("Asia/Shanghai"), ZoneInfo("America/New_York")
US_ZONES = [("America/New_York", ["NY", "NJ", "PA", "MA", "FL", "GA"]), ("America/Chicago", ["IL", "TX", "MN", "MO"]),
            ("America/Denver", ["CO", "AZ", "UT"]), ("America/Los_Angeles", ["CA", "WA", "OR", "NV"])]
COMPANY = "NORTHSTAR DIGITAL WALLET, INC."
CFPB_COLUMNS = ["Date received", "Product", "Sub-product", "Issue", "Sub-issue", "Consumer complaint narrative",
                "Company public response", "Company", "State", "ZIP code", "Tags", "Consumer consent provided?",
                "Submitted via", "Date sent to company", "Company response to consumer", "Timely response?",
                "Consumer disputed?", "Complaint ID"]
HOTLINE_COLUMNS = ["工单号", "受理时间", "客户编号", "联系电话", "联系邮箱", "业务类型", "问题描述", "涉及金额", "商户名称",
                   "所在地区", "坐席工号", "处理状态"]
WEB_COLUMNS = ["ticket_no", "created", "name", "email", "account_no", "country", "subject", "message"]
CATEGORY_WEIGHTS = {"transfer_delay": 17, "refund_after_sales": 14, "account_security": 11, "fees_pricing": 9,
                    "customer_service": 9, "system_fault": 9, "feature_limit": 7, "usability": 5, "marketing": 6,
                    "compliance": 5, "privacy": 3, "device_quality": 2.5, "other": 3}
CFPB_CATEGORY_WEIGHTS = {"account_security": 25, "transfer_delay": 22, "refund_after_sales": 15, "fees_pricing": 10,
                         "compliance": 10, "customer_service": 8, "system_fault": 5, "feature_limit": 2,
                         "marketing": 2, "privacy": 1}
# Regulator rows without narrative carry only their Issue: only where the Issue names the category.
NEEDS_NARRATIVE = {"compliance", "system_fault", "feature_limit", "privacy", "usability", "other"}
MONEY = {"account_security", "fees_pricing", "transfer_delay", "refund_after_sales", "system_fault", "compliance"}
HOUR_W = [.3, .2, .1, .1, .1, .2, .5, 1, 1.6, 2.2, 2.5, 2.4, 2, 2.2, 2.3, 2.2, 2, 1.9, 1.8, 2, 2.3, 2.4, 1.8, .9]
DOW_W = [1.15, 1.05, 1.0, 1.0, .95, .8, .75]
BANKS_CN = [("招商银行", "China Merchants Bank"), ("工商银行", "ICBC"), ("建设银行", "CCB"), ("农业银行", "ABC"),
            ("中国银行", "Bank of China"), ("交通银行", "BoCom"), ("浦发银行", "SPDB"), ("邮储银行", "Postal Savings Bank")]
BANKS_US = [("大通银行", "Chase"), ("美国银行", "Bank of America"), ("富国银行", "Wells Fargo"), ("花旗银行", "Citi"), ("第一资本", "Capital One")]
MERCH_CN = [("美团", "Meituan"), ("拼多多", "Pinduoduo"), ("滴滴出行", "DiDi"), ("京东", "JD.com"), ("携程", "Trip.com"),
            ("盒马", "Hema"), ("瑞幸咖啡", "Luckin Coffee"), ("喜茶", "Heytea"), ("一家叫悦享生活的网店", "an online shop called Yuexiang Life"),
            ("楼下的便利店", "the convenience store downstairs"), ("12306", "12306 rail tickets"), ("得物", "Dewu"), ("健身房", "my gym")]
MERCH_US = [("亚马逊", "Amazon"), ("优步", "Uber"), ("DoorDash", "DoorDash"), ("Etsy", "an Etsy seller"), ("Spotify", "Spotify"),
            ("StubHub", "StubHub"), ("Best Buy", "Best Buy"), ("一家网店", "an online store")]
FRIENDS = [("朋友", "a friend"), ("我妈", "my mum"), ("房东", "my landlord"), ("同事", "a colleague"), ("我老公", "my husband"),
           ("我女儿", "my daughter"), ("装修师傅", "the contractor"), ("我弟", "my brother")]
CITIES = [("上海", "Shanghai"), ("北京", "Beijing"), ("广州", "Guangzhou"), ("深圳", "Shenzhen"), ("成都", "Chengdu"), ("杭州", "Hangzhou"),
          ("武汉", "Wuhan"), ("西安", "Xi'an"), ("南京", "Nanjing"), ("重庆", "Chongqing"), ("昆明", "Kunming"), ("哈尔滨", "Harbin")]
DEVICES = ["iPhone 15", "iPhone 13", "华为Mate 60", "小米14", "OPPO Reno10", "vivo X100", "红米Note 12", "Pixel 8", "Galaxy S23", "荣耀90"]
ERR_CODES = ["1001", "AE15", "5002", "E-104", "40013", "T0012", "RC-77", "2019", "SYS-09", "E1207", "403", "9008"]
SURNAMES = ["wang", "li", "zhang", "liu", "chen", "yang", "huang", "zhao", "wu", "zhou", "xu", "sun", "ma", "zhu", "hu", "guo", "he", "lin"]
GIVEN = ["wei", "fang", "na", "min", "jing", "lei", "yang", "jun", "tao", "ming", "chao", "xiu", "hui", "qiang", "yan", "xin", "yu", "hao"]
FIRST = ["james", "mary", "john", "linda", "mike", "sarah", "david", "emma", "chris", "anna", "tom", "kate", "alex", "olivia", "dan", "zoe"]
LAST = ["smith", "johnson", "brown", "garcia", "miller", "davis", "lee", "walker", "hall", "young", "king", "wright", "scott", "green"]
CN_MAIL = ["qq.com", "163.com", "126.com", "gmail.com", "outlook.com", "foxmail.com", "sina.com", "hotmail.com"]
EN_MAIL = ["gmail.com", "outlook.com", "yahoo.com", "icloud.com", "hotmail.com", "proton.me"]
ZH_OPEN = ["", "", "", "", "你好，", "客服你好，", "我要投诉！", "请问", "烦死了，", "急！", "在吗？"]
ZH_DEMAND = ["请尽快处理", "给个说法", "请尽快给我解决", "再不处理我就去12363投诉", "麻烦回个电话", "希望尽快回复", "", "", "", "你们到底管不管"]
ZH_EMO = ["😡", "😤", "🙏", "😭", "💢", "👎", "！！！", "？？？", "。。。", "无语", "服了", "太坑了"]
EN_OPEN = ["", "", "", "Hi, ", "Hello, ", "Hey ", "Complaint: ", "URGENT: ", "Please help. "]
EN_DEMAND = ["Please fix this.", "I want this sorted today.", "Please call me back.", "I expect my money back.",
             "If this isn't resolved I'm going to the CFPB.", "", "", "", "What is going on?"]
EN_EMO = ["😡", "🙄", "👎", "😤", "!!!", "??", "..."]
HL_PREFIX = ["客户来电反映：", "客户来电称", "来电人表示", "用户致电投诉，称", "客户（{sex}士）来电，称", "来电客户反映", "cx来电：", "客户来电，"]
HL_SUFFIX = ["。客户情绪激动，要求尽快回复。", "，已安抚，承诺48小时内回电。", "。已核实身份，转二线跟进。", "，坐席已解释，客户不认可，要求升级。",
             "。诉求：尽快处理。", "。\n客户诉求：给出书面答复。", "，已记录。", "。已告知处理时效3-5个工作日。", "。客户称如不解决将向人民银行反映。"]
HL_REPEAT = ["客户称此前已在App内反馈过，至今无人联系。", "客户表示昨日已来电一次。", "客户第{n}次来电。", "客户称已发过邮件，无人回复。"]
EN_HL_PREFIX = ["Caller states ", "Cust advised ", "CX called in re: ", "Customer rang to say ", "Caller (English) reports "]
EN_HL_SUFFIX = ["; advised 3-5 working days.", ". Escalated to L2.", ". Caller upset, wants callback.", ". Explained process, cust not satisfied.", "."]
BUSINESS_TYPES = ["支付", "转账提现", "账户", "退款", "其他", "咨询", "投诉", "商户服务"]
APP_TOPICS = {"zh": ["支付问题", "账户问题", "其他", "功能建议", "投诉"], "en": ["Payments", "Account", "Other", "Suggestion", "Complaint"]}


@dataclass
class Person:
    pid: int
    lang: str
    acct: str
    tz: ZoneInfo
    email: str | None = None
    phone: str | None = None  # E.164
    trad: bool = False
    us: bool = False
    state: str = ""
    city: tuple[str, str] = ("上海", "Shanghai")
    name: str = ""
    currency: str = "CNY"
    typo: float = 0.0
    emoji: float = 0.0


@dataclass
class Episode:
    person: Person
    problem: int
    category: str
    variants: dict[str, list[str]]
    facts: dict[str, Any]
    t0: datetime
    crisis: str | None = None
    template: str | None = None  # a copied social-media text (regulator only)


@dataclass
class Row:
    source: str
    when: datetime
    ep: Episode
    fields: dict[str, Any]
    ids: list[str]
    date_only: date | None = None
    eid: str = ""


class Gen:
    """All randomness flows through self.r, so one seed gives one stream."""

    def __init__(self, seed: int, per_day: float, weeks: int) -> None:
        self.r = random.Random(seed)
        self.per_day, self.weeks = per_day, weeks
        self.days = weeks * 7
        self.end = datetime.combine(START + timedelta(days=self.days), time(), SHANGHAI)
        self.people: list[Person] = []
        self.problems = 0
        self.rows: list[Row] = []
        self.used: set[str] = set()
        self.by_day: dict[int, list[Episode]] = defaultdict(list)
        self.escalated: set[int] = set()
        self.outage_day = min(self.days - 5, 23)
        self.phish_day = min(self.days - 3, 31)
        self.crisis_names = {"outage": f"outage-{START + timedelta(days=self.outage_day)}",
                             "phishing": f"sms-phishing-{START + timedelta(days=self.phish_day)}"}

    # ---- people -----------------------------------------------------------------------------------
    def _unique(self, make: Any) -> str:
        for _ in range(1000):
            value = make()
            if value not in self.used:
                self.used.add(value)
                return value
        raise RuntimeError("identifier space exhausted")

    def person(self, lang: str | None = None, us: bool | None = None) -> Person:
        r = self.r
        lang = lang or ("zh" if r.random() < 0.67 else "en")
        p = Person(pid=len(self.people) + 1, lang=lang, tz=SHANGHAI,
                   acct=self._unique(lambda: f"W{r.randrange(10**8, 10**9)}"),
                   typo=r.choice([0, 0, 0.05, 0.15, 0.3]), emoji=r.choice([0, 0, 0.1, 0.3, 0.6]))
        if lang == "zh":
            p.trad = r.random() < 0.04
            p.tz = ZoneInfo("Asia/Hong_Kong") if p.trad else SHANGHAI
            p.name = r.choice(SURNAMES) + r.choice(GIVEN)
            p.city = r.choice(CITIES)
            if r.random() < 0.97:
                p.phone = self._unique(lambda: f"+861{r.choice('3456789')}{r.randrange(10**9):09d}")
            if r.random() < 0.45:
                p.email = self._unique(lambda: self._mail_cn(p.name))
        else:
            p.us = r.random() < 0.5 if us is None else us
            p.name = r.choice(FIRST) + " " + r.choice(LAST)
            if p.us:
                zone, states = r.choice(US_ZONES)
                p.tz, p.state, p.currency = ZoneInfo(zone), r.choice(states), "USD"
                p.city = ("美国", p.state)
                if r.random() < 0.8:
                    p.phone = self._unique(lambda: f"+1{r.randrange(201, 989)}555{r.randrange(10**4):04d}")
            else:
                p.city = r.choice(CITIES)
                if r.random() < 0.7:
                    p.phone = self._unique(lambda: f"+861{r.choice('3456789')}{r.randrange(10**9):09d}")
            if r.random() < 0.93:
                first, last = p.name.split()
                p.email = self._unique(lambda: r.choice([f"{first}.{last}", f"{first[0]}{last}", f"{first}{last}{r.randrange(99)}",
                                                         f"{last}.{first}{r.randrange(1970, 2005)}"]) + "@" + r.choice(EN_MAIL))
        self.people.append(p)
        return p

    def _mail_cn(self, name: str) -> str:
        r = self.r
        local = r.choice([name, f"{name}{r.randrange(100, 9999)}", f"{r.randrange(10**7, 10**10)}", f"{name[:2]}_{r.randrange(1980, 2006)}"])
        return f"{local}@{r.choice(CN_MAIL)}"

    # ---- facts and slots --------------------------------------------------------------------------
    def facts(self, category: str, p: Person, when: datetime, avoid: dict[str, Any] | None = None,
              lag: int | None = None) -> dict[str, Any]:
        r = self.r
        hi = {"transfer_delay": 20000, "account_security": 15000, "refund_after_sales": 3000, "fees_pricing": 8000}.get(category, 2500)
        lo = {"fees_pricing": 60, "account_security": 50, "transfer_delay": 20}.get(category, 8)
        while True:
            amt = round(math.exp(r.uniform(math.log(lo), math.log(hi))), r.choice([0, 0, 2]))
            amt = int(amt) if amt == int(amt) else amt
            if not avoid or abs(amt - avoid["amt"]) > 0.05 * avoid["amt"]:
                break
        merchants = MERCH_US if p.us else MERCH_CN
        merch = r.choice(merchants)
        if avoid and len(merchants) > 1:
            while merch == avoid["merch"]:
                merch = r.choice(merchants)
        if lag is None:
            lag = r.choice([0, 0, 1, 1, 1, 2, 3, 4, 5, 7]) if category in MONEY | {"marketing", "privacy", "device_quality"} else r.choice([0, 0, 1, 2])
        event = when.astimezone(p.tz).date() - timedelta(days=lag)
        order = (f"{event:%Y%m%d}{r.randrange(10**11, 10**12)}" if p.lang == "zh" or r.random() < 0.3
                 else "TX" + "".join(r.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(10)))
        fee = max(0.5, round(amt * r.choice([0.001, 0.005, 0.006, 0.01, 0.015, 0.02, 0.03]), r.choice([0, 1, 2])))
        return {"amt": amt, "fee": int(fee) if fee == int(fee) else fee,
                "pct": r.choice(["0.6%", "1%", "1.5%", "2%", "3%", "0.8%"]), "limit": r.choice([500, 1000, 2000, 5000, 10000, 20000, 50000]),
                "coupon": r.choice([5, 8, 10, 15, 20, 30, 50]), "bank": r.choice(BANKS_US if p.us else BANKS_CN),
                "card": f"{r.randrange(10**4):04d}", "merch": merch, "friend": r.choice(FRIENDS), "city": r.choice(CITIES),
                "dev": r.choice(DEVICES), "ver": f"{r.randrange(8, 12)}.{r.randrange(10)}.{r.randrange(10)}", "code": r.choice(ERR_CODES),
                "n": r.randrange(2, 7), "event": event, "order": order, "cur": p.currency,
                "xcode": r.random() < 0.35, "link": r.choice(T.PHISH_LINKS)}

    def money(self, x: float, cur: str, lang: str, cfpb: bool = False) -> str:
        r = self.r
        if cfpb:
            return "{$" + f"{x:,.2f}" + "}"
        s = f"{x:g}" if isinstance(x, int) or x == int(x) else f"{x:.2f}"
        if lang == "zh":
            if cur == "USD":
                return r.choice([f"{s}美元", f"{s}刀", f"${s}"])
            return r.choice([f"{s}元", f"{s}块", f"¥{s}", f"{x:.2f}元", f"{s}块钱", f"人民币{s}元"])
        if cur == "USD":
            return r.choice([f"${x:,.0f}" if x == int(x) else f"${x:,.2f}", f"${x:,.2f}", f"{s} dollars", f"USD {s}"])
        return r.choice([f"{s} yuan", f"RMB {s}", f"¥{s}", f"{s} CNY", f"{s} RMB"])

    def fill(self, template: str, f: dict[str, Any], lang: str, on: date, cfpb: bool = False) -> str:
        r, zh = self.r, lang == "zh"
        lag = max(0, (on - f["event"]).days)
        if cfpb:
            when = r.choice(["on XX/XX/XXXX", "on XX/XX/2026", "XX/XX/XXXX"])
        elif zh:
            when = ["今天", "昨天", "前天"][lag] if lag < 3 else r.choice([f"{f['event'].month}月{f['event'].day}号", f"{f['event'].month}.{f['event'].day}", f"{lag}天前"])
        else:
            when = ["today", "yesterday", "two days ago"][lag] if lag < 3 else r.choice([f"on {f['event']:%b} {f['event'].day}", f"on {f['event'].month}/{f['event'].day}", f"{lag} days ago"])
        if zh:
            days = "好几个小时" if lag == 0 else "一天" if lag == 1 else r.choice([f"{lag}天", f"{lag}天", "一个星期" if lag >= 7 else f"整整{lag}天"])
        else:
            days = ("hours" if lag == 0 else r.choice(["a day", "1 day", "24 hours"]) if lag == 1
                    else r.choice([f"{lag} days", "over a week" if lag >= 7 else f"{lag} whole days"]))
        pick = 0 if zh else 1
        code = r.choice(T.OUTAGE_CODES[lang] if f["xcode"] else T.OUTAGE_VAGUE[lang])
        values = {"amt": self.money(f["amt"], f["cur"], lang, cfpb), "fee": self.money(f["fee"], f["cur"], lang, cfpb),
                  "limit": self.money(f["limit"], f["cur"], lang, cfpb), "coupon": self.money(f["coupon"], f["cur"], lang, cfpb),
                  "pct": f["pct"], "bank": "XXXX" if cfpb else f["bank"][pick], "card": "XXXX" if cfpb else f["card"],
                  "merch": "XXXX" if cfpb else f["merch"][pick], "friend": f["friend"][pick], "city": "XXXX" if cfpb else f["city"][pick],
                  "dev": "XXXX" if cfpb else f["dev"], "ver": f["ver"], "code": f["code"], "n": str(f["n"]), "when": when, "days": days,
                  "xcode": code, "link": f["link"]}
        return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), template)

    # ---- surface noise ----------------------------------------------------------------------------
    def zh_noise(self, text: str, p: Person) -> str:
        r = self.r
        for a, b in T.ZH_TYPOS:
            if a in text and r.random() < p.typo:
                text = text.replace(a, b, 1)
        if r.random() < 0.03:
            a, b = r.choice(T.PINYIN)
            text = text.replace(a, b)
        if r.random() < 0.06:
            a, b = r.choice(T.CODE_SWITCH)
            text = text.replace(a, f" {b} ")
        if r.random() < 0.25:
            text = text.replace("，", ",").replace("？", "?").replace("！", "!")
        if p.trad:
            text = "".join(T.SIMP2TRAD.get(c, c) for c in text)
        return text

    def en_noise(self, text: str, p: Person) -> str:
        r = self.r
        if r.random() < p.typo:
            words = text.split(" ")
            i = r.randrange(len(words))
            w = words[i]
            if len(w) > 4 and w.isalpha():
                j = r.randrange(len(w) - 1)
                words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
            text = " ".join(words)
        if r.random() < 0.15:
            text = text.replace("'", "")
        if r.random() < 0.12:
            text = text.lower()
        elif r.random() < 0.02:
            text = text.upper()
        if not p.us and r.random() < 0.06:
            text = text.replace(",", "，").replace("!", "！")
        return text

    # ---- registers --------------------------------------------------------------------------------
    def variant(self, ep: Episode, lang: str, not_index: int | None = None) -> tuple[int, str]:
        options = ep.variants[lang]
        idx = [i for i in range(len(options)) if i != not_index] or [0]
        i = self.r.choice(idx)
        return i, options[i]

    @staticmethod
    def has_amount(ep: Episode) -> bool:
        """The problem is about one transaction: the texts name its amount."""
        return ep.category in MONEY and any("{amt}" in v or "{fee}" in v for vs in ep.variants.values() for v in vs)

    def order_ref(self, ep: Episode, lang: str) -> str:
        o = ep.facts["order"]
        return self.r.choice([f"订单号{o}", f"订单号：{o}", f"交易单号 {o}", f"流水号{o}"] if lang == "zh"
                             else [f"Transaction ID: {o}", f"order #{o}", f"ref {o}", f"(txn {o})"])

    def app_text(self, ep: Episode, on: date, repeat: int) -> str:
        r, p, lang = self.r, ep.person, ep.person.lang
        if repeat == 0 and ep.crisis is None and r.random() < 0.1:
            core = r.choice(T.SHORT[ep.category][lang])
        else:
            core = self.fill(self.variant(ep, lang)[1], ep.facts, lang, on)
        if lang == "zh":
            parts = [r.choice(ZH_OPEN) if repeat == 0 else r.choice(["又来了，", "第二次反馈了，", "还是没人管？", "上次反馈的问题还没解决，", ""]), core]
            if self.has_amount(ep) and r.random() < 0.3:
                parts.append("，" + self.order_ref(ep, lang))
            if r.random() < 0.5:
                parts.append("，" + r.choice(ZH_DEMAND))
            text = "".join(parts).rstrip("，")
            if r.random() < p.emoji:
                text += r.choice(ZH_EMO) * r.choice([1, 1, 2, 3])
            return self.zh_noise(text, p)
        parts = [r.choice(EN_OPEN) if repeat == 0 else r.choice(["Again: ", "Still waiting. ", "Second time reporting this. ", ""]), core]
        if self.has_amount(ep) and r.random() < 0.3:
            parts.append(" " + self.order_ref(ep, lang))
        if r.random() < 0.5:
            parts.append(" " + r.choice(EN_DEMAND))
        text = "".join(parts).strip()
        if r.random() < p.emoji:
            text += " " + r.choice(EN_EMO)
        return self.en_noise(text, p)

    def hotline_text(self, ep: Episode, on: date, repeat: int, lang: str) -> str:
        r = self.r
        core = self.fill(self.variant(ep, lang)[1], ep.facts, lang, on)
        if lang == "zh":
            core = core.replace("我的", "其").replace("我", "其").replace("你们", "我司").rstrip("。！？!?")
            core = re.sub(r"[😡😤🙏😭💢👎]", "", core)
            head = "外籍客户来电（英文沟通），称" if ep.person.lang == "en" else r.choice(HL_PREFIX).format(sex=r.choice("男女"))
            rep = r.choice(HL_REPEAT).format(n=repeat + 1) if (repeat and r.random() < 0.6) or r.random() < 0.04 else ""
            order = "，涉及" + self.order_ref(ep, "zh") if self.has_amount(ep) and r.random() < 0.45 else ""
            return rep + head + core + order + r.choice(HL_SUFFIX)
        for a, b in [(r"\bI'm\b", "they're"), (r"\bI've\b", "they've"), (r"\bI'd\b", "they'd"), (r"\bI am\b", "they are"),
                     (r"\bI was\b", "they were"), (r"\bI wasn't\b", "they weren't"), (r"\bI\b", "they"), (r"\b[Mm]y\b", "their"),
                     (r"\bme\b", "them"), (r"\bmyself\b", "themselves"), (r"\byour\b", "our"), (r"\b(\w+ing|from|to|with|for|by|at) you\b", r"\1 us"),
                     (r"\byou\b", "we"), (r"\bYour\b", "Our")]:
            core = re.sub(a, b, core)
        core = core[0].lower() + core[1:]
        rep = "Repeat caller. " if repeat and r.random() < 0.6 else ""
        order = " Ref " + ep.facts["order"] + "." if self.has_amount(ep) and r.random() < 0.4 else ""
        return rep + r.choice(EN_HL_PREFIX) + core.rstrip(".") + r.choice(EN_HL_SUFFIX) + order

    def email_text(self, ep: Episode, on: date, repeat: int, previous: str | None) -> tuple[str, str]:
        r, p, lang = self.r, ep.person, ep.person.lang
        i, v = self.variant(ep, lang)
        core = self.fill(v, ep.facts, lang, on)
        extra = self.fill(self.variant(ep, lang, i)[1], ep.facts, lang, on) if r.random() < 0.6 and len(ep.variants[lang]) > 1 else ""
        subject = r.choice(T.SUBJECTS[ep.category][lang] if r.random() < 0.75 else T.GENERIC_SUBJECTS[lang])
        if lang == "zh":
            paras = [r.choice(["您好：", "你好，", "客服您好！", "尊敬的钱包客服：", "", "hi"])]
            if repeat:
                paras.append(r.choice(["我之前已经反馈过一次了，一直没有回复。", "这是我第二次写邮件了。", "昨天在App里提交过，再发一次邮件。"]))
            paras.append(core + "。" + (extra + "。" if extra else ""))
            if self.has_amount(ep) and r.random() < 0.5:
                paras.append(f"{self.order_ref(ep, 'zh')}\n金额：{self.money(ep.facts['amt'], ep.facts['cur'], 'zh')}\n时间：{ep.facts['event']:%Y-%m-%d}")
            paras.append(r.choice(["请尽快核实处理，谢谢。", "希望给我一个合理的解释。", "如果得不到解决我会向监管部门投诉。", "盼复。", "谢谢！"]))
            paras.append(r.choice(["", p.name, "此致\n敬礼", "发自我的iPhone"]))
            body = self.zh_noise("\n\n".join(x for x in paras if x), p)
        else:
            paras = [r.choice(["Hi,", "Hello,", "Dear Sir/Madam,", "To whom it may concern,", "Hi team,", ""])]
            if repeat:
                paras.append(r.choice(["I already reported this and got no answer.", "This is my second email about this.", "Following up on my earlier message."]))
            paras.append(" ".join(x if x[-1] in ".!?" else x + "." for x in (core, extra) if x))
            if self.has_amount(ep) and r.random() < 0.5:
                paras.append(f"{self.order_ref(ep, 'en')}\nAmount: {self.money(ep.facts['amt'], ep.facts['cur'], 'en')}")
            paras.append(r.choice(["Please look into this urgently.", "I'd appreciate a quick reply.", "I expect this to be resolved within the week.",
                                   "Otherwise I will take this to the regulator.", "Thanks."]))
            paras.append(r.choice(["Regards,\n" + p.name.title(), "Thanks,\n" + p.name.split()[0].title(), "Sent from my iPhone", ""]))
            body = self.en_noise("\n\n".join(x for x in paras if x), p)
        if repeat and previous and r.random() < 0.4:
            subject = "Re: " + subject
            quoted = "\n".join("> " + line for line in previous.splitlines()[:8])
            body += ("\n\n-----原始邮件-----\n" if lang == "zh" else "\n\nOn an earlier date you wrote:\n") + quoted
        return subject, body

    def cfpb_narrative(self, ep: Episode, on: date, escalation: bool) -> str:
        r, f = self.r, ep.facts
        if ep.template:
            text = self.fill(ep.template, f, "en", on, cfpb=True)
            sentences = re.split(r"(?<=\.) ", text)
            if r.random() < 0.3 and len(sentences) > 3:
                sentences.pop(r.randrange(1, len(sentences) - 1))
            text = " ".join(sentences).replace("a formal complaint", r.choice(["a formal complaint", "a complaint", "an official complaint"]))
            text = r.choice(["", "Hello. ", "Please read. ", "I saw others posting about this. "]) + text + r.choice(["", " Thank you.", " Please help me.", " Please help."])
            return text.upper() if r.random() < 0.05 else text
        i, v = self.variant(ep, "en")
        paras = [r.choice(["I have used XXXX's mobile wallet for several years.", "I am writing about my XXXX digital wallet account.",
                           "This complaint is about XXXX, a mobile payment app.", "", ""]),
                 self.fill(v, f, "en", on, cfpb=True)]
        if len(ep.variants["en"]) > 1 and r.random() < 0.7:
            paras.append(self.fill(self.variant(ep, "en", i)[1], f, "en", on, cfpb=True))
        paras = [x if not x or x[-1] in ".!?" else x + "." for x in paras]
        paras.append(r.choice([f"I contacted their customer service {f['n']} times and each time I was told to wait.",
                               "I called on XX/XX/XXXX and the representative said there was nothing they could do.",
                               "I filed a complaint in the app and never heard back.", ""])
                     if not escalation else "I already complained to XXXX through their app on XX/XX/XXXX and nothing was done.")
        paras.append(r.choice(["I want my money returned.", "I am asking for the CFPB's help.", "Please investigate this company.",
                               "This has caused me a lot of stress and I need it resolved.", ""]))
        text = " ".join(x for x in paras if x)
        for a, b in [(r"\byour\b", "their"), (r"\bYour\b", "Their"), (r"\byou\b", "they"), (r"\bYou\b", "They")]:
            text = re.sub(a, b, text)
        if r.random() < 0.4:
            text = text.replace(". ", ".\n\n", r.randrange(1, 4))
        return text.upper() if r.random() < 0.04 else text

    # ---- rows -------------------------------------------------------------------------------------
    def phone_written(self, e164: str) -> str:
        r = self.r
        if e164.startswith("+86"):
            d = e164[3:]
            return r.choice([d, d, f"{d[:3]} {d[3:7]} {d[7:]}", f"{d[:3]}-{d[3:7]}-{d[7:]}", f"+86 {d}", f"+86{d}", f"0086 {d}",
                             f"0086-{d}", f"(+86){d[:3]}-{d[3:7]}-{d[7:]}", f"+86-{d[:3]}-{d[3:7]}-{d[7:]}"])
        d = e164[2:]
        return r.choice([e164, f"+1 {d[:3]}-{d[3:6]}-{d[6:]}", f"({d[:3]}) {d[3:6]}-{d[6:]}", f"001-{d[:3]}-{d[3:6]}-{d[6:]}"])

    def mail_written(self, email: str) -> str:
        r = self.r
        local, domain = email.split("@")
        return r.choice([email, email, email, local.capitalize() + "@" + domain, email.upper(), local + "@" + domain.upper()])

    def app_row(self, ep: Episode, t: datetime, repeat: int) -> Row:
        r, p = self.r, ep.person
        local = t.astimezone(p.tz).replace(microsecond=r.randrange(1000) * 1000 if r.random() < 0.3 else 0)
        style = r.randrange(5)
        if style == 0:
            stamp, shown = local.isoformat(timespec="seconds"), local.replace(microsecond=0)
        elif style == 1:
            shown = local.astimezone(UTC).replace(microsecond=0)
            stamp = shown.strftime("%Y-%m-%dT%H:%M:%SZ")
        elif style == 2:
            shown = local.astimezone(UTC)
            stamp = shown.strftime("%Y-%m-%dT%H:%M:%S.") + f"{shown.microsecond // 1000:03d}Z"
        elif style == 3:
            shown = local.replace(microsecond=0)
            stamp = shown.strftime("%Y-%m-%dT%H:%M:%S%z")
        else:
            shown = local.replace(microsecond=0)
            stamp = shown.isoformat(sep=" ", timespec="seconds")
        rec: dict[str, Any] = {"feedback_id": "", "uid": p.acct, "submitted_at": stamp, "topic": r.choice(APP_TOPICS[p.lang]),
                               "content": self.app_text(ep, local.date(), repeat), "app_version": ep.facts["ver"] if r.random() < 0.9 else None,
                               "os": r.choice(["iOS 17.5", "iOS 18.1", "Android 14", "Android 13", "HarmonyOS 4.2"])}
        ids = [f"acct:{p.acct}"]
        roll = r.random()
        if p.email and roll < 0.55:
            rec["email"] = self.mail_written(p.email)
            ids.append(f"mail:{p.email}")
        elif p.phone and roll < 0.8:
            rec["mobile"] = self.phone_written(p.phone)
            ids.append(f"phone:{p.phone}")
        if r.random() < 0.3:
            rec["title"] = r.choice(T.SUBJECTS[ep.category][p.lang])
        if self.has_amount(ep) and r.random() < 0.55:
            a = ep.facts["amt"]
            rec["amount"] = r.choices([a, f"{a:.2f}", f"¥{a:g}", f"{a:,.2f}"], [60, 30, 5, 5])[0]
        if r.random() < 0.35:
            rec["merchant"] = ep.facts["merch"][0 if p.lang == "zh" else 1]
        if r.random() < 0.7:
            rec["page"] = r.choice(["home", "pay", "withdraw", "transfer", "bill", "me", "scan"])
        if r.random() < 0.6:
            rec["city"] = p.city[0 if p.lang == "zh" else 1]
        if r.random() < 0.15:
            rec["attachments"] = [{"type": "image", "name": f"IMG_{r.randrange(1000, 9999)}.jpg"}]
        rec = {k: v for k, v in rec.items() if v is not None}
        return Row("app_feedback", shown, ep, rec, ids)

    def hotline_row(self, ep: Episode, t: datetime, repeat: int) -> Row:
        r, p = self.r, ep.person
        local = t.astimezone(SHANGHAI).replace(microsecond=0)
        lang = "zh" if p.lang == "zh" or r.random() < 0.5 else "en"
        rec = {c: "" for c in HOTLINE_COLUMNS}
        rec.update({"受理时间": local.strftime("%Y/%m/%d %H:%M:%S"), "业务类型": r.choice(BUSINESS_TYPES),
                    "问题描述": self.hotline_text(ep, local.date(), repeat, lang), "坐席工号": f"A{r.randrange(1000, 1200)}",
                    "处理状态": r.choice(["已受理", "处理中", "待回访", "已转派"]), "所在地区": p.city[0] if r.random() < 0.7 else ""})
        ids = []
        if r.random() < 0.45:
            rec["客户编号"] = p.acct
            ids.append(f"acct:{p.acct}")
        if p.phone and r.random() < 0.9:
            rec["联系电话"] = self.phone_written(p.phone)
            ids.append(f"phone:{p.phone}")
        elif p.email and r.random() < 0.5:
            rec["联系邮箱"] = self.mail_written(p.email)
            ids.append(f"mail:{p.email}")
        if self.has_amount(ep) and r.random() < 0.55:
            rec["涉及金额"] = r.choice([f"{ep.facts['amt']}", f"{ep.facts['amt']:.2f}"])
        if r.random() < 0.3:
            rec["商户名称"] = ep.facts["merch"][0]
        return Row("hotline", local, ep, rec, ids)

    def email_row(self, ep: Episode, t: datetime, repeat: int, previous: str | None) -> Row:
        r, p = self.r, ep.person
        utc = t.astimezone(UTC).replace(second=0, microsecond=0)
        subject, body = self.email_text(ep, t.astimezone(p.tz).date(), repeat, previous)
        assert p.email
        rec = {"ticket_no": "", "created": utc.strftime("%d/%m/%Y %H:%M"), "name": p.name.title() if r.random() < 0.8 else "",
               "email": self.mail_written(p.email), "account_no": "", "country": "US" if p.us else r.choice(["CN", "China", "中国", ""]),
               "subject": subject, "message": body}
        ids = [f"mail:{p.email}"]
        if r.random() < 0.35:
            rec["account_no"] = r.choice([p.acct, p.acct, p.acct.lower(), f" {p.acct} "])
            ids.append(f"acct:{p.acct}")
        return Row("webform", utc, ep, rec, ids)

    def cfpb_row(self, ep: Episode, day: date, escalation: bool = False, narrative: bool = True) -> Row:
        r, p = self.r, ep.person
        issue, sub = r.choice(T.CFPB_ISSUES.get(ep.category, T.CFPB_ISSUES["other"]))
        text = self.cfpb_narrative(ep, day, escalation) if narrative else ""
        sent = day + timedelta(days=r.choice([0, 0, 1, 2, 3]))
        age = (START + timedelta(days=self.days) - day).days
        rec = {"Date received": day.isoformat(), "Product": "Money transfer, virtual currency, or money service",
               "Sub-product": "Mobile or digital wallet", "Issue": issue, "Sub-issue": sub, "Consumer complaint narrative": text,
               "Company public response": r.choice(["", "", "Company has responded to the consumer and the CFPB and chooses not to provide a public response"]),
               "Company": COMPANY, "State": p.state or r.choice(["CA", "NY", "TX", "FL"]),
               "ZIP code": f"{r.randrange(10000, 99999)}" if r.random() < 0.8 else f"{r.randrange(100, 999)}XX",
               "Tags": r.choices(["", "Older American", "Servicemember", "Older American, Servicemember"], [80, 12, 6, 2])[0],
               "Consumer consent provided?": "Consent provided" if text else r.choice(["Consent not provided", "N/A", "Other", "Consent withdrawn"]),
               "Submitted via": r.choices(["Web", "Referral", "Phone", "Postal mail"], [80, 8, 8, 4])[0],
               "Date sent to company": sent.isoformat(), "Company response to consumer": "In progress" if age < 15 else
               r.choice(["Closed with explanation", "Closed with explanation", "Closed with monetary relief", "Closed with non-monetary relief"]),
               "Timely response?": "Yes", "Consumer disputed?": "N/A", "Complaint ID": ""}
        return Row("regulator", datetime.combine(day, time(12), NEW_YORK), ep, rec, [], date_only=day)

    def emit(self, ep: Episode, channel: str, t: datetime, repeat: int = 0, previous: str | None = None) -> Row | None:
        """One row of the episode through a channel, or None when the channel is impossible or past the end."""
        p = ep.person
        if channel == "hotline":
            if not (p.phone or "").startswith("+86"):
                channel = "email" if p.email else "app"
            else:
                local = t.astimezone(SHANGHAI)
                if local.hour < 9 or local.hour >= 21:
                    nxt = local.date() + timedelta(days=1 if local.hour >= 21 else 0)
                    t = datetime.combine(nxt, time(9, self.r.randrange(60), self.r.randrange(60)), SHANGHAI)
        if channel == "email" and not p.email:
            channel = "app"
        if t >= self.end:
            return None
        row = (self.app_row(ep, t, repeat) if channel == "app" else self.hotline_row(ep, t, repeat) if channel == "hotline"
               else self.email_row(ep, t, repeat, previous))
        self.rows.append(row)
        return row

    # ---- episodes ---------------------------------------------------------------------------------
    def episode(self, p: Person, category: str, t: datetime, variants: dict[str, list[str]] | None = None,
                crisis: str | None = None, avoid: dict[str, Any] | None = None) -> Episode:
        self.problems += 1
        if variants is None:
            variants = self.r.choice(T.KINDS[category])
        facts = self.facts(category, p, t, avoid, lag=0 if crisis else None)
        return Episode(p, self.problems, category, variants, facts, t, crisis)

    def first_channel(self, p: Person) -> str:
        if p.lang == "zh":
            return self.r.choices(["app", "hotline", "email"], [50, 33, 17])[0]
        return self.r.choices(["app", "hotline", "email"], [50, 12, 38])[0]

    def local_time(self, p: Person, day: date, hours: list[float] = HOUR_W) -> datetime:
        r = self.r
        h = r.choices(range(24), hours)[0]
        return datetime.combine(day, time(h, r.randrange(60), r.randrange(60)), p.tz)

    def live(self, ep: Episode, channel: str, t: datetime, resub_p: float = 0.13) -> None:
        """The first row and, sometimes, the person's reworded resubmissions 1-72 hours later."""
        r = self.r
        row = self.emit(ep, channel, t)
        if row is None:
            return
        previous, n = self._body(row), 0
        while r.random() < (resub_p if n == 0 else 0.2) and n < 3:
            n += 1
            gap = min(72.0, max(1.0, math.exp(r.gauss(math.log(10), 0.9))))
            t = row.when + timedelta(hours=gap)
            nxt = channel if r.random() < 0.4 else r.choice([c for c in ("app", "hotline", "email") if c != channel])
            row2 = self.emit(ep, nxt, t, repeat=n, previous=previous if row.source == "webform" else None)
            if row2 is None:
                return
            row, channel, previous = row2, nxt, self._body(row2)

    @staticmethod
    def _body(row: Row) -> str:
        return str(row.fields.get("content") or row.fields.get("message") or row.fields.get("问题描述") or "")

    def poisson(self, lam: float) -> int:
        if lam < 40:
            limit, k, prod = math.exp(-lam), 0, self.r.random()
            while prod > limit:
                k += 1
                prod *= self.r.random()
            return k
        return max(0, round(self.r.gauss(lam, math.sqrt(lam))))

    def background(self) -> None:
        r = self.r
        cats, weights = list(CATEGORY_WEIGHTS), list(CATEGORY_WEIGHTS.values())
        norm = sum(DOW_W) / 7
        for d in range(self.days):
            day = START + timedelta(days=d)
            level = self.per_day * DOW_W[day.weekday()] / norm * r.gammavariate(12, 1 / 12)
            earlier = [e for k in range(max(0, d - 5), d) for e in self.by_day.get(k, [])]
            for _ in range(self.poisson(level * 0.77)):
                if earlier and r.random() < 0.08:  # a person already seen this week: ANOTHER problem
                    old = r.choice(earlier)
                    p, t = old.person, old.t0 + timedelta(hours=r.uniform(2, 140))
                    if t >= self.end:
                        continue
                    if r.random() < 0.4:  # same category: the same kind only when amounts tell them apart
                        money_kind = all("{amt}" in v for vs in old.variants.values() for v in vs)
                        others = [k for k in T.KINDS[old.category] if k is not old.variants]
                        kind = old.variants if money_kind and r.random() < 0.5 else r.choice(others)
                        ep = self.episode(p, old.category, t, kind, avoid=old.facts)
                    else:
                        ep = self.episode(p, r.choices(cats, weights)[0], t)
                else:
                    p = self.person()
                    t = self.local_time(p, day, HOUR_W)
                    ep = self.episode(p, r.choices(cats, weights)[0], t)
                self.by_day[d].append(ep)
                self.live(ep, self.first_channel(p), t)
            self.regulator_day(d, day)

    def regulator_day(self, d: int, day: date) -> None:
        r = self.r
        cats, weights = list(CFPB_CATEGORY_WEIGHTS), list(CFPB_CATEGORY_WEIGHTS.values())
        for _ in range(self.poisson(self.per_day * 0.088 * (0.55 if day.weekday() >= 5 else 1.12))):
            p = self.person("en", us=True)
            t = datetime.combine(day, time(12), NEW_YORK)
            if r.random() < 0.3:
                cat, text = r.choices(T.COPY_TEMPLATES, [5, 3, 3])[0]
                ep = self.episode(p, cat, t, {"zh": [], "en": [text]})
                ep.template = text
                self.rows.append(self.cfpb_row(ep, day))
            else:
                ep = self.episode(p, r.choices(cats, weights)[0], t)
                self.rows.append(self.cfpb_row(ep, day, narrative=ep.category not in NEEDS_NARRATIVE and r.random() < 0.65))
        # escalations: US customers who complained to the company earlier take the same problem to the regulator
        for k in range(max(0, d - 14), d - 2):
            for ep in self.by_day.get(k, []):
                if (ep.person.us and ep.category in CFPB_CATEGORY_WEIGHTS and ep.problem not in self.escalated
                        and r.random() < 0.22 / 12):
                    self.escalated.add(ep.problem)
                    self.rows.append(self.cfpb_row(ep, day, escalation=True))

    # ---- crises -----------------------------------------------------------------------------------
    def crisis(self, name: str, kinds: list[tuple[str, list[str], list[str]]], kind_w: list[float], start: datetime,
               spread_h: float, tail_h: float, chan_w: list[float], zh_share: float, template: str) -> None:
        r = self.r
        n = max(12, round(self.per_day * 0.5))
        for _ in range(n):
            ch = r.choices(["app", "hotline", "email", "regulator"], chan_w)[0]
            if ch == "regulator":
                p = self.person("en", us=True)
                day = (start.astimezone(NEW_YORK) + timedelta(days=r.choice([1, 1, 1, 2, 2, 3]))).date()
                day = min(day, START + timedelta(days=self.days - 1))
                if r.random() < 0.45:
                    cat = "system_fault" if "outage" in name else "account_security"
                    ep = self.episode(p, cat, start, {"zh": [], "en": [template]}, crisis=name)
                    ep.template = template
                    self.rows.append(self.cfpb_row(ep, day))
                else:
                    cat, zh, en = r.choices(kinds, kind_w)[0]
                    ep = self.episode(p, cat, start, {"zh": zh, "en": en}, crisis=name)
                    self.rows.append(self.cfpb_row(ep, day, narrative=(cat not in NEEDS_NARRATIVE and r.random() < 0.85) or cat in NEEDS_NARRATIVE))
                continue
            earlier = [e for e in self.by_day.get(max(0, (start.date() - START).days - 1), []) if e.person.lang != "en" or not e.person.us]
            p = r.choice(earlier).person if earlier and r.random() < 0.1 else self.person("zh" if r.random() < zh_share else "en")
            offset = r.uniform(0, spread_h) ** 1.3 / spread_h ** 0.3 if r.random() < 0.75 else r.uniform(spread_h, tail_h)
            t = start + timedelta(hours=offset, seconds=r.randrange(60))
            cat, zh, en = r.choices(kinds, kind_w)[0]
            ep = self.episode(p, cat, t, {"zh": zh, "en": en}, crisis=name)
            self.live(ep, ch, t, resub_p=0.15)

    def crises(self) -> None:
        outage_start = datetime.combine(START + timedelta(days=self.outage_day), time(10, 40), SHANGHAI)
        self.crisis(self.crisis_names["outage"], T.OUTAGE, [22, 18, 12, 8, 20, 12, 8], outage_start, 4, 30,
                    [50, 17, 18, 15], 0.67, T.OUTAGE_TEMPLATE)
        phish_start = datetime.combine(START + timedelta(days=self.phish_day), time(18, 30), SHANGHAI)
        self.crisis(self.crisis_names["phishing"], T.PHISHING, [50, 25, 17, 8], phish_start, 6, 30,
                    [45, 33, 16, 6], 0.8, T.PHISH_TEMPLATE)

    # ---- ids, broken rows, files -----------------------------------------------------------------
    def assign_ids(self) -> None:
        r = self.r
        seq: Counter[str] = Counter()
        cid = 10_584_000 + r.randrange(1000)
        for row in sorted(self.rows, key=lambda x: (x.when, x.source)):
            if row.source == "app_feedback":
                row.eid = self._unique(lambda: "fb_" + "".join(r.choice("0123456789abcdef") for _ in range(12)))
                row.fields["feedback_id"] = row.eid
            elif row.source == "hotline":
                key = row.when.strftime("%Y%m%d")
                seq[key] += 1
                row.eid = f"GD{key}{seq[key]:05d}"
                row.fields["工单号"] = row.eid
            elif row.source == "webform":
                seq["web"] += 1
                row.eid = f"WF-{100000 + seq['web']}"
                row.fields["ticket_no"] = row.eid
            else:
                cid += r.randrange(1, 40)
                row.eid = str(cid)
                row.fields["Complaint ID"] = row.eid

    def broken(self) -> dict[str, list[Any]]:
        """Rows the product should quarantine; never in truth.jsonl."""
        r, k = self.r, max(1, round(self.per_day / 300))
        out: dict[str, list[Any]] = defaultdict(list)
        some = START + timedelta(days=r.randrange(self.days))
        for i in range(k):
            out["app"] += [
                f'{{"feedback_id": "fb_broken{i:03d}", "uid": "W{r.randrange(10**8, 10**9)}", "submitted_at": "{some}T10:1',
                {"feedback_id": f"fb_empty{i:03d}", "uid": "W900000001", "submitted_at": f"{some}T09:00:00+08:00", "content": "   "},
                {"feedback_id": f"fb_baddate{i:03d}", "uid": "W900000002", "submitted_at": "2026-02-30T25:61:00+08:00", "content": "提现没到账"},
                {"feedback_id": f"fb_year{i:03d}", "uid": "W900000003", "submitted_at": "0026-11-05T10:00:00+08:00", "content": "付款失败了"},
                {"feedback_id": f"fb_future{i:03d}", "uid": "W900000004", "submitted_at": "9999-12-31T23:59:59Z", "content": "app keeps crashing"}]
            out["hotline"] += [
                {"工单号": f"GDBAD{i:03d}1", "受理时间": f"{some:%Y}/11/31 09:15:00", "问题描述": "客户来电称退款未到账。"},
                {"工单号": f"GDBAD{i:03d}2", "受理时间": "暂无", "问题描述": "客户来电反映无法登录。"},
                {"工单号": f"GDBAD{i:03d}3", "受理时间": f"{some:%Y/%m/%d} 14:20:00", "问题描述": ""},
                {"工单号": f"GDBAD{i:03d}4", "受理时间": f"2206/{some:%m/%d} 10:00:00", "问题描述": "客户称被扣了手续费。"}]
            out["webform"] += [
                {"ticket_no": f"WF-BAD{i:03d}1", "created": "N/A", "email": "x@example.com", "subject": "Help", "message": "My transfer is late"},
                {"ticket_no": f"WF-BAD{i:03d}2", "created": f"{some:%d/%m/%Y} 08:00", "email": "y@example.com", "subject": "投诉", "message": ""},
                {"ticket_no": f"WF-BAD{i:03d}3", "created": "31/02/2026 10:00", "email": "z@example.com", "subject": "Refund", "message": "refund pls"}]
            out["regulator"] += [
                {"Date received": f"{some:%m/%d/%Y}", "Issue": "Fraud or scam", "Complaint ID": f"9{r.randrange(10**6, 10**7)}"},
                {"Date received": f"{some}", "Issue": "", "Consumer complaint narrative": "", "Complaint ID": f"9{r.randrange(10**6, 10**7)}"},
                {"Date received": "1900-01-01", "Issue": "Other transaction problem", "Complaint ID": f"9{r.randrange(10**6, 10**7)}"}]
        return out


def _csv_text(columns: list[str], rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\r\n")
    w.writeheader()
    for row in rows:
        w.writerow({c: row.get(c, "") for c in columns})
    return buf.getvalue()


def _gbk_safe(text: str) -> str:
    return "".join(c if c.encode("gbk", "ignore") else "" for c in text)


def _write_files(g: Gen, folder: pathlib.Path, broken: dict[str, list[Any]]) -> dict[str, int]:
    for sub in ("app", "hotline", "webform", "regulator"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    weekly: dict[tuple[str, int], list[Row]] = defaultdict(list)
    for row in sorted(g.rows, key=lambda x: x.when):
        week = min(g.weeks - 1, max(0, (row.when.astimezone(SHANGHAI).date() - START).days // 7))
        weekly[(row.source, week)].append(row)
    counts: Counter[str] = Counter()
    for w in range(g.weeks):
        monday = START + timedelta(days=7 * w)
        bad = {k: [v for i, v in enumerate(vs) if i % g.weeks == w] for k, vs in broken.items()}
        app_lines = [json.dumps(row.fields, ensure_ascii=g.r.random() < 0.1) for row in weekly[("app_feedback", w)]]
        for b in bad["app"]:
            app_lines.insert(g.r.randrange(len(app_lines) + 1), b if isinstance(b, str) else json.dumps(b, ensure_ascii=False))
        (folder / "app" / f"feedback_{monday:%G-W%V}.jsonl").write_text("\n".join(app_lines) + "\n", encoding="utf-8")
        hot = [{k: _gbk_safe(str(v)) for k, v in row.fields.items()} for row in weekly[("hotline", w)]]
        for b in bad["hotline"]:
            hot.insert(g.r.randrange(len(hot) + 1), b)
        (folder / "hotline" / f"hotline_{monday:%Y%m%d}.csv").write_bytes(_csv_text(HOTLINE_COLUMNS, hot).encode("gbk"))
        web = [row.fields for row in weekly[("webform", w)]]
        for b in bad["webform"]:
            web.insert(g.r.randrange(len(web) + 1), b)
        (folder / "webform" / f"webform_{monday:%Y-%m-%d}.csv").write_text(_csv_text(WEB_COLUMNS, web), encoding="utf-8-sig")
        counts["broken"] += sum(len(v) for v in bad.values()) - len(bad["regulator"])
    reg = [row.fields for row in sorted((x for x in g.rows if x.source == "regulator"), key=lambda x: int(x.eid))]
    for b in broken["regulator"]:
        reg.insert(g.r.randrange(len(reg) + 1), b)
    counts["broken"] += len(broken["regulator"])
    (folder / "regulator" / "cfpb_referrals.csv").write_text(_csv_text(CFPB_COLUMNS, reg), encoding="utf-8", newline="")
    return dict(counts)


def _sources_yaml(folder: pathlib.Path) -> str:
    f = folder.resolve()
    return f"""# Adversarial hold-out stream: four channels (see /work/adversary/README.md).
sources:
  - name: app_feedback
    # Identity evidence: uid (account, customer_ref) and email or mobile (contact; some records carry neither).
    kind: file
    channel: app
    path: {f}/app/*.jsonl
    format: jsonl
    timezone: Asia/Shanghai
    mapping:
      external_id: feedback_id
      received_at: submitted_at
      customer_ref: uid
      contact: email|mobile
      title: title
      body: content
      amount: amount
      merchant: merchant
      product: page
      region: city
  - name: hotline
    # Identity evidence: 客户编号 (account, often empty) and 联系电话 (written in many formats) else 联系邮箱.
    kind: file
    channel: hotline
    path: {f}/hotline/*.csv
    format: csv
    encoding: auto          # GBK
    timezone: Asia/Shanghai
    date_format: "%Y/%m/%d %H:%M:%S"
    mapping:
      external_id: 工单号
      received_at: 受理时间
      customer_ref: 客户编号
      contact: 联系电话|联系邮箱
      body: 问题描述
      amount: 涉及金额
      merchant: 商户名称
      region: 所在地区
  - name: webform
    # Identity evidence: email (always) and account_no (optional, typed by the user).
    kind: file
    channel: email
    path: {f}/webform/*.csv
    format: csv
    encoding: auto          # UTF-8 with BOM
    timezone: UTC
    date_format: "%d/%m/%Y %H:%M"
    mapping:
      external_id: ticket_no
      received_at: created
      customer_ref: account_no
      contact: email
      title: subject
      body: message
      region: country
  - name: regulator
    # Identity evidence: none (CFPB layout; Date received is a date only).
    kind: cfpb
    channel: regulator
    path: {f}/regulator/*.csv
    timezone: America/New_York
"""


def write(folder: pathlib.Path, seed: int = 7, per_day: float = 300.0, weeks: int = 5) -> dict[str, Any]:
    """Write the stream (channel files, sources.yaml, truth.jsonl) into folder; return a summary."""
    if weeks < 2:
        raise ValueError("weeks must be at least 2 (one of history, one with the crises)")
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    g = Gen(seed, per_day, weeks)
    g.background()
    g.crises()
    g.assign_ids()
    counts = _write_files(g, folder, g.broken())
    (folder / "sources.yaml").write_text(_sources_yaml(folder), encoding="utf-8")
    channel = {"app_feedback": "app", "hotline": "hotline", "webform": "email", "regulator": "regulator"}
    with (folder / "truth.jsonl").open("w", encoding="utf-8") as out:
        for row in sorted(g.rows, key=lambda x: (x.when, x.eid)):
            out.write(json.dumps({
                "external_id": row.eid, "source": row.source, "channel": channel[row.source], "person": row.ep.person.pid,
                "problem": row.ep.problem, "category": row.ep.category, "crisis": row.ep.crisis, "ids": row.ids,
                "received_at": row.date_only.isoformat() if row.date_only else row.when.isoformat()}, ensure_ascii=False) + "\n")
    firsts: set[int] = set()
    resubs = 0
    for row in sorted(g.rows, key=lambda x: x.when):
        resubs += row.ep.problem in firsts
        firsts.add(row.ep.problem)
    crises: dict[str, dict[str, int]] = {}
    for name in g.crisis_names.values():
        members = [x for x in g.rows if x.ep.crisis == name]
        crises[name] = {"rows": len(members), "people": len({x.ep.person.pid for x in members}),
                        "categories": len({x.ep.category for x in members})}
    zh = sum(bool(re.search(r"[\u4e00-\u9fff]", g._body(x) or str(x.fields.get("Consumer complaint narrative", "")))) for x in g.rows)
    return {"folder": str(folder.resolve()), "rows": len(g.rows), "by_source": dict(Counter(x.source for x in g.rows)),
            "broken_rows": counts.get("broken", 0), "people": len({x.ep.person.pid for x in g.rows}), "problems": len(firsts),
            "resubmissions": resubs, "resubmission_share": round(resubs / max(1, len(g.rows)), 3),
            "chinese_share": round(zh / max(1, len(g.rows)), 3), "crises": crises,
            "categories": dict(Counter(x.ep.category for x in g.rows).most_common())}


if __name__ == "__main__":
    target = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/adversary_stream")
    rate = float(sys.argv[2]) if len(sys.argv) > 2 else 300.0
    print(json.dumps(write(target, per_day=rate), ensure_ascii=False, indent=2))
