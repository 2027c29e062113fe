"""A duplicate is the same person: keyless complaints need evidence of one person; one person's paraphrased
resubmission is found by problem signature and the pair model, not by character ratios."""

import csv
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from rapidfuzz import fuzz
from sqlalchemy import insert, select

from complaints.core.config import AppConfig, DedupeSettings, FileSourceSpec
from complaints.core.db import session_scope
from complaints.core.models import Complaint, ComplaintSimilarity, DuplicateLink
from complaints.core.normalize import squeeze
from complaints.detect.signatures import user_of
from complaints.ingest.store import ingest_source
from complaints.notify.history import person_complaints
from complaints.process.classify import Categoriser
from complaints.process.dedupe import dedupe_ids, follow_up_channels, says_follow_up
from complaints.process.pairs import shipped_model
from complaints.regulatory.forget import forget
from tests.factories import T0, complaint
from tests.stages import dedupe, unprocessed

NARRATIVE = ("I disputed an account on my credit report that is not mine. The bureau verified it without any "
             "investigation and it is still reporting. I want it removed.")
CFPB_RAW = {"Sub-product": "Credit reporting", "Sub-issue": "Information belongs to someone else", "State": "CA",
            "ZIP code": "92374", "Submitted via": "Web", "Company": "EQUIFAX, INC."}


def _referral(s, body: str, raw: dict[str, str], at=T0, title: str = "Incorrect information on your report"):
    c = complaint(s, body, channel="regulator", source="cfpb", title=title,
                  product="Credit reporting, credit repair services, or other personal consumer reports",
                  region=raw.get("State"))
    c.raw, c.received_at = raw, at
    s.flush()
    return c


def _run(s, cfg: DedupeSettings):
    summary = dedupe(s, unprocessed(s, 10_000), cfg)
    s.commit()
    return summary


def _links(s) -> dict[int, tuple[int, str, float]]:
    return {lk.complaint_id: (lk.canonical_id, lk.method, lk.score)
            for lk in s.execute(select(DuplicateLink)).scalars()}


def test_keyless_near_identical_referrals_of_different_consumers_are_similar_not_duplicates(
        db_url: str, app_config: AppConfig) -> None:
    with session_scope(db_url) as s:
        # A collective complaint through the regulator: the same words, other consumers (other ZIP codes).
        first = _referral(s, NARRATIVE, CFPB_RAW)
        others = [_referral(s, NARRATIVE.replace("removed", "deleted") if k else NARRATIVE,
                            CFPB_RAW | {"ZIP code": f"9{k}0XX"}, at=T0 + timedelta(hours=k)) for k in range(1, 4)]
        # No narrative: the body is the Issue, a label shared by thousands, never evidence of one person.
        issue_only = [_referral(s, "Incorrect information on your report", CFPB_RAW, at=T0 + timedelta(hours=k))
                      for k in (5, 6)]
        summary = _run(s, app_config.taxonomy.dedupe)
        assert (summary.exact, summary.near, summary.keyless) == (0, 0, 0)
        assert _links(s) == {}
        everyone = [first, *others, *issue_only]
        assert all(c.duplicate_of_id is None for c in everyone)
        assert len({user_of(c) for c in everyone}) == len(everyone)  # distinct users for detection
        similar = {r.complaint_id: r.similar_id for r in s.execute(select(ComplaintSimilarity)).scalars()}
        assert set(similar) >= {c.id for c in others} and summary.similar == len(similar)
        assert issue_only[1].id in similar  # visible as similar, not merged


