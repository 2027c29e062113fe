"""Synthetic complaint streams for benchmarks: Chinese and English, resubmissions and bursts.

Deterministic for a seed. Rows use the column names of SYNTHETIC_MAPPING (a file source mapping).
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

SYNTHETIC_MAPPING = {
    "external_id": "id", "received_at": "received_at", "customer_ref": "customer", "contact": "email",
    "body": "text", "amount": "amount", "merchant": "merchant", "channel": "channel",
}
COLUMNS = ["id", "received_at", "customer", "email", "text", "amount", "merchant", "channel"]

PROBLEMS_ZH = [
    ("提现一直未到账，已经{n}天了，请尽快处理", "transfer_delay"),
    ("转账失败但是钱被扣了{n}元", "transfer_delay"),
    ("莫名其妙被扣了{n}元手续费，之前没有告知", "fees_pricing"),
    ("账户被盗刷{n}元，不是我本人操作", "account_security"),
    ("商家不退款，已经等了{n}天", "refund_after_sales"),
    ("客服电话打不通，等了{n}分钟没人处理", "customer_service"),
    ("App闪退，登录就报错，错误码E{n}", "system_fault"),
    ("额度被降了，无法开通大额支付{n}", "feature_limit"),
    ("优惠券领了无法使用，活动{n}号结束", "marketing"),
    ("个人信息泄露，每天接到{n}个骚扰电话", "privacy"),
]
PROBLEMS_EN = [
    ("My withdrawal has been pending for {n} days", "transfer_delay"),
    ("I was charged a fee of {n} dollars without notice", "fees_pricing"),
    ("Unauthorized transactions of {n} dollars on my account, I was hacked", "account_security"),
    ("The merchant refuses my refund for order {n}", "refund_after_sales"),
    ("Customer service never answers, waited {n} minutes", "customer_service"),
    ("The app crashes with error {n} when I log in", "system_fault"),
]
MERCHANTS = ["快捷支付通道", "乐购优选商城", "城市公交", "WalletPay Card", "鲜果超市", None, None, None]
CHANNELS = ["app", "hotline", "email", "social"]


def complaints(n: int, seed: int = 7, start: datetime = datetime(2026, 9, 1, tzinfo=UTC),
               resubmit_rate: float = 0.1, bursts: int = 3, burst_users: int = 150,
               end: datetime | None = None) -> Iterator[dict[str, str]]:
    """About n rows in time order over max(n/2000, 7) days from `start` (or up to `end`): background traffic from
    n/3 users, `resubmit_rate` resubmissions (same person, another channel, text lightly changed), and `bursts`
    bursts of `burst_users` distinct new users within 2 hours on one merchant and problem."""
    rng = random.Random(seed)
    span = timedelta(days=max(n / 2000, 7))
    if end is not None:
        start = end - span
    users = max(n // 3, 10)
    pending_bursts = sorted(start + span * rng.random() for _ in range(bursts))
    recent: list[dict[str, str]] = []
    for i in range(n - bursts * burst_users):
        at = start + span * (i / n)
        while pending_bursts and pending_bursts[0] <= at:
            b = pending_bursts.pop(0)
            for k in range(burst_users):
                when = b + timedelta(seconds=k * 7200 // burst_users)
                yield {"id": f"B{b:%Y%m%d%H}-{k}", "received_at": when.isoformat(),
                       "customer": f"BU{b:%j}{k}", "email": f"burst{b:%j}.{k}@example.com",
                       "text": PROBLEMS_ZH[0][0].format(n=rng.randint(1, 5)) + f"，错误码E10{b:%j}",
                       "amount": "", "merchant": "快捷支付通道", "channel": rng.choice(CHANNELS)}
        if recent and rng.random() < resubmit_rate:
            prev = rng.choice(recent)
            when = min(datetime.fromisoformat(prev["received_at"]) + timedelta(hours=rng.randint(1, 72)), at)
            row = {**prev, "id": f"S{i}", "channel": rng.choice(CHANNELS), "received_at": when.isoformat(),
                   "text": prev["text"] + rng.choice(["！", "。", " 请尽快", "!!"])}
        else:
            user = rng.randrange(users)
            template, _ = rng.choice(PROBLEMS_ZH if rng.random() < 0.6 else PROBLEMS_EN)
            row = {"id": f"S{i}", "received_at": at.isoformat(), "customer": f"U{user}",
                   "email": f"user{user}@example.com", "text": template.format(n=rng.randint(1, 9999)),
                   "amount": f"{rng.randint(1, 50000)}.00" if rng.random() < 0.4 else "",
                   "merchant": rng.choice(MERCHANTS) or "", "channel": rng.choice(CHANNELS)}
            recent.append(row)
            if len(recent) > 500:
                recent.pop(0)
        yield row


def write_csv(path: Path, rows: Iterator[dict[str, str]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    return count
