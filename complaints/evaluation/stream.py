"""An adversarial test stream, written apart from the demo generator, and the scorecard it is measured with.

The stream is what a new deployment sees in its first five weeks: bilingual wallet complaints through four
channels in their own formats (app JSON lines with a user id, a GBK hotline export whose agents paraphrase the
caller, regulator referrals in the CFPB layout with no person key and a date only, and broken rows), one week of
history before the four weeks that count. Its traps:

- resubmissions are paraphrases in another channel and register (the app message, then the agent's note), often
  with a phone written another way, sometimes with no customer reference;
- keyless regulator referrals from many different people about one problem (a collective complaint that a
  text-similarity dedupe would wrongly merge);
- two crises: an outage that spans categories and channels (withdrawal failures, app crashes, vague "it doesn't
  work" rows, referrals) with one error code, and a slower fee-change wave over two days;
- wording that avoids the taxonomy's keywords ("my money is gone from the balance", "他们把我的资料给了别人");
- over-dispersed daily volume with weekday/weekend and hour-of-day cycles.

`write_stream` writes the files and a sources.yaml for them; `score` runs the real ingest and process stages
(the functions the Prefect tasks call) on a scratch database and compares with the truth.
"""

from __future__ import annotations

import csv
import json
import random
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import select

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")