def test_keyless_identical_text_and_metadata_is_a_duplicate(db_url: str, app_config: AppConfig) -> None:
    with session_scope(db_url) as s:
        first = _referral(s, NARRATIVE, CFPB_RAW)
        again = _referral(s, NARRATIVE, CFPB_RAW, at=T0 + timedelta(hours=3))  # same day, same everything
        next_day = _referral(s, NARRATIVE, CFPB_RAW, at=T0 + timedelta(days=1, hours=1))
        other_firm = _referral(s, NARRATIVE, CFPB_RAW | {"Company": "TRANSUNION"}, at=T0 + timedelta(hours=4))
        # Redacted ZIP codes say nothing of who wrote it: a template pasted by two people on one day is two.
        pasted = [_referral(s, NARRATIVE, CFPB_RAW | {"ZIP code": "XXXXX"}, at=T0 + timedelta(hours=h)) for h in (5, 6)]
        summary = _run(s, app_config.taxonomy.dedupe)
        assert summary.keyless == 1 and _links(s) == {again.id: (first.id, "keyless", 1.0)}
        assert next_day.duplicate_of_id is None and other_firm.duplicate_of_id is None
        assert all(p.duplicate_of_id is None for p in pasted)
        # A keyless repost naming the same order number is the same person's too.
        post = complaint(s, "某某钱包退款一直不到账，订单号 2026111500123，太坑了", channel="social", source="weibo",
                         at=T0 + timedelta(hours=2))
        repost = complaint(s, "还是没退款！订单号2026111500123 求关注", channel="social", source="weibo",
                           at=T0 + timedelta(hours=9))
        stranger = complaint(s, "某某钱包退款一直不到账，订单号 2026111500999，太坑了", channel="social",
                             source="weibo", at=T0 + timedelta(hours=10))
        _run(s, app_config.taxonomy.dedupe)
        assert s.get(Complaint, repost.id).duplicate_of_id == post.id
        assert s.get(Complaint, stranger.id).duplicate_of_id is None


def test_paraphrased_cross_channel_resubmission_of_one_person_is_linked(db_url: str, app_config: AppConfig) -> None:
    with session_scope(db_url) as s:
        app = complaint(s, "提现500元到招商银行一直没到账，已经三天了", contact="13812345678", channel="app")
        # The hotline agent's paraphrase of the call, the same phone number written another way.
        call = complaint(s, "客户来电反映：三天前提现到招商银行卡，一直没到账，要求尽快处理",
                         contact="+86 138-1234-5678", channel="hotline", at=T0 + timedelta(hours=6))
        assert fuzz.ratio(squeeze(app.body), squeeze(call.body)) < 50  # no near-copy
        order = complaint(s, "Refund for order 88123456 never came back to my wallet", contact="13812345678",
                          at=T0 + timedelta(days=1))
        order_call = complaint(s, "客户称订单88123456的退款未退回", contact="13812345678", channel="hotline",
                               at=T0 + timedelta(days=2))
        summary = _run(s, app_config.taxonomy.dedupe)
        links = _links(s)
        assert links[call.id][:2] == (app.id, "model") and links[order_call.id] == (order.id, "signature", 1.0)
        assert summary.near == 2 and s.get(Complaint, app.id).channels == ["app", "hotline"]


def test_one_amount_or_one_code_named_twice_in_a_week_is_one_problem(db_url: str, app_config: AppConfig) -> None:
    """Paraphrases too far apart in words for the model, tied by the one payment or fault they name; two
    merchants, or two amounts and none shared, are two problems."""
    with session_scope(db_url) as s:
        app = complaint(s, "退款117.14块钱商家说退了，我这边没到", contact="13812345678")
        call = complaint(s, "客户表示昨日已来电一次。来电客户反映在得物退了货，商家说已经退了人民币117.14元，"
                         "钱包里没看到。已告知处理时效3-5个工作日。", contact="13812345678", channel="hotline",
                         at=T0 + timedelta(days=1))
        login = complaint(s, "登不上去，报错2019", contact="c@example.com")
        again = complaint(s, "登录一直提示错误2019,换了网络也不行", contact="c@example.com", at=T0 + timedelta(hours=9))
        complaint(s, "充值299元一直没到账", contact="d@example.com", merchant="京东")
        other_shop = complaint(s, "299元充值到现在也没到", contact="d@example.com", merchant="拼多多",
                               at=T0 + timedelta(hours=1))
        complaint(s, "扣了我88.5元", contact="e@example.com")
        other_sum = complaint(s, "扣了我99.5元", contact="e@example.com", at=T0 + timedelta(hours=1))
        # A round amount, or one fee beside two different withdrawals, tells no payment.
        complaint(s, "充值100元一直没到账", contact="f@example.com")
        round_sum = complaint(s, "年费100元扣错了，我没开通过", contact="f@example.com", at=T0 + timedelta(hours=1))
        complaint(s, "提现500元到建设银行，手续费2元", contact="g@example.com")
        same_fee = complaint(s, "昨天信用卡还款800元，又收了手续费2元", contact="g@example.com",
                             at=T0 + timedelta(hours=1))
        summary = _run(s, app_config.taxonomy.dedupe)
        links = _links(s)
        assert links[call.id] == (app.id, "signature", 1.0) and links[again.id] == (login.id, "signature", 1.0)
        assert not {other_shop.id, other_sum.id, round_sum.id, same_fee.id} & links.keys() and summary.near == 2


