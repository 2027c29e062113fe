"""Write the bundled demo data into demo/: three channel exports for ISO week 2026-W47.

    .venv/bin/python scripts/generate_demo_data.py [--out DIR]

Everything comes from one random.Random(SEED), so two runs give byte-identical files. The same run
writes demo/README.md, so its counts and line numbers always describe the files next to it. Every
text is checked against config/taxonomy.yaml to classify as the category it was written for.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from random import Random
from zoneinfo import ZoneInfo

import yaml
from demo_texts import (
    AGENT_PREFIXES,
    BURST_EN,
    BURST_ZH,
    CFPB,
    CFPB_ISSUES,
    EN,
    EN_RESUBMIT_PREFIX,
    EN_THREATS,
    EN_TITLES,
    EN_VULNERABLE,
    FEE_WAVE_EN,
    FEE_WAVE_ZH,
    REGULATOR_THREATS,
    ZH,
    ZH_CLOSERS,
    ZH_OPENERS,
    ZH_RESUBMIT_PREFIXES,
    ZH_THREATS,
    ZH_TITLES,
    ZH_VULNERABLE,
)

from complaints.core.normalize import text_hash
from complaints.core.pii import find_pii
from complaints.ingest.sources import CFPB_COLUMNS

SEED = 20261116
ROOT = Path(__file__).resolve().parent.parent
TZ = ZoneInfo("Asia/Shanghai")
WEEK_START = datetime(2026, 11, 16, tzinfo=TZ)
WEEK_END = datetime(2026, 11, 22, 23, 59, tzinfo=TZ)
DAYS = [date(2026, 11, 16) + timedelta(days=i) for i in range(7)]
COMPANY, COMPANY_SHORT = "JadePay Wallet, Inc.", "JadePay"

APP_FILE = "app_feedback/app_feedback_2026-11-16.jsonl"
HOTLINE_FILE = "hotline/hotline_2026-11-16.csv"
REGULATOR_FILE = "regulator/cfpb_referrals_2026-11.csv"

BURST_MERCHANT = "快捷支付通道"
BURST_FROM, BURST_MINUTES = datetime(2026, 11, 19, 9, 40, tzinfo=TZ), 350
FEE_MERCHANT = "乐购优选商城"
FEE_FROM, FEE_MINUTES = datetime(2026, 11, 17, 8, 30, tzinfo=TZ), 810

# Background complaints per channel: (category, how many). Chinese majority; English app users too.
APP_ZH_MIX = {
    "transfer_delay": 13,
    "account_security": 11,
    "fees_pricing": 9,
    "refund_after_sales": 10,
    "customer_service": 8,
    "feature_limit": 6,
    "system_fault": 8,
    "usability": 5,
    "privacy": 4,
    "compliance": 4,
    "marketing": 6,
    "device_quality": 3,
    "other": 5,
}
APP_EN_MIX = {
    "transfer_delay": 3,
    "account_security": 2,
    "fees_pricing": 1,
    "refund_after_sales": 1,
    "system_fault": 1,
    "usability": 1,
    "marketing": 1,
    "other": 1,
}
HOTLINE_MIX = {
    "transfer_delay": 12,
    "account_security": 10,
    "fees_pricing": 8,
    "refund_after_sales": 8,
    "customer_service": 8,
    "feature_limit": 5,
    "system_fault": 5,
    "usability": 3,
    "privacy": 4,
    "compliance": 4,
    "marketing": 4,
    "device_quality": 4,
    "other": 3,
}
REGULATOR_MIX = {
    "transfer_delay": 7,
    "account_security": 7,
    "fees_pricing": 4,
    "refund_after_sales": 3,
    "customer_service": 3,
    "feature_limit": 2,
    "system_fault": 2,
    "privacy": 1,
    "compliance": 2,
    "marketing": 1,
    "usability": 1,
}
# Categories whose complaints carry an amount, with typical values in yuan (USD for English users).
AMOUNTS: dict[str, list[str]] = {
    "transfer_delay": ["200", "500", "800", "1000", "1500", "2000", "3000", "5000", "8000", "12000", "20000", "36000"],
    "account_security": ["300", "800", "1999", "2500", "5000", "9800", "15000", "26000", "48000"],
    "refund_after_sales": ["39.90", "89", "129", "259", "399", "1299", "2699", "4999", "8999"],
    "fees_pricing": ["2", "5", "8.80", "10", "15", "20", "36", "88", "120", "299"],
}
BURST_AMOUNTS = ["200", "300", "500", "800", "1000", "1200", "2000", "3000", "5000"]

# fmt: off
SURNAMES = ["wang", "li", "zhang", "liu", "chen", "yang", "zhao", "huang", "zhou", "wu", "xu", "sun", "hu", "zhu",
            "gao", "lin", "he", "guo", "ma", "luo"]
GIVEN = ["wei", "fang", "na", "min", "jing", "lei", "yang", "yong", "jun", "jie", "tao", "ming", "chao", "xiu", "hua",
         "hong", "ping", "gang", "yan", "xin", "yu", "hao", "ting"]
# fmt: on
EN_FIRST = ["emily", "jason", "olivia", "daniel", "sophia", "michael", "grace", "kevin", "laura", "ryan"]
EN_LAST = ["carter", "nguyen", "miller", "brooks", "patel", "reed", "foster", "kim", "lopez", "hughes"]
EMAIL_DOMAINS = ["example.com", "example.cn", "example.org", "mail.example.com", "example.net"]
# fmt: off
CITIES = [
    ("上海", "上海市"), ("北京", "北京市"), ("杭州", "浙江省杭州市"), ("深圳", "广东省深圳市"),
    ("广州", "广东省广州市"), ("成都", "四川省成都市"), ("武汉", "湖北省武汉市"), ("南京", "江苏省南京市"),
    ("西安", "陕西省西安市"), ("重庆", "重庆市"), ("长沙", "湖南省长沙市"), ("郑州", "河南省郑州市"),
    ("苏州", "江苏省苏州市"), ("天津", "天津市"), ("青岛", "山东省青岛市"), ("厦门", "福建省厦门市"),
]
US_PLACES = [
    ("CA", "941XX"), ("NY", "112XX"), ("TX", "770XX"), ("FL", "331XX"), ("IL", "606XX"), ("WA", "981XX"),
    ("NJ", "070XX"), ("GA", "303XX"), ("MA", "021XX"), ("PA", "191XX"),
]
# fmt: on
BANKS = ["工商银行", "建设银行", "招商银行", "农业银行", "中国银行", "交通银行", "浦发银行"]
MERCHANTS: dict[str, list[str | None]] = {
    "refund_after_sales": ["美味多外卖", "京华电器", "小象生鲜", "星途出行", "蓝鲸影院"],
    "fees_pricing": ["京华电器", "星途出行", None, None],
    "marketing": ["美味多外卖", None],
    "device_quality": ["好邻居便利店", "阿芳水果店", "老王面馆"],
    "account_security": [None, None, "云端游戏"],
}
PRODUCTS: dict[str, list[str | None]] = {
    "transfer_delay": ["钱包余额", "银行卡"],
    "fees_pricing": ["银行卡", "扫码付"],
    "refund_after_sales": ["扫码付"],
    "feature_limit": ["信用付", "银行卡"],
    "system_fault": [None, "扫码付"],
    "privacy": ["账户服务"],
    "compliance": ["账户服务"],
    "marketing": ["扫码付", None],
    "device_quality": ["商户收款"],
    "account_security": ["钱包余额", "账户服务"],
}
# Hour-of-day weights: the app is used round the clock, the call centre answers 08:00-22:00.
APP_HOURS = [1, 0.5, 0.3, 0.2, 0.2, 0.3, 1, 2, 4, 6, 7, 7, 6, 6, 6, 6, 6, 5, 5, 6, 7, 7, 5, 3]
HOTLINE_HOURS = [0] * 8 + [5, 8, 8, 7, 5, 6, 7, 7, 6, 5, 3, 3, 2, 2] + [0, 0]
FULL_WIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")
HALF_WIDTH_PUNCT = str.maketrans({"，": ",", "。": ".", "！": "!", "？": "?", "：": ":"})
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


@dataclass(frozen=True)
class User:
    user_id: str
    phone: str
    email: str | None
    city: str
    region: str
    english: bool = False
    state: str = ""
    zip_code: str = ""


@dataclass(eq=False)
class Complaint:
    channel: str  # app | hotline | regulator
    category: str
    at: datetime
    user: User
    body: str
    core: str  # the customer's own words, before any call-centre prefix
    title: str | None = None
    amount: Decimal | None = None
    merchant: str | None = None
    product: str | None = None
    email: str | None = None  # as this channel recorded it
    customer_ref: str | None = None
    tags: list[str] = field(default_factory=list)
    defect: str | None = None
    origin: Complaint | None = None
    link: str = ""
    external_id: str = ""
    location: str = ""
    english: bool = False  # the text's language, not the customer's
    note: str = ""  # what makes a special record special, for the README


# --- helpers -----------------------------------------------------------------------------------


def id_number(rng: Random) -> str:
    """An 18-digit mainland ID number whose check digit is valid (so masking must catch it)."""
    area = rng.choice(["110101", "310104", "330106", "440305", "510107"])
    born = date(1960, 1, 1) + timedelta(days=rng.randrange(365 * 40))
    body = f"{area}{born:%Y%m%d}{rng.randrange(1000):03d}"
    total = sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def card_number(rng: Random) -> str:
    """A 16-digit bank card number passing the Luhn check."""
    digits = [int(c) for c in "622202"] + [rng.randrange(10) for _ in range(9)]
    total = 0
    for i, d in enumerate(reversed(digits)):
        total += (d * 2 - 9 if d > 4 else d * 2) if i % 2 == 0 else d
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


def money(amount: Decimal, thousands: bool) -> str:
    text = f"{amount:,.2f}" if thousands else f"{amount:.2f}"
    return text.removesuffix(".00") if amount == amount.to_integral() else text


class Builder:
    def __init__(self, seed: int) -> None:
        self.rng = Random(seed)
        self.user_ids: set[str] = set()
        self.emails: set[str] = set()
        self.complaints: list[Complaint] = []
        self.text_keys: set[str] = set()

    # --- people and times ---

    def user(self, english: bool = False, email_share: float = 0.9) -> User:
        rng = self.rng
        user_id = f"U{rng.randrange(10**7, 10**8)}"
        while user_id in self.user_ids:
            user_id = f"U{rng.randrange(10**7, 10**8)}"
        self.user_ids.add(user_id)
        phone = f"1{rng.choice(['38', '39', '58', '86', '88', '35', '37', '50', '52', '77', '89'])}"
        phone += f"{rng.randrange(10**8):08d}"
        email = None
        if rng.random() < email_share:
            while email is None or email in self.emails:
                if english:
                    local = f"{rng.choice(EN_FIRST)}.{rng.choice(EN_LAST)}{rng.randrange(10, 99)}"
                else:
                    surname, given = rng.choice(SURNAMES), rng.choice(GIVEN)
                    local = rng.choice(
                        [
                            f"{given}.{surname}{rng.randrange(10, 99)}",
                            f"{surname}{given}{rng.randrange(70, 99)}",
                            f"{surname}_{given}{rng.randrange(1, 9)}",
                        ]
                    )
                email = f"{local}@{rng.choice(EMAIL_DOMAINS)}"
            self.emails.add(email)
        city, region = rng.choice(CITIES)
        state, zip_code = rng.choice(US_PLACES)
        return User(user_id, phone, email, city, region, english, state, zip_code)

    def time_on(self, day: date, hours: list[float]) -> datetime:
        hour = self.rng.choices(range(24), weights=hours)[0]
        return datetime(day.year, day.month, day.day, hour, self.rng.randrange(60), self.rng.randrange(60), tzinfo=TZ)

    def background_time(self, channel: str) -> datetime:
        if channel == "regulator":
            day = self.rng.choices(DAYS, weights=[3, 3, 3, 3, 3, 1, 1])[0]
            return datetime(day.year, day.month, day.day, 12, tzinfo=TZ)
        return self.time_on(self.rng.choice(DAYS), APP_HOURS if channel == "app" else HOTLINE_HOURS)

    # --- texts ---

    def slots(self, category: str, amount: Decimal | None, usd: bool = False) -> dict[str, str]:
        rng = self.rng
        is_fee = category == "fees_pricing"
        fee = amount if amount is not None and is_fee else Decimal(rng.choice(["5", "12", "20"]))
        # For a fee complaint {amt} is what the fee was charged on: at least 20 times the fee.
        bases = [a for a in AMOUNTS["transfer_delay"] if not is_fee or Decimal(a) >= 20 * fee]
        amt = amount if amount is not None and not is_fee else Decimal(rng.choice(bases))
        limit = Decimal(rng.choice(["500", "1000", "2000", "5000"]))
        sign = "$" if usd else "¥"
        return {
            "amt": money(amt, rng.random() < 0.4),
            "fee": money(fee, False),
            "amt_en": f"{sign}{amt:,.2f}",
            "fee_en": f"{sign}{fee:,.2f}",
            "cfpb_amt": f"{{${amt:,.2f}}}",
            "cfpb_fee": f"{{${fee:,.2f}}}",
            "n": str(limit) if category == "feature_limit" else str(rng.randrange(3, 12)),
            "n_en": f"{sign}{limit:,.2f}",
            "a": rng.choice(["20000", "30000", "50000"]),
            "b": rng.choice(["2000", "3000", "5000"]),
            "bank": rng.choice(BANKS),
            "days": rng.choice(["两", "三", "四", "五", "好几"]),
            "days_en": rng.choice(["three", "four", "five", "six"]),
            "when": rng.choice(["昨天", "前天", "今天上午", "周一", "上周末", "昨天晚上", "今天早上"]),
            "when_today": rng.choice(["今天上午", "今天早上", "上午十点多", "中午"]),
            "hours": str(rng.randrange(2, 6)),
            "weekday": rng.choice(["Monday", "Tuesday", "Wednesday"]),
            "merchant": rng.choice(MERCHANTS["refund_after_sales"]),
            "code": rng.choice(["E2031", "500-13", "AUTH_401", "E0912"]),
            "pct": rng.choice(["1.5", "2", "0.6"]),
            "company": COMPANY_SHORT,
        }

    def zh_text(self, template: str, slots: dict[str, str], category: str, decorate: bool = True) -> str:
        rng = self.rng
        text = template.format_map(slots)
        if category == "other":
            text = rng.choice(["", "你好，", "您好，"]) + text + rng.choice(["", "谢谢。"])
        elif decorate:
            text = rng.choice(ZH_OPENERS) + text + rng.choice(ZH_CLOSERS)
            if rng.random() < 0.1:
                text += rng.choice(ZH_THREATS)
            # Hardship is mentioned where money is at stake.
            if category in AMOUNTS and rng.random() < 0.08:
                text += rng.choice(ZH_VULNERABLE)
        # Some people type on a PC (half-width punctuation), some with full-width digits.
        if rng.random() < 0.12:
            text = text.translate(HALF_WIDTH_PUNCT)
        if rng.random() < 0.1:
            text = text.translate(FULL_WIDTH_DIGITS)
        return text

    def en_text(self, template: str, slots: dict[str, str], category: str, threats: list[str] = EN_THREATS) -> str:
        text = template.format_map(slots)
        if category != "other" and self.rng.random() < 0.2:
            text += " " + self.rng.choice(threats)
        if category in AMOUNTS and self.rng.random() < 0.08:
            text += " " + self.rng.choice(EN_VULNERABLE)
        return text

    # --- complaints ---

    def amount_for(self, category: str) -> Decimal | None:
        values = AMOUNTS.get(category)
        return Decimal(self.rng.choice(values)) if values else None

    def add(self, complaint: Complaint) -> Complaint:
        self.complaints.append(complaint)
        return complaint

    def unique_core(
        self, channel: str, category: str, english: bool, usd: bool, merchant: str | None
    ) -> tuple[str, Decimal | None]:
        """Words no other customer used (by the dedupe stage's own text hash), so that only deliberate
        resubmissions share a text; the burst and fee wave are left free to repeat each other."""
        rng = self.rng
        for _ in range(50):
            amount = self.amount_for(category)
            slots = self.slots(category, amount, usd=usd)
            if merchant:
                slots["merchant"] = merchant
            if channel == "regulator":
                core = self.en_text(rng.choice(CFPB[category]), slots, category, REGULATOR_THREATS)
            elif english:
                core = self.en_text(rng.choice(EN[category]), slots, category)
            else:
                core = self.zh_text(rng.choice(ZH[category]), slots, category)
            if text_hash(core) not in self.text_keys:
                self.text_keys.add(text_hash(core))
                return core, amount
        raise RuntimeError(f"not enough distinct {category} texts for {channel}; add templates")

    def background(self, channel: str, category: str, english: bool = False) -> Complaint:
        rng = self.rng
        user = self.user(english=english or channel == "regulator", email_share=0.9 if channel == "app" else 0.75)
        merchant = COMPANY if channel == "regulator" else rng.choice(MERCHANTS.get(category, [None]))
        core, amount = self.unique_core(channel, category, english, user.english, merchant)
        if channel == "regulator":
            return self.add(
                Complaint(
                    "regulator",
                    category,
                    self.background_time(channel),
                    user,
                    core,
                    core,
                    title=CFPB_ISSUES[category][0],
                    amount=amount,
                    merchant=merchant,
                )
            )
        title = rng.choice((EN_TITLES if english else ZH_TITLES)[category])
        body = core
        if channel == "hotline":
            title = None
            if rng.random() < 0.7:
                body = rng.choice(AGENT_PREFIXES) + core
        c = Complaint(
            channel,
            category,
            self.background_time(channel),
            user,
            body,
            core,
            title=title,
            amount=amount,
            merchant=merchant,
            product=rng.choice(PRODUCTS.get(category, [None])),
            english=english,
        )
        self.contacts(c)
        return self.add(c)

    def contacts(self, c: Complaint) -> None:
        """What the channel recorded: the app knows the login; the call centre asks for some of it."""
        if c.channel == "app":
            c.email, c.customer_ref = c.user.email, c.user.user_id
        elif c.channel == "hotline":
            c.email = c.user.email if self.rng.random() < 0.8 else None
            c.customer_ref = c.user.user_id if self.rng.random() < 0.8 else None

    def burst(self) -> list[Complaint]:
        """44 distinct users, withdrawals through one channel failing, within ~6 hours on 2026-11-19."""
        rng = self.rng
        out = []
        offsets = sorted(rng.triangular(0, BURST_MINUTES, BURST_MINUTES * 0.4) for _ in range(44))
        channels = ["app"] * 30 + ["hotline"] * 14
        rng.shuffle(channels)
        english_left = 3  # expats: English text, but a mainland account in yuan
        for offset, channel in zip(offsets, channels, strict=True):
            english = channel == "app" and english_left > 0 and rng.random() < 0.15
            english_left -= english
            user = self.user()
            amount = Decimal(rng.choice(BURST_AMOUNTS))
            slots = self.slots("transfer_delay", amount)
            if english:
                core = self.en_text(rng.choice(BURST_EN), slots, "transfer_delay")
                title = rng.choice(EN_TITLES["transfer_delay"])
            else:
                core = self.zh_text(rng.choice(BURST_ZH), slots, "transfer_delay", decorate=rng.random() < 0.5)
                title = rng.choice(ZH_TITLES["transfer_delay"])
            body = core
            if channel == "hotline":
                title, body = None, rng.choice(AGENT_PREFIXES) + core
            at = BURST_FROM + timedelta(minutes=offset, seconds=rng.randrange(60))
            c = Complaint(
                channel,
                "transfer_delay",
                at,
                user,
                body,
                core,
                title=title,
                amount=amount,
                merchant=BURST_MERCHANT,
                product="钱包余额",
                tags=["burst"],
                english=english,
            )
            self.contacts(c)
            out.append(self.add(c))
        return out

    def fee_wave(self) -> list[Complaint]:
        """15 distinct users over one day: the merchant started charging for wallet payments."""
        rng = self.rng
        out = []
        channels = ["app"] * 10 + ["hotline"] * 5
        rng.shuffle(channels)
        english_at = channels.index("app")  # one expat among them
        for i, channel in enumerate(channels):
            user = self.user()
            amount = Decimal(rng.choice(["3.60", "5", "8.80", "12", "19.90", "26"]))
            slots = self.slots("fees_pricing", amount)
            english = i == english_at
            template = FEE_WAVE_EN[0] if english else rng.choice(FEE_WAVE_ZH)
            if english:
                core = self.en_text(template, slots, "fees_pricing")
            else:
                core = self.zh_text(template, slots, "fees_pricing")
            title = rng.choice((EN_TITLES if english else ZH_TITLES)["fees_pricing"])
            body = core
            if channel == "hotline":
                title, body = None, rng.choice(AGENT_PREFIXES) + core
            at = FEE_FROM + timedelta(minutes=rng.randrange(FEE_MINUTES), seconds=rng.randrange(60))
            c = Complaint(
                channel,
                "fees_pricing",
                at,
                user,
                body,
                core,
                title=title,
                amount=amount,
                merchant=FEE_MERCHANT,
                product="扫码付",
                tags=["fee_wave"],
                english=english,
            )
            self.contacts(c)
            out.append(self.add(c))
        return out

    def later(self, after: datetime, channel: str, min_hours: float, max_hours: float) -> datetime:
        """A time after `after`, inside the week and (for the call centre) inside opening hours."""
        room = (WEEK_END - after).total_seconds() / 3600 - 1
        at = after + timedelta(hours=self.rng.uniform(min(min_hours, room), min(max_hours, room)))
        if channel == "regulator":
            return datetime(at.year, at.month, at.day, 12, tzinfo=TZ)
        if channel == "hotline" and at.hour < 8:
            at = at.replace(hour=8)
        elif channel == "hotline" and at.hour >= 22:
            # The next morning if the week allows, else just before closing.
            morning = (at + timedelta(days=1)).replace(hour=8)
            at = morning if morning < WEEK_END else at.replace(hour=21)
        return at

    def resubmit(self, orig: Complaint, channel: str) -> Complaint:
        """The same customer about the same problem through another channel, days or hours later."""
        rng = self.rng
        if channel == "regulator":
            variant = rng.random() < 0.5
            body = EN_RESUBMIT_PREFIX + orig.core if variant else orig.core
            at = self.later(orig.at + timedelta(days=1), channel, 0, 48)
            c = Complaint(
                channel,
                orig.category,
                at,
                orig.user,
                body,
                body,
                title=CFPB_ISSUES[orig.category][0],
                amount=orig.amount,
                merchant=COMPANY,
                tags=["resubmission"],
                origin=orig,
                link="text only (" + ("variant" if variant else "identical") + ")",
            )
            return self.add(c)
        mode = rng.choice(["identical", "identical", "prefix", "punctuation"])
        if mode == "identical":
            core = orig.core
        elif mode == "prefix":
            core = rng.choice(ZH_RESUBMIT_PREFIXES) + orig.core
        elif "，" in orig.core:
            core = orig.core.translate(HALF_WIDTH_PUNCT)
        else:
            core = orig.core + "请尽快处理。"
        body, title = core, None
        if channel == "hotline" and rng.random() < 0.4:
            body = rng.choice(AGENT_PREFIXES) + core
        if channel == "app":
            title = rng.choice(ZH_TITLES[orig.category])
        at = self.later(orig.at, channel, 2, 60)
        c = Complaint(
            channel,
            orig.category,
            at,
            orig.user,
            body,
            core,
            title=title,
            amount=orig.amount,
            merchant=orig.merchant,
            product=orig.product,
            tags=["resubmission"],
            origin=orig,
        )
        self.contacts(c)
        if channel == "hotline":
            # At least one identifier the dedupe stage can match on; sometimes typed in another case.
            if c.email is None and c.customer_ref is None:
                c.customer_ref = orig.user.user_id
            if c.email and rng.random() < 0.3:
                c.email = c.email.capitalize().replace("@example", "@Example")
        pairs = (("email", c.email, orig.email), ("customer number", c.customer_ref, orig.customer_ref))
        links = [name for name, mine, theirs in pairs if mine and theirs and mine.lower() == theirs.lower()]
        c.link = " + ".join(links) + f" ({'identical' if body == orig.body else 'variant'} text)"
        return self.add(c)

    def resend(self, orig: Complaint) -> Complaint:
        """The same complaint sent again on the same channel (double tap, or a second call)."""
        minutes = self.rng.randrange(2, 30) if orig.channel == "app" else self.rng.randrange(60, 180)
        at = min(orig.at + timedelta(minutes=minutes), WEEK_END - timedelta(minutes=1))
        c = Complaint(
            orig.channel,
            orig.category,
            at,
            orig.user,
            orig.body,
            orig.core,
            title=orig.title,
            amount=orig.amount,
            merchant=orig.merchant,
            product=orig.product,
            email=orig.email,
            customer_ref=orig.customer_ref,
            tags=["resend"],
            origin=orig,
            link="same channel",
        )
        return self.add(c)


# --- special content -------------------------------------------------------------------------


def add_specials(b: Builder) -> None:
    """Personal data in free text, hostile markup, CR/LF in a title, multi-line call notes."""
    rng = b.rng

    def put(channel: str, category: str, body: str, note: str, title: str | None = None) -> Complaint:
        c = b.background(channel, category)
        c.body = c.core = body
        if channel == "app":
            c.title = title or rng.choice(ZH_TITLES[category])
        if note == "pii":
            note = "personal data in the text: " + ", ".join(k for k, n in find_pii(body).items() if n)
        c.tags.append("special")
        c.note = note
        return c

    s = b.slots("account_security", Decimal("26000"))
    card, idno = card_number(rng), id_number(rng)
    put(
        "app",
        "account_security",
        f"我的卡被盗刷了{s['amt']}元，卡号{card}，身份证号{idno}，不是我本人操作，请马上冻结！",
        "pii",
    ).amount = Decimal("26000")
    phone = b.user().phone
    put(
        "hotline",
        "compliance",
        f"客户来电反映：实名认证一直失败，人脸识别也不通过。客户身份证号{id_number(rng)}，回拨号码{phone}。",
        "pii",
    )
    user, card = b.user(), card_number(rng)
    put(
        "app",
        "transfer_delay",
        f"提现到{rng.choice(BANKS)}卡{card[:4]} {card[4:8]} {card[8:12]} {card[12:]}的"
        f"钱一直没到账，急用钱，打我电话{user.phone[:3]}-{user.phone[3:7]}-{user.phone[7:]}或者发邮件到"
        f"{user.email or 'li.na@example.cn'}。",
        "pii",
    )
    put(
        "hotline", "privacy", f"客户称其手机号{b.user().phone}在本平台绑卡后每天接到骚扰电话，怀疑个人信息泄露。", "pii"
    )
    put(
        "app",
        "usability",
        "反馈框能直接输入代码？<script>alert(1)</script> 新版界面太难用了，找不到入口。",
        "`<script>` markup in the text",
    )
    put(
        "app",
        "system_fault",
        "App一打开就闪退，报错后白屏，试了好几次都打不开。",
        "`<img>` tag pointing at 127.0.0.1 as the title",
        title="<img src=http://127.0.0.1:9/x>",
    )
    put(
        "hotline",
        "system_fault",
        "客户来电反映：短信链接打开显示{{ 7*7 }}和${7*7}，App随后闪退，无法登录。",
        "template syntax `{{ 7*7 }}` and `${7*7}` in the text",
    )
    put(
        "app",
        "transfer_delay",
        "周一提现的钱到现在没到账，一直处理中。",
        "CR/LF inside the title",
        title="提现没到账\r\n请加急处理",
    )
    s = b.slots("transfer_delay", Decimal("3000"))
    put(
        "hotline",
        "transfer_delay",
        f"客户来电反映：\n1、11月17日提现{s['amt']}元至{s['bank']}卡；\n"
        "2、至今未到账，App显示处理中；\n3、要求今天给答复。",
        "line breaks inside a quoted CSV field",
    ).amount = Decimal("3000")
    put(
        "hotline",
        "refund_after_sales",
        "客户来电反映：\n在美味多外卖的订单取消后一直没退款，\n商家不退钱，要求平台介入。",
        "line breaks inside a quoted CSV field",
    ).merchant = "美味多外卖"


MALFORMED = {
    "app": ["missing_id", "bad_date", "bad_amount", "broken_json"],
    "hotline": ["missing_id", "bad_date", "bad_amount", "field_count"],
    "regulator": ["missing_id", "bad_date", "field_count"],
}
DEFECT_TEXT = {
    "missing_id": "id missing",
    "bad_date": "unparseable date",
    "bad_amount": 'non-numeric amount "很多钱"',
    "broken_json": "truncated JSON line",
    "field_count": "wrong number of fields",
}


def build(seed: int) -> Builder:
    b = Builder(seed)
    rng = b.rng
    for channel, mix, english in (
        ("app", APP_ZH_MIX, False),
        ("app", APP_EN_MIX, True),
        ("hotline", HOTLINE_MIX, False),
        ("regulator", REGULATOR_MIX, False),
    ):
        for category, count in mix.items():
            for _ in range(count):
                b.background(channel, category, english=english)
    # Two earlier complaints about the burst channel: the baseline a detector must not flag.
    for day in (DAYS[1], DAYS[5]):
        c = b.background("app", "transfer_delay")
        c.merchant, c.at = BURST_MERCHANT, b.time_on(day, APP_HOURS)
    add_specials(b)
    plain = [c for c in b.complaints if not c.tags and c.at < WEEK_END - timedelta(hours=36)]
    zh_app = [c for c in plain if c.channel == "app" and not c.english]
    en_app = [c for c in plain if c.channel == "app" and c.english and c.category in CFPB]
    # Hotline callers who left an email or customer number, so an app resubmission can be matched.
    hotline = [c for c in plain if c.channel == "hotline" and (c.email or c.customer_ref)]
    burst = b.burst()
    b.fee_wave()
    zh_burst = [c for c in burst if c.channel == "app" and not c.english]
    for orig in rng.sample(zh_app, 16) + rng.sample(zh_burst, 2):
        b.resubmit(orig, "hotline")
    for orig in rng.sample(hotline, 8):
        b.resubmit(orig, "app")
    for orig in rng.sample(en_app, 4):
        b.resubmit(orig, "regulator")
    taken = {id(c.origin) for c in b.complaints if c.origin}
    for channel, n in (("app", 3), ("hotline", 2)):
        for orig in rng.sample([c for c in plain if c.channel == channel and id(c) not in taken], n):
            b.resend(orig)
    for channel, defects in MALFORMED.items():
        for defect in defects:
            category = rng.choice(["transfer_delay", "fees_pricing", "refund_after_sales", "account_security"])
            c = b.background(channel, "transfer_delay" if defect == "field_count" else category)
            c.defect = defect
            if defect == "field_count" and channel == "hotline":
                # A call-centre note typed with an ASCII comma and exported unquoted.
                c.body = c.core = f"客户来电反映：提现{money(c.amount or Decimal(500), False)}元没到账,要求尽快处理"
    return b


# --- self-checks --------------------------------------------------------------------------------


def load_keywords() -> dict[str, list[str]]:
    """Category -> lower-cased keywords, in taxonomy order (ties go to the earlier category)."""
    categories = yaml.safe_load((ROOT / "config" / "taxonomy.yaml").read_text("utf-8"))["categories"]
    return {
        name: [kw.lower() for lang in ("zh", "en") for kw in (spec.get("keywords") or {}).get(lang, [])]
        for name, spec in categories.items()
    }


def hits(text: str, keywords: list[str], word_bounded: bool) -> int:
    def found(kw: str) -> bool:
        if word_bounded and kw.isascii():
            return re.search(rf"\b{re.escape(kw)}\b", text) is not None
        return kw in text

    return sum(found(kw) for kw in keywords)


def check(b: Builder, keywords: dict[str, list[str]]) -> None:
    """Fail loudly unless every text wins its own category outright (by substring and by whole
    English words, so either kind of keyword classifier agrees) and falls inside the week."""
    problems = []
    for c in b.complaints:
        text = unicodedata.normalize("NFKC", f"{c.title or ''} {c.body}").lower()
        for bounded in (False, True):
            scores = {cat: hits(text, words, bounded) for cat, words in keywords.items()}
            best = max(scores.values())
            winners = [cat for cat, score in scores.items() if score == best] if best else ["other"]
            if winners != [c.category]:
                problems.append(f"{c.category}: {winners} {scores[c.category]}/{best}: {text[:80]}")
        if not WEEK_START <= c.at <= WEEK_END:
            problems.append(f"outside the week: {c.at} {text[:40]}")
    if problems:
        sys.exit("demo data self-check failed:\n" + "\n".join(sorted(set(problems))))


# --- writers ------------------------------------------------------------------------------------


def ordered(b: Builder, channel: str) -> list[Complaint]:
    index = {id(c): i for i, c in enumerate(b.complaints)}
    return sorted((c for c in b.complaints if c.channel == channel), key=lambda c: (c.at, index[id(c)]))


def app_amount(c: Complaint, rng: Random) -> object:
    if c.defect == "bad_amount":
        return "很多钱"
    if c.amount is None:
        return None
    if c.user.english:
        return f"${c.amount:,.2f}"
    style = rng.choice(["number", "number", "yuan", "plain"])
    if style == "number":
        return int(c.amount) if c.amount == c.amount.to_integral() else float(c.amount)
    return f"¥{c.amount:,.2f}" if style == "yuan" else f"{c.amount:.2f}"


def write_app(b: Builder, rng: Random) -> bytes:
    lines = []
    for n, c in enumerate(ordered(b, "app"), start=1):
        c.external_id = f"FB{c.at:%Y%m%d}{n:04d}"
        c.location = f"{Path(APP_FILE).name}:line {n}"
        city = c.user.city + ("市" if rng.random() < 0.3 and len(c.user.city) == 2 else "")
        row: dict[str, object] = {
            "feedback_id": c.external_id,
            "submitted_at": "昨天下午" if c.defect == "bad_date" else c.at.isoformat(timespec="seconds"),
            "user_id": c.customer_ref,
            "email": c.email,
            "title": c.title,
            "content": c.body,
            "amount": app_amount(c, rng),
            "merchant": c.merchant,
            "product": c.product,
            "city": city,
        }
        if c.defect == "missing_id":
            del row["feedback_id"]
            c.external_id = ""
        line = json.dumps(row, ensure_ascii=False)
        if c.defect == "broken_json":
            line = line[: line.index('"content"') + 20]  # cut off inside the content string
        lines.append(line)
    return ("\n".join(lines) + "\n").encode("utf-8")


def hotline_amount(c: Complaint, rng: Random) -> str:
    if c.defect == "bad_amount":
        return "很多钱"
    if c.amount is None:
        return ""
    if c.defect == "field_count":
        return f"{money(c.amount, False)}元"
    # GBK has no U+00A5, so Chinese Windows exports write the full-width ￥.
    style = rng.choice(["yen", "yuan", "plain"])
    return {"yen": f"￥{c.amount:,.2f}", "yuan": f"{money(c.amount, False)}元", "plain": f"{c.amount:.2f}"}[style]


def phone_text(phone: str, rng: Random) -> str:
    style = rng.choice(["plain", "plain", "plain", "dashes", "intl"])
    if style == "dashes":
        return f"{phone[:3]}-{phone[3:7]}-{phone[7:]}"
    return f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}" if style == "intl" else phone


# fmt: off
HOTLINE_HEADER = ["工单号", "来电时间", "客户编号", "联系电话", "联系邮箱", "问题描述", "涉及金额",
                  "商户名称", "所在地区"]
# fmt: on


def write_csv(header: list[str], rows: list[tuple[Complaint, list[str]]], name: str, terminator: str) -> str:
    """Render rows, noting each record's first physical line (header is line 1) as its location."""
    out = io.StringIO()
    csv.writer(out, lineterminator=terminator).writerow(header)
    line = 2
    for c, values in rows:
        c.location = f"{name}:line {line}"
        if c.defect == "field_count" and c.channel == "hotline":
            # The note's ASCII comma goes out unquoted: one field too many.
            text = ",".join(values) + terminator
        else:
            buf = io.StringIO()
            csv.writer(buf, lineterminator=terminator).writerow(values)
            text = buf.getvalue()
        out.write(text)
        line += text.count("\n")
    return out.getvalue()


def write_hotline(b: Builder, rng: Random) -> bytes:
    rows = []
    for n, c in enumerate(ordered(b, "hotline"), start=1):
        c.external_id = "" if c.defect == "missing_id" else f"HL{c.at:%Y%m%d}{n:04d}"
        rows.append(
            (
                c,
                [
                    c.external_id,
                    "昨天下午" if c.defect == "bad_date" else f"{c.at:%Y/%m/%d %H:%M}",
                    c.customer_ref or "",
                    phone_text(c.user.phone, rng),
                    c.email or "",
                    c.body,
                    hotline_amount(c, rng),
                    c.merchant or "",
                    c.user.region,
                ],
            )
        )
    # Call-centre exports come from Windows: GBK and CRLF row ends (line breaks inside notes stay LF).
    return write_csv(HOTLINE_HEADER, rows, Path(HOTLINE_FILE).name, "\r\n").encode("gbk")


def write_regulator(b: Builder, rng: Random) -> bytes:
    rows = []
    complaint_id = 15731000
    for c in ordered(b, "regulator"):
        complaint_id += rng.randrange(40, 400)
        c.external_id = "" if c.defect == "missing_id" else str(complaint_id)
        received = c.at.date()
        sent = received + timedelta(days=rng.choice([0, 0, 1]))
        issue, sub_issue = CFPB_ISSUES[c.category]
        values = [
            "2026-11-31" if c.defect == "bad_date" else received.isoformat(),
            "Money transfer, virtual currency, or money service",
            "Mobile or digital wallet",
            issue,
            sub_issue,
            c.body,
            rng.choice(
                [
                    "",
                    "",
                    "Company has responded to the consumer and the CFPB and chooses not to provide a public response",
                ]
            ),
            COMPANY,
            c.user.state,
            c.user.zip_code,
            rng.choice(["", "", "", "", "Older American", "Servicemember"]),
            "Consent provided",
            rng.choice(["Web", "Web", "Web", "Referral", "Phone"]),
            sent.isoformat(),
            "In progress",
            "Yes",
            "N/A",
            c.external_id,
        ]
        if c.defect == "field_count":
            values = values[:15]  # a row cut short by a broken export
        rows.append((c, values))
    return write_csv(list(CFPB_COLUMNS), rows, Path(REGULATOR_FILE).name, "\n").encode("utf-8")


# --- README -------------------------------------------------------------------------------------


THREAT_MARKERS = ("12363", "人民银行", "起诉", "曝光", "消协", "律师", "lawyer", "CFPB", "media", "court", "attorney")


def location_key(c: Complaint) -> tuple[str, int]:
    name, _, line = c.location.rpartition(" ")
    return name, int(line)


def readme(b: Builder, files: dict[str, bytes], categories: list[str]) -> str:
    out = [
        "# Demo data",
        "",
        "Generated by `scripts/generate_demo_data.py` (seed "
        f"{SEED}); do not edit by hand — change the script and run it again. The same seed gives "
        "byte-identical files, and this README is written by the same run, so its numbers are true.",
        "",
        "All complaints were received in ISO week 2026-W47 (2026-11-16 00:00 to 2026-11-22 23:59, "
        "Asia/Shanghai). Company, people, emails (example domains), phone, ID and card numbers are "
        "invented.",
        "",
        "## Files",
        "",
        "| file | format | records | valid | malformed | bytes |",
        "|---|---|---:|---:|---:|---:|",
    ]
    formats = {
        APP_FILE: "JSON Lines, UTF-8",
        HOTLINE_FILE: "CSV, GBK, CRLF",
        REGULATOR_FILE: "CSV (CFPB layout), UTF-8",
    }
    channel_of = {APP_FILE: "app", HOTLINE_FILE: "hotline", REGULATOR_FILE: "regulator"}
    for path, data in files.items():
        cs = [c for c in b.complaints if c.channel == channel_of[path]]
        bad = sum(c.defect is not None for c in cs)
        out.append(f"| `{path}` | {formats[path]} | {len(cs)} | {len(cs) - bad} | {bad} | {len(data):,} |")
    total = len(b.complaints)
    bad_total = sum(c.defect is not None for c in b.complaints)
    out += [f"| **total** | | {total} | {total - bad_total} | {bad_total} | |", ""]
    out += [
        "Hotline amounts use the full-width `￥` (GBK has no `¥`), `300元`, `88.00` or empty; app amounts "
        "are JSON numbers, `¥1,234.50`-style strings, `$` strings for English-speaking users, or null. "
        "Some hotline notes span several lines inside one quoted field.",
        "",
        "## Categories (as written; every text contains keywords of its category in `config/taxonomy.yaml`)",
        "",
        "| category | app | hotline | regulator |",
        "|---|---:|---:|---:|",
    ]
    counts = Counter((c.category, c.channel) for c in b.complaints)
    for cat in categories:
        out.append(f"| {cat} | {counts[cat, 'app']} | {counts[cat, 'hotline']} | {counts[cat, 'regulator']} |")
    burst = [c for c in b.complaints if "burst" in c.tags]
    first, last = min(c.at for c in burst), max(c.at for c in burst)
    wave = [c for c in b.complaints if "fee_wave" in c.tags]
    shared = Counter(text_hash(c.core) for c in burst + wave)
    copied = sum(shared[text_hash(c.core)] > 1 for c in burst + wave)
    baseline = sum(c.merchant == BURST_MERCHANT and not c.tags for c in b.complaints)
    called_again = sum(c.origin is not None and "burst" in c.origin.tags for c in b.complaints)
    threats = sum(any(t in c.body for t in THREAT_MARKERS) for c in b.complaints)
    large = sum(c.amount is not None and c.amount > 10000 for c in b.complaints)
    out += [
        "",
        "## Injected patterns",
        "",
        f"- **Collective burst**: {len({c.user.user_id for c in burst})} distinct users, {len(burst)} "
        f"complaints ({sum(c.channel == 'app' for c in burst)} app, {sum(c.channel == 'hotline' for c in burst)} "
        f"hotline) between {first:%Y-%m-%d %H:%M} and {last:%H:%M} (Asia/Shanghai): withdrawals not arriving, "
        f"merchant `{BURST_MERCHANT}`, transfer_delay; {sum('E1024' in c.body for c in burst)} mention error "
        f"code E1024. {baseline} more app complaints name the same merchant on other days (baseline). "
        f"{called_again} burst users also called the hotline later (listed under resubmissions).",
        f"- **Fee-change wave**: {len({c.user.user_id for c in wave})} distinct users on 2026-11-17 "
        f"({min(c.at for c in wave):%H:%M}–{max(c.at for c in wave):%H:%M}), merchant `{FEE_MERCHANT}`, "
        "fees_pricing (a new surcharge for paying by wallet).",
        f"- In the burst and the wave, {copied} complaints use word for word the same text as another customer's "
        "(wording passed round a chat group): same text, different people, not duplicates. Elsewhere no two "
        "customers share a text (by `complaints.core.normalize.text_hash`) except the resubmissions below.",
        f"- **Escalation threats** ({', '.join(THREAT_MARKERS)}): {threats} complaints. "
        f"**Amount above 10,000**: {large} complaints.",
        "",
        "### Resubmissions",
        "",
        "Same customer, same problem, again through another channel (cross-channel), or sent twice on the same "
        "channel (re-send). Regulator referrals carry no contact: they match the app complaint by text only.",
        "",
        "| resubmission | earlier complaint | matchable by |",
        "|---|---|---|",
    ]
    resubs = sorted((c for c in b.complaints if c.origin), key=lambda c: (c.link == "same channel", location_key(c)))
    out += [f"| `{c.location}` | `{c.origin.location}` | {c.link} |" for c in resubs if c.origin]
    cross = sum(c.link != "same channel" for c in resubs)
    out += ["", f"{cross} cross-channel resubmissions, {len(resubs) - cross} same-channel re-sends.", ""]
    out += [
        "### Personal data, hostile and unusual content",
        "",
        "ID numbers carry a valid check digit and card numbers pass Luhn, as `complaints.pii` requires.",
        "",
        "| record | what |",
        "|---|---|",
    ]
    special = sorted((c for c in b.complaints if "special" in c.tags), key=location_key)
    out += [f"| `{c.location}` | {c.note} |" for c in special]
    out += ["", "## Malformed records", "", "| record | defect |", "|---|---|"]
    malformed = sorted((c for c in b.complaints if c.defect), key=location_key)
    out += [f"| `{c.location}` | {DEFECT_TEXT[c.defect or '']} |" for c in malformed]
    return "\n".join(out) + "\n"


def generate(out_dir: Path, seed: int = SEED) -> dict[str, bytes]:
    keywords = load_keywords()
    b = build(seed)
    check(b, keywords)
    rng = Random(seed + 1)  # a separate stream for presentation details
    files = {APP_FILE: write_app(b, rng), HOTLINE_FILE: write_hotline(b, rng), REGULATOR_FILE: write_regulator(b, rng)}
    files["README.md"] = readme(b, files, list(keywords)).encode("utf-8")
    for rel, data in files.items():
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "demo", help="output folder (default: demo/)")
    args = parser.parse_args()
    for rel, data in generate(args.out).items():
        print(f"{args.out / rel}: {len(data):,} bytes")


if __name__ == "__main__":
    main()