# Problem cores per category: (zh, en) pairs saying the same thing in ordinary words. {amt} {merchant} {order} fill in.
CORES: dict[str, list[tuple[str, str]]] = {
    "transfer_delay": [
        (
            "我往银行卡转了{amt}元，过了两天钱还是没进卡里",
            "I sent {amt} to my bank card two days ago and it still hasn't shown up",
        ),
        (
            "余额取出到储蓄卡，页面一直转圈，钱也没回来",
            "I moved my balance out to my savings card and the money never landed",
        ),
        ("给朋友打款{amt}元，对方说一直没收到", "I paid my friend {amt} and he says nothing came through"),
        ("提到卡里的钱说好两小时，现在第三天了", "the cash-out was supposed to take two hours, it's day three now"),
        ("转出去的钱卡在半路，既不退回也不到账", "my payout is stuck somewhere, neither returned nor delivered"),
    ],
    "fees_pricing": [
        (
            "莫名其妙被扣了{amt}元的服务费用，我从来没同意过",
            "I was billed {amt} for a service charge I never agreed to",
        ),
        (
            "信用卡还款以前免费，现在每笔都要多付钱",
            "paying my card bill used to be free, now every payment costs extra",
        ),
        (
            "提到银行卡被抽了千分之一，说明里根本没写",
            "a 0.1% cut was taken when I cashed out, nothing in the terms said so",
        ),
        (
            "每个月自动扣{amt}元会员费，我没开通过会员",
            "{amt} gets taken every month for a membership I never signed up for",
        ),
        ("价格说变就变，通知都没有就涨了费率", "they raised the rate overnight without telling anyone"),
    ],
    "account_security": [
        ("半夜收到短信说我付了{amt}元，可那时候我在睡觉", "got a text at 3am saying I paid {amt}, I was asleep"),
        (
            "有人用我的账号在{merchant}买了东西，不是我干的",
            "someone used my account to buy things at {merchant}, it wasn't me",
        ),
        (
            "接到冒充客服的电话，按他说的做了以后钱没了",
            "a caller pretending to be your support talked me through steps and my money vanished",
        ),
        ("账户里的{amt}元被人转走了，我从没授权", "{amt} was moved out of my account and I never allowed it"),
        ("我的账号在外地被登录，密码也被改了", "my account was logged into from another city and my password changed"),
    ],
    "refund_after_sales": [
        (
            "在{merchant}退了货，退款一直没有回到我的账户",
            "I sent the item back to {merchant} but the money never came back",
        ),
        (
            "订单{order}取消了一周，钱还没还给我",
            "order {order} was cancelled a week ago and I still don't have my money",
        ),
        (
            "商家同意退{amt}元，平台却一直显示审核中",
            "the shop agreed to give back {amt} but your platform keeps it 'under review'",
        ),
        ("买到坏的东西，申请售后被拒绝", "I got a broken product and my after-sale request was rejected"),
        ("重复付款了两次，多的那笔要不回来", "I was charged twice and can't get the second payment back"),
    ],
    "customer_service": [
        (
            "打了五次电话，每次都是机器人，转不到真人",
            "I called five times and only ever reached a robot, never a person",
        ),
        (
            "在线聊天的人回答完全不对题，问三遍还是复制粘贴",
            "the chat person keeps pasting the same canned answer to a different question",
        ),
        ("说好48小时回电，一周了谁也没联系我", "they promised a call back in 48 hours, a week later nobody has called"),
        ("接线员很不耐烦，直接把电话挂了", "the person on the phone was impatient and just cut me off"),
        ("同一个问题每次都让我从头讲一遍", "every time I contact you I have to explain everything from the beginning"),
    ],
    "feature_limit": [
        (
            "每天最多只能付两千，我做生意根本不够用",
            "I can only pay 2,000 a day, which is nowhere near enough for my shop",
        ),
        ("花呗的可用额度突然被调低了一大半", "my spending line was suddenly cut by more than half"),
        ("海外的卡绑不上，说不提供这个服务", "I can't link my overseas card, it says that's not offered"),
        ("收款码每天只能收五十笔，超过就用不了", "my payment code stops accepting after fifty payments a day"),
        ("想开通亲情付，一直提示暂时无法使用", "I want to turn on family payments but it keeps saying unavailable"),
    ],
    "system_fault": [
        ("一打开付款页面程序就自己关掉了", "the app closes itself the moment I open the payment screen"),
        ("更新到新版本以后一直卡在启动画面", "since the update it just sits on the splash screen"),
        ("付款时弹出{code}，怎么试都付不了", "payment shows {code} and fails no matter what I try"),
        ("页面全是空白，什么都点不了", "the screen is blank white and nothing responds"),
        (
            "登录的时候转了半天然后提示网络异常，可我网是好的",
            "logging in spins forever then says network problem, my internet is fine",
        ),
    ],
    "usability": [
        ("想看账单要点好几层，太绕了", "finding my statement takes too many taps, it's a maze"),
        (
            "新版把常用的按钮藏起来了，老人根本不会用",
            "the new layout hides the buttons I use, my parents can't manage it",
        ),
        ("字太小了，颜色也看不清", "the text is tiny and the colours are hard to read"),
        ("注销账户的入口根本找不着", "there's no way to find where to close my account"),
        ("每次付款都要输很多步，操作太麻烦", "paying takes so many steps every single time, it's tedious"),
    ],
    "privacy": [
        ("我的手机号好像被卖了，天天有人打电话推贷款", "my number seems to have been sold, I get loan calls every day"),
        ("他们把我的资料给了别的公司，没问过我", "you gave my details to another company without asking me"),
        ("应用要读我的通讯录，不给就不能用", "the app insists on reading my contacts or it won't work"),
        ("别人能看到我的付款记录和住址", "other people could see my payment history and home address"),
        ("注销以后我的个人资料还在被使用", "my data is still being used after I closed my account"),
    ],
    "compliance": [
        ("让我一遍遍上传身份证，传完又说不合格", "you keep asking me to upload my ID again and reject it each time"),
        ("刷脸一直不通过，账户被限制使用", "the face check never passes and my account is restricted"),
        ("要求我说明资金来源，不然就冻着", "I'm told to explain where my money came from or it stays frozen"),
        ("实名信息明明是对的，系统就是不认", "my real-name details are correct but the system won't accept them"),
        ("因为审查把我的收款功能停了一个月", "my receiving function has been suspended for a month for a review"),
    ],
    "marketing": [
        ("说好的满减券结账时不能用", "the discount voucher you advertised doesn't work at checkout"),
        ("参加活动返的钱到现在没给", "the money back from the campaign never arrived"),
        ("一天推送十几条广告，关都关不掉", "a dozen ads pushed a day and I can't turn them off"),
        ("积分突然清零了，也没提前说", "my loyalty balance was wiped without any warning"),
        ("邀请好友的奖励没有发给我", "I never got the reward for inviting friends"),
    ],
    "device_quality": [
        ("店里的收款盒子老是连不上网", "the payment box in my shop keeps losing its connection"),
        ("刷卡的机器用了一个月就坏了", "the card machine broke after a month"),
        ("扫码的小盒子经常识别不出来", "the scanner box often fails to read codes"),
        ("收款音箱不报到账了", "the payment speaker stopped announcing payments"),
        ("小票打印机打出来全是乱码", "the receipt printer prints garbage"),
    ],
}