def test_short_text_inside_a_longer_one_is_judged_by_the_model(db_url: str, app_config: AppConfig) -> None:
    short, longer = "借款验证码", "借款验证码发错了"
    assert fuzz.partial_ratio(short, longer) == 100  # what the old rule saw: a perfect match
    p = shipped_model().score(short, longer)
    assert 0 < p < 0.99
    for threshold, linked in ((round(p - 0.01, 4), True), (round(p + 0.01, 4), False)):
        with session_scope(db_url) as s:
            s.query(DuplicateLink).delete()
            s.query(Complaint).delete()
            first = complaint(s, short, contact="a@example.com")
            second = complaint(s, longer, contact="a@example.com", channel="hotline", at=T0 + timedelta(hours=1))
            _run(s, app_config.taxonomy.dedupe.model_copy(update={"pair_threshold": threshold}))
            assert (s.get(Complaint, second.id).duplicate_of_id == first.id) is linked
            if linked:
                assert _links(s)[second.id] == (first.id, "model", round(p, 4))


def test_same_person_different_problem_in_the_window_is_not_linked(db_url: str, app_config: AppConfig) -> None:
    with session_scope(db_url) as s:
        complaint(s, "提现500元一直未到账", contact="a@example.com")
        other = complaint(s, "花呗还款扣了两次，多扣了300元", contact="a@example.com", at=T0 + timedelta(hours=2))
        # Same words, another payment: the order numbers say it is another problem.
        complaint(s, "在京东买的东西申请退款3天了还没退回，订单4595277837", contact="b@example.com")
        second_order = complaint(s, "在京东买的东西申请退款3天了还没退回，订单1899868512", contact="b@example.com",
                                 at=T0 + timedelta(days=1))
        summary = _run(s, app_config.taxonomy.dedupe)
        assert (summary.exact, summary.near) == (0, 0)
        assert other.duplicate_of_id is None and second_order.duplicate_of_id is None


def test_one_account_two_contacts_is_one_person(db_url: str, app_config: AppConfig) -> None:
    """The app knows the account and an email, the hotline the account and a phone: the shared account is
    evidence of one person, so the agent's paraphrase is linked, and both count as one user."""
    with session_scope(db_url) as s:
        app = complaint(s, "提现到银行卡失败，提示E7731，钱扣了但没到", contact="li.na@example.cn",
                        customer_ref="W7001")
        call = complaint(s, "来电人称提现到银行卡失败，提示E7731，要求处理。", contact="13912345678",
                         customer_ref="W7001", channel="hotline", at=T0 + timedelta(hours=3))
        other = complaint(s, "提现到银行卡失败，提示E7731，钱扣了但没到", contact="13987654321", channel="hotline",
                          customer_ref="W7002", at=T0 + timedelta(hours=4))
        _run(s, app_config.taxonomy.dedupe)
        assert _links(s) == {call.id: (app.id, "signature", 1.0)}
        assert user_of(app) == user_of(call) != user_of(other)
        assert s.get(Complaint, other.id).duplicate_of_id is None


def test_partition_keeps_a_person_with_several_identifiers_together() -> None:
    from types import SimpleNamespace

    from complaints.process.dedupe import partition

    row = lambda i, ref, contact: SimpleNamespace(id=i, customer_ref=ref, contact_key=contact, source="s")  # noqa: E731
    # 1-2 share the account, 2, 3 and 4 the phone: one person for dedupe; 5 is someone else.
    rows = [row(1, "W1", "mail-a"), row(2, "W1", "phone-b"), row(3, None, "phone-b"), row(4, "W9", "phone-b"),
            row(5, "W5", "mail-z")]
    for parts in (2, 3, 8):
        together = next(p for p in partition(rows, parts) if 1 in p)
        assert {1, 2, 3, 4} <= set(together)


def _background(s, n: int) -> None:
    """`n` hotline notes from as many callers, all in the agent's template: what a deployment's recent complaints
    look like to the word weights (processed already, so only background)."""
    problems = ["提现到银行卡三天没到账", "信用卡还款被多收了服务费", "商家同意退款但一直没退回", "扫码付款时页面卡住",
                "花呗额度突然被降低", "客服电话一直打不通", "收到陌生短信说账户异常", "实名认证上传身份证总是失败",
                "优惠券结账时用不了", "收款音箱不播报到账", "注销账户的入口找不到", "个人信息被泄露给了推销公司"]
    asks = ["退钱", "解释原因", "赔偿", "处理"]
    rows = []
    for i in range(n):
        body = f"用户情绪激动，表示{problems[i % len(problems)]}，希望尽快{asks[i % len(asks)]}"
        at = T0 - timedelta(hours=1 + i % 300)
        rows.append({"source": "hotline", "external_id": f"BG{i}", "received_at": at, "channel": "hotline",
                     "contact_key": f"bg-{i}", "body": body, "text_hash": f"bg{i}", "raw": {}, "channels": ["hotline"],
                     "first_seen_at": at, "last_seen_at": at, "processed_at": at, "status": "classified"})
    s.execute(insert(Complaint), rows)


def test_two_problems_of_one_person_in_one_register_stay_two(db_url: str, app_config: AppConfig) -> None:
    """The agent's template ("用户情绪激动，表示…，希望尽快…") is in most hotline notes: it weighs little, so one
    caller's two different problems written in it are two complaints, and a paraphrase of one of them is not."""
    with session_scope(db_url) as s:
        _background(s, 1500)
        phone = "13912345678"
        first = complaint(s, "用户情绪激动，表示余额转到储蓄卡以后钱一直没有到，希望尽快退钱", contact=phone,
                          channel="hotline")
        other = complaint(s, "用户情绪激动，表示手机上的付款码被别人拿去用了，希望尽快退钱", contact=phone,
                          channel="hotline", at=T0 + timedelta(hours=20))
        again = complaint(s, "余额转到储蓄卡，钱到现在都没有到，已经第三天了", contact=phone,
                          at=T0 + timedelta(hours=30))
        _run(s, app_config.taxonomy.dedupe)
        links = _links(s)
        assert other.id not in links  # another problem in the same words of the template
        assert links[again.id][:2] == (first.id, "model")  # the same problem in the caller's own words


PROBLEMS = ["提现到账户一直不到", "扫码付款总是提示系统繁忙", "申请的退款没有退回来", "红包被对方领了但钱没到",
            "Transfer to my bank is still pending", "The app crashes when I open the payment page"]


def test_follow_up_wording_is_the_act_of_complaining_again_not_the_problems_state() -> None:
    repeats = ["第二次反馈了，提现还没到", "客户第2次来电，称转账失败", "客户称此前已在App内反馈过，至今无人联系",
               "我之前已经投诉过一次了", "這是我第二次來電", "投诉过了，一直没人处理", "还是没人管，退款呢",
               "已经联系过客服了，没用", "反馈了很多次", "客户表示昨日已来电一次", "反應過一次",
               "This is my second email about this", "Second time reporting this: app crashes",
               "I already reported this last week", "I've already contacted support",
               "Following up on my earlier complaint",
               "Repeat caller, wants refund", "Still no reply from your team", "I complained before",
               "As I mentioned in my previous message, the card is blocked"]
    first_time = ["至今未到账，请尽快处理", "一直没有消息，钱去哪了", "已经提交了提现申请三天了",
                  "已联系商家，商家说找你们",
                  "上次提现很快，这次三天没到", "再次申请提现还是失败", "被扣了第二次手续费", "客户早上来电称无法登录",
                  "客户第1次来电，称无法登录", "客户昨天来电称转账失败", "已付款未到账投诉", "商家没人处理",
                  "账户已冻结来电反映", "已经发信息给商家", "I was charged a second time for the same order",
                  "This is the second time I was charged", "Transfer still pending after 3 days",
                  "Still not received my refund", "I already sent the money to my friend", "Fwd: Your transfer receipt",
                  "Re: Your payment to Acme failed", "Second attempt to pay failed",
                  "My previous email address was hacked",
                  "I called your hotline and no one answered", "客户来电反映扫码失败，已记录，转二线跟进"]
    assert [t for t in repeats if not says_follow_up(None, t)] == []
    assert [t for t in first_time if says_follow_up(None, t)] == []