# Registers: how a channel writes the same core. {core} is the problem, {ask} the demand.
APP_FRAMES = [
    ("{core}，{ask}", "{core}. {ask}"),
    ("{core}！！", "{core}!!"),
    ("您好，{core}。{ask}", "Hi, {core}. {ask}"),
    ("{core}，这是第二次反映了", "{core}, this is the second time I'm reporting it"),
]
HOTLINE_FRAMES = [
    ("来电人称{core}，要求{ask_short}。", "Caller states {core}; wants {ask_short}."),
    ("客户反馈：{core}。诉求：{ask_short}", "Customer reports that {core}. Request: {ask_short}"),
    ("用户情绪激动，表示{core}，希望尽快{ask_short}", "Upset caller says {core}, wants us to {ask_short} soon"),
]
REGULATOR_FRAMES = [
    "I am filing this complaint because {core}. I contacted the company and {ask}",
    "On XX/XX/XXXX {core}. The company has not resolved this. {ask}",
    "{core}. I want the company to {ask_short}.",
]
ASKS = [
    ("请尽快处理", "Please sort it out.", "处理", "fix it"),
    ("我要求退钱", "I want my money back.", "退钱", "refund me"),
    ("给我一个解释", "I need an explanation.", "解释原因", "explain"),
    ("请赔偿损失", "I expect compensation.", "赔偿", "compensate me"),
]
MERCHANTS = ["云栖超市", "北辰电器", "小鹿奶茶", "Harbor Books", "Lumen Travel", "优选生鲜", "Kite Electronics"]
CITIES = ["杭州", "成都", "西安", "广州", "沈阳", "昆明"]
OUTAGE_CODE = "E7731"
OUTAGE_CORES = [  # an outage seen from different sides: withdrawals, crashes, vague rows
    (
        "transfer_delay",
        "提现到银行卡失败，提示{code}，钱被扣了但没到",
        "cash-out to my bank failed with {code}, money left but never arrived",
    ),
    ("system_fault", "付款页面报{code}，一直付不出去", "the pay screen shows {code} and nothing goes through"),
    (
        "system_fault",
        "从下午开始整个应用用不了，总是{code}",
        "since this afternoon the whole app is unusable, always {code}",
    ),
    ("other", "你们今天到底怎么了？什么都做不了", "what is going on with you today? nothing works"),
]
FEE_WAVE = (
    "fees_pricing",
    "这个月开始往卡里转钱突然要收0.6%，以前是免费的",
    "starting this month moving money to my card costs 0.6%, it used to be free",
)


@dataclass
class Person:
    pid: int
    user_id: str | None
    email: str | None
    phone: str
    lang: str


@dataclass
class Row:
    """One complaint as a channel writes it, with the truth about it."""

    channel: str
    at: datetime
    person: int
    text: str
    category: str
    problem: int  # same person + same problem -> same id
    crisis: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class Stream:
    rows: list[Row]
    people: dict[int, Person]
    start: datetime
    weeks: int


def _phone_variants(rng: random.Random, phone: str) -> str:
    """The same mobile as different people type it."""
    return rng.choice(
        [phone, f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}", f"{phone[:3]} {phone[3:7]} {phone[7:]}", f"0086{phone}"]
    )


def _fill(rng: random.Random, template: str) -> str:
    return template.format(
        amt=rng.choice([rng.randint(10, 999), rng.randint(1000, 9999), round(rng.uniform(5, 500), 2)]),
        merchant=rng.choice(MERCHANTS),
        order=f"DD{rng.randint(10**9, 10**10 - 1)}",
        code=f"E{rng.randint(1000, 6999)}",
    )