def test_follow_up_channels_are_those_where_the_wording_follows_an_earlier_complaint(
        app_config: AppConfig) -> None:
    cfg, week = app_config.taxonomy.dedupe.follow_up, timedelta(days=7)
    rows: list[SimpleNamespace] = []

    def person(channel: str, n: int, said: bool, gap: timedelta | None) -> None:
        for k in range(n):
            who, at = f"{channel}{said}{gap}{k}", T0 + timedelta(minutes=len(rows))
            if gap is not None:
                rows.append(SimpleNamespace(received_at=at - gap, channel=channel, contact_key=who, customer_ref=None,
                                            title=None, body="提现没到账"))
            rows.append(SimpleNamespace(received_at=at, channel=channel, contact_key=who, customer_ref=None,
                                        title=None, body="第二次反馈了，提现没到账" if said else "提现没到账"))

    person("app", 30, True, timedelta(hours=5))  # said by people who did complain before
    person("app", 60, False, None)
    person("hotline", 20, True, timedelta(hours=5))  # 20 of 30 did (67%), but so did most others: lift below 3
    person("hotline", 10, True, None)
    person("hotline", 40, False, timedelta(hours=5))
    person("hotline", 20, False, None)
    person("email", 29, True, timedelta(hours=5))  # too few to tell
    person("web", 30, True, timedelta(days=8))  # "before", but outside the window
    rows.sort(key=lambda r: r.received_at)
    assert follow_up_channels(rows, week, cfg) == {"app"}
    assert follow_up_channels(rows, week, cfg.model_copy(update={"min_lift": 1.0})) == {"app", "hotline"}
    assert follow_up_channels(rows, week, cfg.model_copy(update={"enabled": False})) == frozenset()
    assert follow_up_channels(rows, week, cfg.model_copy(update={"min_count": 29})) == {"app", "email"}


def _history(s, channel: str, follow_ups_mean_it: bool) -> None:
    """Two weeks of 80 people of a channel before T0: where follow-up words mean it, 40 write a second complaint
    saying so; elsewhere 40 people write "this is the second time!" into their only complaint (and 40 others
    complain twice in plain words)."""
    for k in range(80):
        at, who = T0 - timedelta(days=14) + timedelta(hours=4 * k), f"{channel}{k}@example.com"
        text = PROBLEMS[k % len(PROBLEMS)]
        twice, said = (k < 40, k < 40) if follow_ups_mean_it else (k >= 40, k < 40)
        first = complaint(s, f"{text}，这是第二次反映了" if said and not twice else text, contact=who, at=at,
                          channel=channel, processed_at=at)
        if twice:
            complaint(s, f"第二次反馈了，{text}" if said else f"{text}!!", contact=who, at=at + timedelta(hours=5),
                      channel=channel, processed_at=at, duplicate_of_id=first.id)


def test_a_follow_up_joins_the_persons_only_earlier_complaint_where_such_words_mean_it(
        db_url: str, app_config: AppConfig) -> None:
    """A repeat told in other words is linked because it says it is a repeat, the person has one earlier complaint
    the signature does not contradict, their words agree at all, and in its channel such words mostly come after an
    earlier complaint. Not in a channel whose writers put them into first complaints, not with two open complaints,
    not to a later complaint, not when the words share nothing."""
    cfg = app_config.taxonomy.dedupe
    with session_scope(db_url) as s:
        _history(s, "app", True)
        _history(s, "hotline", False)
        first = complaint(s, "提现到银行卡三天了还没到账，钱去哪了", contact="p@example.com", processed_at=T0)
        again = complaint(s, "之前已经反馈过，至今无人联系。提现的钱银行卡收不到", contact="p@example.com",
                          at=T0 + timedelta(hours=20))
        complaint(s, "提现到银行卡三天了还没到账，钱去哪了", contact="h@example.com", processed_at=T0)
        called = complaint(s, "客户第二次来电，称提现的钱银行卡收不到", contact="h@example.com", channel="hotline",
                           at=T0 + timedelta(hours=20))
        complaint(s, "余额上限只能放一万，出去旅游不够用", contact="q@example.com", processed_at=T0)
        complaint(s, "营销短信太多了，退订了还发", contact="q@example.com", processed_at=T0)
        ambiguous = complaint(s, "第二次反馈了，钱包余额有上限太不方便", contact="q@example.com",
                              at=T0 + timedelta(hours=3))
        complaint(s, "红包发出去对方没收到也没退回", contact="r@example.com", at=T0 + timedelta(hours=30),
                  processed_at=T0 + timedelta(hours=30))
        before_it = complaint(s, "第二次反馈了，红包的钱没退回来", contact="r@example.com", at=T0 + timedelta(hours=20))
        complaint(s, "余额上限只能放一万，出去旅游不够用", contact="t@example.com", processed_at=T0)
        unrelated = complaint(s, "第二次反馈了，营销短信太多了，退订了还发", contact="t@example.com",
                              at=T0 + timedelta(hours=3))
        off = cfg.model_copy(update={"follow_up": cfg.follow_up.model_copy(update={"enabled": False})})
        assert (_run(s, off).near, again.duplicate_of_id) == (0, None)  # the words alone are too far apart
        summary = _run(s, cfg)
        assert summary.follow_up == 1 and _links(s)[again.id][:2] == (first.id, "follow-up")
        assert [c.duplicate_of_id for c in (called, ambiguous, before_it, unrelated)] == [None] * 4