def _text(rng: random.Random, channel: str, lang: str, core: str, ask: tuple[str, str, str, str]) -> str:
    if channel == "regulator":
        return rng.choice(REGULATOR_FRAMES).format(core=core, ask=ask[1], ask_short=ask[3])
    frames = APP_FRAMES if channel == "app" else HOTLINE_FRAMES
    zh, en = rng.choice(frames)
    if lang == "zh":
        return zh.format(core=core, ask=ask[0], ask_short=ask[2])
    return en.format(core=core, ask=ask[1], ask_short=ask[3])


def _arrival_times(rng: random.Random, start: datetime, days: int, per_day: float) -> Iterator[datetime]:
    """Over-dispersed daily counts (gamma multiplier), fewer at weekends, an evening and a late-morning peak."""
    hours = [
        0.2,
        0.1,
        0.1,
        0.1,
        0.1,
        0.2,
        0.4,
        0.8,
        1.2,
        1.6,
        1.9,
        1.8,
        1.4,
        1.3,
        1.4,
        1.5,
        1.4,
        1.3,
        1.2,
        1.4,
        1.7,
        1.8,
        1.2,
        0.6,
    ]
    for day in range(days):
        date = start + timedelta(days=day)
        weekend = 0.6 if date.weekday() >= 5 else 1.0
        n = max(0, round(per_day * weekend * rng.gammavariate(6.0, 1 / 6.0)))
        for _ in range(n):
            hour = rng.choices(range(24), weights=hours)[0]
            yield date + timedelta(hours=hour, seconds=rng.randrange(3600))


def generate(seed: int = 11, per_day: float = 300, weeks: int = 5, start: datetime | None = None) -> Stream:
    """The stream's complaints with their truth; `per_day` scales everything, crises included."""
    rng = random.Random(seed)
    start = start or datetime(2026, 10, 5, tzinfo=SHANGHAI)  # a Monday
    scale = per_day / 300
    people = [
        Person(
            i,
            f"W{700000 + i}" if rng.random() < 0.8 else None,
            f"user{i}@mail{i % 7}.example" if rng.random() < 0.6 else None,
            f"1{rng.choice('3578')}{rng.randint(10**8, 10**9 - 1)}",
            "zh" if rng.random() < 0.65 else "en",
        )
        for i in range(int(6000 * scale) + 200)
    ]
    rows: list[Row] = []
    problem_ids = iter(range(10**9))
    cats = list(CORES)
    # A person's problems by what they said and when: the same words again within a week are the same problem
    # told again (no reader, human or machine, could call them two), not a new one.
    said: dict[tuple[int, str], tuple[int, datetime]] = {}
    for at in _arrival_times(rng, start, weeks * 7, per_day):
        person = rng.choice(people)
        category = rng.choice(cats)
        core_zh, core_en = rng.choice(CORES[category])
        channel = rng.choices(["app", "hotline", "regulator"], weights=[6, 3, 1])[0]
        lang = "en" if channel == "regulator" else person.lang
        core = _fill(rng, core_zh if lang == "zh" else core_en)
        ask = rng.choice(ASKS)
        earlier = said.get((person.pid, core))
        problem = earlier[0] if earlier and at - earlier[1] <= timedelta(days=7) else next(problem_ids)
        said[(person.pid, core)] = (problem, at)
        rows.append(Row(channel, at, person.pid, _text(rng, channel, lang, core, ask), category, problem))
        if channel != "regulator" and rng.random() < 0.12:  # the same person again, other channel, in other words
            again = "hotline" if channel == "app" else "app"
            rows.append(
                Row(
                    again,
                    at + timedelta(hours=rng.uniform(1, 72)),
                    person.pid,
                    # The same facts (amount, merchant, order) in another register and with another ask.
                    _text(rng, again, lang, core, rng.choice(ASKS)),
                    category,
                    problem,
                )
            )
    _crises(rng, rows, people, start, scale, problem_ids)
    rows.sort(key=lambda r: r.at)
    return Stream(rows, {p.pid: p for p in people}, start=start, weeks=weeks)


def _crises(
    rng: random.Random, rows: list[Row], people: list[Person], start: datetime, scale: float, problem_ids: Iterator[int]
) -> None:
    """An outage on day 23 (6 hours, all channels, four phrasings, one error code) and a fee wave over days 30-31."""
    outage_at = start + timedelta(days=23, hours=14)
    shared_zh = f"提现失败{OUTAGE_CODE}，钱扣了没到账，大家都一样，赶紧处理！"  # the text passed round a chat group
    for person in rng.sample(people, int(160 * scale)):
        at = outage_at + timedelta(hours=6 * rng.random() ** 1.5)
        category, zh, en = rng.choice(OUTAGE_CORES)
        channel = rng.choices(["app", "hotline", "regulator"], weights=[6, 3, 2])[0]
        lang = "en" if channel == "regulator" else person.lang
        if channel == "regulator":  # referrals reach the regulator over the following days
            at = at + timedelta(days=rng.randint(0, 2))
        text = (
            shared_zh
            if lang == "zh" and channel == "app" and rng.random() < 0.3
            else _text(rng, channel, lang, (zh if lang == "zh" else en).format(code=OUTAGE_CODE), rng.choice(ASKS))
        )
        rows.append(
            Row(
                channel,
                at,
                person.pid,
                text,
                category if text != shared_zh else "transfer_delay",
                next(problem_ids),
                crisis="outage",
            )
        )
    wave_at = start + timedelta(days=30, hours=8)
    for person in rng.sample(people, int(90 * scale)):
        at = wave_at + timedelta(hours=40 * rng.random())
        channel = rng.choices(["app", "hotline", "regulator"], weights=[6, 3, 1])[0]
        lang = "en" if channel == "regulator" else person.lang
        core = FEE_WAVE[1] if lang == "zh" else FEE_WAVE[2]
        rows.append(
            Row(
                channel,
                at,
                person.pid,
                _text(rng, channel, lang, core, rng.choice(ASKS)),
                FEE_WAVE[0],
                next(problem_ids),
                crisis="fee_wave",
            )
        )


def _identity(channel: str, person: Person) -> set[str]:
    """What identifies the person in this channel's row: a shared one is evidence of the same person."""
    ids = {f"ref:{person.user_id}"} if person.user_id and channel != "regulator" else set()
    if channel == "app" and person.email:
        ids.add(f"mail:{person.email}")
    if channel == "hotline":
        ids.add(f"phone:{person.phone}")
    return ids  # a referral names nobody


BROKEN_APP = [
    '{"fid": "X1", "submitted_at": "not a date", "content": "提现没到"}',
    '{"fid": "X2", "submitted_at": "2026-10-07T10:00:00+08:00", "amount": NaN, "content": "扣了钱"}',
    '{"fid": "X3", "submitted_at": "0001-01-01T00:00:00+08:00", "content": "year one"}',
    '{"fid": "X4", "submitted_at": "9999-12-31T23:00:00+08:00", "content": "year 9999"}',
    '{"fid": "X5", "submitted_at": "2026-10-08T09:00:00+08:00"}',
    '{"fid": "X6", "submitted_at": "2026-10-08T09:00:00+08:00", "content": ""}',
    '{"fid": "X7", "submitted_at": "2026-10-08T09:00',
    "[1, 2, 3]",
]