def test_a_follow_up_in_other_words_joins_the_earlier_complaint_classification_files_with_it(
        db_url: str, app_config: AppConfig) -> None:
    """A follow-up, 第二次反馈了，退款进度卡在审核中, repeats 申请退款3天了状态没变过 in one shared word: the words and
    the pair model are too far apart, but the classifier files both as refunds, so it is linked
    (follow_up.same_category). A follow-up the classifier files under another category than the person's only
    earlier complaint is not."""
    cfg = app_config.taxonomy.dedupe
    with session_scope(db_url) as s:
        _history(s, "app", True)
        first = complaint(s, "申请退款3天了状态没变过", contact="p@example.com", processed_at=T0)
        again = complaint(s, "第二次反馈了，退款进度卡在审核中", contact="p@example.com", at=T0 + timedelta(hours=20))
        complaint(s, "余额上限只能放一万，出去旅游不够用", contact="t@example.com", processed_at=T0)
        unrelated = complaint(s, "第二次反馈了，营销短信太多了，退订了还发", contact="t@example.com",
                              at=T0 + timedelta(hours=3))
        s.commit()
        ids = [again.id, unrelated.id]
        off = cfg.model_copy(update={"follow_up": cfg.follow_up.model_copy(update={"same_category": False})})
        assert dedupe_ids(s, ids, off, None, Categoriser(s, app_config.taxonomy)).follow_up == 0
        assert dedupe_ids(s, ids, cfg, None, Categoriser(s, app_config.taxonomy)).follow_up == 1
        s.commit()
        assert {k: v[:2] for k, v in _links(s).items()} == {again.id: (first.id, "follow-up")}
        # The fallback is no category in common, and a category stored before a source changed the text is none.
        complaint(s, "退款到现在没到账", contact="u@example.com", processed_at=T0, category="other")
        stale = complaint(s, "第二次反馈了，营销短信太多了，退订了还发", contact="u@example.com",
                          at=T0 + timedelta(hours=3), category="other")
        s.commit()
        assert dedupe_ids(s, [stale.id], cfg, None, Categoriser(s, app_config.taxonomy)).follow_up == 0


@pytest.mark.parametrize("runs", [1, 2])
def test_a_resubmission_sharing_an_identifier_only_with_an_earlier_duplicate_joins_its_canonical(
        db_url: str, app_config: AppConfig, runs: int) -> None:
    """The app knows the account and an email; the hotline call gives the account and a phone and is linked; the
    web form then gives only the phone: the duplicate's phone leads to the app complaint, in one process run or
    across two. Another person's phone leads nowhere."""
    with session_scope(db_url) as s:
        app = complaint(s, "提现到银行卡失败，提示E7731，钱扣了但没到", contact="li.na@example.cn",
                        customer_ref="W7001")
        call = complaint(s, "来电人称提现到银行卡失败，提示E7731，要求处理。", contact="13912345678",
                         customer_ref="W7001", channel="hotline", at=T0 + timedelta(hours=3))
        if runs == 2:  # the hourly run that took the first two classified them too
            _run(s, app_config.taxonomy.dedupe)
            app.processed_at = call.processed_at = T0 + timedelta(hours=4)
            s.commit()
        form = complaint(s, "Withdrawal to my bank card failed with E7731, the money left my balance",
                         contact="+86 139 1234 5678", channel="webform", at=T0 + timedelta(hours=9))
        stranger = complaint(s, "Withdrawal to my bank card failed with E7731, the money left my balance",
                             contact="13987654321", channel="webform", at=T0 + timedelta(hours=10))
        _run(s, app_config.taxonomy.dedupe)
        assert {k: v[:2] for k, v in _links(s).items()} == {call.id: (app.id, "signature"),
                                                           form.id: (app.id, "signature")}
        assert s.get(Complaint, stranger.id).duplicate_of_id is None
        assert sorted(s.get(Complaint, app.id).channels) == ["app", "hotline", "webform"]