def write_stream(stream: Stream, folder: Path, seed: int = 11) -> dict[str, dict[str, Any]]:
    """Write the channel files and a sources.yaml for them; returns the truth keyed by external id."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    truth: dict[str, dict[str, Any]] = {}
    app_lines, hotline_rows, regulator_rows = [], [], []
    for k, row in enumerate(stream.rows):
        person = stream.people[row.person]
        ext = f"{row.channel[:3].upper()}{k:07d}"
        truth[ext] = {
            "person": row.person,
            "problem": row.problem,
            "category": row.category,
            "crisis": row.crisis,
            "channel": row.channel,
            "ids": _identity(row.channel, person),
        }
        if row.channel == "app":
            app_lines.append(
                json.dumps(
                    {
                        "fid": ext,
                        "submitted_at": row.at.isoformat(),
                        "uid": person.user_id,
                        "mail": person.email,
                        "content": row.text,
                    },
                    ensure_ascii=False,
                )
            )
        elif row.channel == "hotline":
            local = row.at.astimezone(SHANGHAI)
            hotline_rows.append(
                [
                    ext,
                    local.strftime("%Y-%m-%d %H:%M"),
                    person.user_id or "",
                    _phone_variants(rng, person.phone),
                    row.text,
                ]
            )
        else:
            day = row.at.astimezone(NEW_YORK).strftime("%Y-%m-%d")
            regulator_rows.append(
                {
                    "Date received": day,
                    "Product": "Money transfer, virtual currency, or money service",
                    "Sub-product": "Mobile or digital wallet",
                    "Issue": "Other transaction problem",
                    "Sub-issue": "",
                    "Consumer complaint narrative": row.text,
                    "Company": "Wallet Inc.",
                    "State": rng.choice(["CA", "NY", "TX", "FL", "WA"]),
                    "ZIP code": "XXXXX",
                    "Submitted via": "Web",
                    "Complaint ID": ext,
                }
            )
    (folder / "app").mkdir(exist_ok=True)
    (folder / "app" / "feedback.jsonl").write_text("\n".join([*app_lines, *BROKEN_APP]) + "\n", encoding="utf-8")
    (folder / "hotline").mkdir(exist_ok=True)
    with (folder / "hotline" / "calls.csv").open("w", encoding="gb18030", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["单号", "来电时间", "会员号", "电话", "记录"])
        writer.writerows(hotline_rows)
        writer.writerow(["HLBAD1", "31/31/2026 25:61", "", "", "坏的一行"])
        writer.writerow(["HLBAD2", "", "", "", ""])
    (folder / "regulator").mkdir(exist_ok=True)
    from complaints.ingest.sources.cfpb import CFPB_COLUMNS

    with (folder / "regulator" / "referrals.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(CFPB_COLUMNS), restval="")
        writer.writeheader()
        writer.writerows(regulator_rows)
    sources = {
        "sources": [
            {
                "name": "s_app",
                "kind": "file",
                "channel": "app",
                "path": str(folder / "app" / "*.jsonl"),
                "timezone": "Asia/Shanghai",
                "mapping": {
                    "external_id": "fid",
                    "received_at": "submitted_at",
                    "customer_ref": "uid",
                    "contact": "mail",
                    "body": "content",
                },
            },
            {
                "name": "s_hotline",
                "kind": "file",
                "channel": "hotline",
                "path": str(folder / "hotline" / "*.csv"),
                "encoding": "auto",
                "timezone": "Asia/Shanghai",
                "date_format": "%Y-%m-%d %H:%M",
                "mapping": {
                    "external_id": "单号",
                    "received_at": "来电时间",
                    "customer_ref": "会员号",
                    "contact": "电话",
                    "body": "记录",
                },
            },
            {
                "name": "s_regulator",
                "kind": "cfpb",
                "channel": "regulator",
                "path": str(folder / "regulator" / "*.csv"),
                "timezone": "America/New_York",
            },
        ]
    }
    (folder / "sources.yaml").write_text(yaml.safe_dump(sources, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return truth


@dataclass
class Scorecard:
    """The figures of one run of the stream through ingest and process."""

    complaints: int
    quarantined: int
    per_day: float
    duplicates: dict[str, Any]
    categories: dict[str, Any]
    incidents: dict[str, Any]
    sources: dict[str, Any]


def _config_dir(folder: Path, project_config: Path) -> Path:
    """The project's configuration with the stream's sources instead of the demo's."""
    target = folder / "config"
    shutil.copytree(project_config, target, dirs_exist_ok=True)
    shutil.copy(folder / "sources.yaml", target / "sources.yaml")
    return target


def run_stream(stream: Stream, project_config: Path, db_url: str | None = None, seed: int = 11) -> Scorecard:
    """Write the stream, ingest every source and run dedupe, classify and detect as the flows do; score it."""
    with tempfile.TemporaryDirectory(prefix="stream-") as tmp:
        folder = Path(tmp)
        truth = write_stream(stream, folder, seed)
        return score_folder(folder, truth, project_config, db_url, weeks=stream.weeks)