def test_a_follow_up_is_never_linked_through_a_duplicates_identifier(db_url: str, app_config: AppConfig) -> None:
    """Account R9 has two open complaints, the hotline call linked to the first gave a phone too. A follow-up giving
    only that phone sees the first through the call, not the second: "the person's only earlier complaint" cannot
    be told, so it stays unlinked (a follow-up giving the account sees both and stays unlinked too)."""
    with session_scope(db_url) as s:
        _history(s, "app", True)
        first = complaint(s, "提现到银行卡三天了还没到账，钱去哪了", customer_ref="R9", processed_at=T0)
        complaint(s, "提现到另一张银行卡也失败了，说是风控", customer_ref="R9", processed_at=T0,
                  at=T0 + timedelta(hours=1))
        complaint(s, "来电人称提现到银行卡三天了还没到账", customer_ref="R9", contact="13912345678", channel="hotline",
                  processed_at=T0, at=T0 + timedelta(hours=2), duplicate_of_id=first.id)
        again = complaint(s, "之前已经反馈过，至今无人联系。提现的钱银行卡收不到", contact="13912345678",
                          at=T0 + timedelta(hours=20))
        assert _run(s, app_config.taxonomy.dedupe).follow_up == 0
        assert s.get(Complaint, again.id).duplicate_of_id is None
        # Nor through another complaint's: S7's first complaint gave the phone too, its second did not.
        mine = complaint(s, "提现到银行卡三天了还没到账，钱去哪了", customer_ref="S7", contact="13700001111",
                         processed_at=T0)
        complaint(s, "提现到另一张银行卡也失败了，说是风控", customer_ref="S7", processed_at=T0,
                  at=T0 + timedelta(hours=1))
        also = complaint(s, "之前已经反馈过，至今无人联系。提现的钱银行卡收不到", contact="13700001111",
                         at=T0 + timedelta(hours=20))
        assert _run(s, app_config.taxonomy.dedupe).follow_up == 0
        assert s.get(Complaint, also.id).duplicate_of_id is None and mine.duplicate_of_id is None
        # Nor when the other open complaint is two steps away: the phone's complaint; the call (account + phone)
        # linked to an account + email complaint about another code; that email's own complaint.
        complaint(s, "提现到银行卡三天了还没到账，钱去哪了", contact="13600002222", processed_at=T0)
        other = complaint(s, "付款失败，错误码E2222", customer_ref="Q5", contact="q5@example.com", processed_at=T0)
        complaint(s, "来电人称付款失败，错误码E2222", customer_ref="Q5", contact="13600002222", channel="hotline",
                  processed_at=T0, at=T0 + timedelta(hours=2), duplicate_of_id=other.id)
        complaint(s, "账户被限制收款了", contact="q5@example.com", processed_at=T0, at=T0 + timedelta(hours=3))
        far = complaint(s, "之前已经反馈过，至今无人联系。提现的钱银行卡收不到，错误码E1111", contact="13600002222",
                        at=T0 + timedelta(hours=20))
        assert _run(s, app_config.taxonomy.dedupe).follow_up == 0
        assert s.get(Complaint, far.id).duplicate_of_id is None


def test_an_account_typed_in_lower_case_or_with_spaces_is_one_account(
        db_url: str, app_config: AppConfig, tmp_path: Path) -> None:
    """Ingested from a web form as " w607075546 ", the app's W607075546 is one account: stored in one form, the
    resubmission is linked, and the person's history and erasure find both however ops type the account."""
    (tmp_path / "in").mkdir()
    rows = [{"id": "a1", "at": "2026-11-16T10:00:00+08:00", "cust": "W607075546", "contact": "",
             "body": "退款1700元退到了一张已经注销的卡上，订单号 20261024209821696217"},
            {"id": "f1", "at": "2026-11-17T09:00:00+08:00", "cust": " w607075546 ", "contact": "",
             "body": "My refund of 1700 went to a closed card, order 20261024209821696217"},
            {"id": "o1", "at": "2026-11-17T09:30:00+08:00", "cust": "W607075547", "contact": "",
             "body": "My refund of 1700 went to a closed card, order 20261024209821696217"}]
    with (tmp_path / "in" / "rows.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    spec = FileSourceSpec(name="forms", kind="file", channel="webform", path="in/*.csv",
                          mapping={"external_id": "id", "received_at": "at", "customer_ref": "cust",
                                   "contact": "contact", "body": "body"})
    cfg = app_config.model_copy(update={"directory": tmp_path})
    with session_scope(db_url) as s:
        assert ingest_source(s, cfg, spec, "k").inserted == 3
        _run(s, cfg.taxonomy.dedupe)
        by_ext = {c.external_id: c for c in s.scalars(select(Complaint))}
        assert [by_ext[e].customer_ref for e in ("a1", "f1", "o1")] == ["W607075546", "W607075546", "W607075547"]
        assert by_ext["f1"].duplicate_of_id == by_ext["a1"].id and by_ext["o1"].duplicate_of_id is None
        assert {c.external_id for c in person_complaints(s, "w607075546", "k")} == {"a1", "f1"}
        found = forget(s, "w607075546", pii_key="k", outbox_dir=tmp_path / "outbox", marker="[purged]",
                       dry_run=True)
        assert found.complaints == 2
        assert person_complaints(s, "\u200b", "k") == []  # a blank names no one, not everyone without a reference
        with pytest.raises(ValueError, match="name a customer reference"):
            forget(s, "\u200b", pii_key="k", outbox_dir=tmp_path / "outbox", marker="[purged]", dry_run=True)


def test_a_placeholder_typed_for_a_missing_identifier_makes_no_one_the_same_person(
        db_url: str, app_config: AppConfig, tmp_path: Path) -> None:
    """Hotline agents type 00000000000, 138-0013-8000, N/A or 暂无 when a caller gives no number or account, or the
    call centre's own number (listed in the source's not_identifiers): the outage's callers who got one all name
    E5031, and were linked as one person's resubmissions (and counted as one user). Such a value keys no one and is
    no contact; the mail column saying 无 gives way to the phone column; a real number two calls share still keys."""
    (tmp_path / "in").mkdir()
    typed = [("00000000000", ""), ("138-0013-8000", "N/A"), ("+86 138 0000 0000", "暂无"), ("none@qq.com", "0"),
             ("", "000000"), ("无", "-"), ("021 6123 4567", ""), ("+86 21 6123 4567", ""), ("0086 21 61234567", "")]
    # Each typed by two callers.
    rows = [{"id": f"h{n}{k}", "at": f"2026-11-18T1{n}:{k}0:00+08:00", "cust": cust, "mail": "无", "phone": phone,
             "body": f"来电人称付款一直失败，提示E5031，{k}号坐席"} for n, (phone, cust) in enumerate(typed)
            for k in range(2)]
    rows += [{"id": f"r{n}", "at": f"2026-11-18T1{n}:30:00+08:00", "cust": "", "mail": "无", "phone": "139 1234 5678",
              "body": "付款失败 E5031" if n else "来电人称付款一直失败，提示E5031"} for n in range(2)]
    with (tmp_path / "in" / "calls.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    spec = FileSourceSpec(name="calls", kind="file", channel="hotline", path="in/*.csv",
                          not_identifiers=["021-61234567"],
                          mapping={"external_id": "id", "received_at": "at", "customer_ref": "cust",
                                   "contact": "mail|phone", "body": "body"})
    cfg = app_config.model_copy(update={"directory": tmp_path})
    with session_scope(db_url) as s:
        assert ingest_source(s, cfg, spec, "k").inserted == len(rows)
        _run(s, cfg.taxonomy.dedupe)
        by_ext = {c.external_id: c for c in s.scalars(select(Complaint))}
        callers = [c for e, c in by_ext.items() if e.startswith("h")]
        assert all(c.customer_ref is None and c.contact is None and c.contact_key is None for c in callers)
        assert all(c.duplicate_of_id is None for c in callers)
        assert len({user_of(c) for c in callers}) == len(callers)
        assert by_ext["r0"].contact == "139 1234 5678"
        assert by_ext["r1"].duplicate_of_id == by_ext["r0"].id
        # Nor does one name a person to look up or erase (rows stored before the rule may share it).
        assert person_complaints(s, "N/A", "k") == [] and person_complaints(s, "138 0013 8000", "k") == []
        with pytest.raises(ValueError, match="placeholder"):
            forget(s, "00000000000", pii_key="k", outbox_dir=tmp_path / "outbox", marker="[purged]", dry_run=True)