def run_second_stream(per_day: float, project_config: Path, db_url: str | None = None, seed: int = 7) -> Scorecard:
    """The hold-out stream another hand wrote (complaints/evaluation/adversary, README there), scored the same way."""
    from complaints.evaluation.adversary.adversary_stream import write

    with tempfile.TemporaryDirectory(prefix="stream-b-") as tmp:
        folder = Path(tmp)
        summary = write(folder, seed=seed, per_day=per_day)
        return score_folder(folder, read_truth(folder / "truth.jsonl"), project_config, db_url,
                            weeks=summary.get("weeks", 5))


def read_truth(path: Path) -> dict[str, dict[str, Any]]:
    """A written stream's truth file: one JSON object per complaint row (external_id, person, problem, category,
    crisis, channel, ids)."""
    truth: dict[str, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            truth[row["external_id"]] = row | {"ids": set(row["ids"])}
    return truth


def score_folder(folder: Path, truth: dict[str, dict[str, Any]], project_config: Path, db_url: str | None,
                 weeks: int) -> Scorecard:
    """Ingest every source of the folder's sources.yaml and run dedupe, classify and detect as the flows do; score."""
    from complaints.core.config import load_config
    from complaints.core.db import migrate, session_scope
    from complaints.core.models import Complaint
    from complaints.detect.replay import detect_pending
    from complaints.ingest.store import ingest_source
    from complaints.process.classify import Categoriser, classify_ids, refresh_model, unprocessed_query
    from complaints.process.dedupe import Background, dedupe_ids

    cfg = load_config(_config_dir(folder, project_config))
    url = db_url or f"sqlite:///{folder / 'stream.db'}"
    migrate(url)
    sources: dict[str, Any] = {}
    for spec in cfg.sources.sources:
        try:
            with session_scope(url) as session:
                summary = ingest_source(session, cfg, spec, "stream-evaluation-key")
            sources[spec.name] = {
                "records": summary.records,
                "inserted": summary.inserted,
                "quarantined": summary.quarantined,
            }
        except Exception as exc:  # a source that crashes is a figure too
            sources[spec.name] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    with session_scope(url) as session:
        for day_end in _days(session):  # a process run a day, as the hourly runs would see the stream
            refresh_model(session, cfg.taxonomy)
            while ids := list(session.execute(unprocessed_query(_complaint_id())
                                              .where(Complaint.received_at < day_end).limit(50_000)).scalars()):
                dedupe_ids(session, ids, cfg.taxonomy.dedupe, Background(until=day_end),
                           Categoriser(session, cfg.taxonomy))
                classify_ids(session, cfg.taxonomy, ids)
                session.commit()
            detect_pending(session, cfg.detection, cfg.taxonomy)
            session.commit()
    with session_scope(url) as session:
        return _score(session, truth, sources, weeks)


def _days(session: Any) -> list[datetime]:
    """The end of every day (UTC) from the first complaint received to the last."""
    from sqlalchemy import func

    from complaints.core.models import Complaint

    first, last = session.execute(select(func.min(Complaint.received_at), func.max(Complaint.received_at))).one()
    if first is None:
        return []
    day = first.replace(hour=0, minute=0, second=0, microsecond=0)
    return [day + timedelta(days=k + 1) for k in range((last - day).days + 1)]


def _complaint_id() -> Any:
    from complaints.core.models import Complaint

    return Complaint.id


def _score(session: Any, truth: dict[str, dict[str, Any]], sources: dict[str, Any], weeks: int) -> Scorecard:
    from complaints.core.models import Complaint, QuarantinedRecord

    rows = session.execute(
        select(
            Complaint.id, Complaint.external_id, Complaint.duplicate_of_id, Complaint.category, Complaint.incident_id,
            Complaint.received_at,
        ).order_by(Complaint.id)
    ).all()
    quarantined = len(session.execute(select(QuarantinedRecord.id)).all())
    ext = {r.id: r.external_id for r in rows}
    known = [r for r in rows if r.external_id in truth]
    return Scorecard(
        complaints=len(rows),
        quarantined=quarantined,
        per_day=len(truth) / (weeks * 7),
        duplicates=_duplicate_figures(known, ext, truth),
        categories=_category_figures(known, truth),
        incidents=_incident_figures(known, truth, weeks),
        sources=sources,
    )


def _duplicate_figures(rows: list[Any], ext: dict[int, str], truth: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Links are right when both sides are the same person's same problem; the ones to find are resubmissions
    whose rows share an identifier (a user id, an email, a phone): without one nothing shows it is one person."""

    def same(a: str, b: str) -> bool:
        return b in truth and (truth[a]["person"], truth[a]["problem"]) == (truth[b]["person"], truth[b]["problem"])

    predicted = [(r.external_id, ext[r.duplicate_of_id]) for r in rows if r.duplicate_of_id]
    correct = sum(same(a, b) for a, b in predicted)
    groups: dict[tuple[int, int], list[str]] = defaultdict(list)
    # In arrival order (not the order the sources were read in): the first of a group is the one its
    # resubmissions are linked to.
    for r in sorted(rows, key=lambda r: r.received_at):
        groups[(truth[r.external_id]["person"], truth[r.external_id]["problem"])].append(r.external_id)
    findable = unlinkable = found = 0
    linked = {r.external_id for r in rows if r.duplicate_of_id}
    for members in groups.values():
        for later in members[1:]:  # in arrival order: the first is the canonical complaint
            if any(truth[later]["ids"] & truth[m]["ids"] for m in members if m != later):
                findable += 1
                found += later in linked
            else:
                unlinkable += 1
    regulator = [r for r in rows if truth[r.external_id]["channel"] == "regulator"]
    return {
        "predicted_links": len(predicted),
        "precision": round(correct / len(predicted), 3) if predicted else None,
        "findable_resubmissions": findable,
        "recall": round(found / findable, 3) if findable else None,
        "resubmissions_without_shared_identifier": unlinkable,
        "regulator_marked_duplicate": f"{sum(bool(r.duplicate_of_id) for r in regulator)} of {len(regulator)}",
    }


def _category_figures(rows: list[Any], truth: dict[str, dict[str, Any]]) -> dict[str, Any]:
    scored = [r for r in rows if truth[r.external_id]["category"] != "other"]
    right = sum(r.category == truth[r.external_id]["category"] for r in scored)
    confused = Counter(
        (truth[r.external_id]["category"], r.category) for r in scored if r.category != truth[r.external_id]["category"]
    )
    return {
        "scored": len(scored),
        "accuracy": round(right / len(scored), 3) if scored else None,
        "fell_to_other": round(sum(r.category == "other" for r in scored) / len(scored), 3) if scored else None,
        "top_confusions": [f"{t} -> {p}: {n}" for (t, p), n in confused.most_common(6)],
    }


def _incident_figures(rows: list[Any], truth: dict[str, dict[str, Any]], weeks: int) -> dict[str, Any]:
    """An incident is true when most of its complaints belong to one crisis; each crisis should be one incident.
    A resubmission is in the incident of the complaint it is linked to, as the product has it (its user hears the
    incident's progress with that complaint's)."""
    incident_of = {r.id: r.incident_id for r in rows}
    members: dict[int, list[str]] = defaultdict(list)
    for r in rows:
        if incident := r.incident_id or incident_of.get(r.duplicate_of_id):
            members[incident].append(r.external_id)
    false = 0
    per_crisis: dict[str, list[int]] = defaultdict(list)
    for incident, exts in members.items():
        crises = Counter(truth[e]["crisis"] for e in exts)
        crisis, n = crises.most_common(1)[0]
        if crisis is None or n / len(exts) < 0.5:
            false += 1
        else:
            per_crisis[crisis].append(incident)
    out: dict[str, Any] = {"incidents": len(members), "false": false, "false_per_week": round(false / weeks, 2)}
    for crisis in sorted({t["crisis"] for t in truth.values() if t["crisis"]}):
        size = sum(truth[r.external_id]["crisis"] == crisis for r in rows)
        held = {i: sum(truth[e]["crisis"] == crisis for e in members[i]) for i in members}
        touching = sum(h >= 3 for h in held.values())
        largest = max(held, key=lambda i: held[i], default=None)
        out[crisis] = {
            "complaints": size,
            "incidents_holding_it": touching,
            "largest_share": round(held[largest] / size, 3) if size and largest is not None else None,
            # Of the complaints in that incident, the share that are the crisis's: what joined it by mistake.
            "purity": round(held[largest] / len(members[largest]), 3) if largest is not None else None,
        }
    return out
