"""Complaint wording for the demo data generator: templates per taxonomy category, per language.

Each template is written for one category and uses words from that category's keyword list in
config/taxonomy.yaml (the generator checks every rendered text still classifies as intended).
Slots: {amt} {fee} {bank} {days} {when} {merchant} {code} {n} {a} {b} {pct} (Chinese);
{amt_en} {fee_en} {n_en} {days_en} {weekday} {merchant} {code} (English); {cfpb_amt} {cfpb_fee}
{company} {n} (CFPB narratives).
"""

from __future__ import annotations

ZH: dict[str, list[str]] = {
    "transfer_delay": [
        "{when}从钱包提现{amt}元到{bank}卡，到现在还没到账，页面一直显示处理中，钱到底去哪了？",
        "提现申请都提交{days}天了，迟迟不到账，每次问都让我再等等。",
        "说好的2小时内到账，结果延迟了{days}天，房租都交不上了。",
        "提现{amt}块显示成功，可是{bank}那边根本没到账，银行说没收到这笔钱。",
        "给朋友转账{amt}元，对方一直没收到，状态一直处理中，已经{days}天了。",
        "转账失败了，可是余额里的{amt}元也扣掉了，钱没到账也没回到余额！",
        "为什么每次提现都要延迟？这个月已经第三次了，急用钱的时候最耽误事。",
        "{when}提的现，今天还没到账，账单里显示处理中，麻烦查一下。",
    ],
    "fees_pricing": [
        "提现{amt}元被扣了{fee}元手续费，之前明明说不收的，这不是乱收费吗？",
        "信用卡还款怎么也开始收费了？费率说涨就涨，也不提前通知一声。",
        "账户莫名其妙被扣费{fee}元，说是什么会员服务费，我从来没开通过。",
        "我根本没用过这项服务，为什么还要收年费{fee}元？",
        "付款的时候多扣了{fee}元，账单上写的是服务费，谁同意了？",
        "同样的操作上个月不要钱，这个月收了{fee}元手续费，费率调整有公告吗？",
    ],
    "refund_after_sales": [
        "在{merchant}买的东西已经退货了，商家确认收货{days}天了还没退款。",
        "订单取消了，钱一直没退回钱包，订单页面也查不到记录。",
        "商家不退钱，说是平台的问题，平台又说找商家，到底谁管？",
        "售后申请被驳回了，商品明明有质量问题，照片也上传了。",
        "申请退款{days}天了，一直显示退款中，钱呢？",
        "在{merchant}重复付款了两次，一共{amt}元，多付的那笔什么时候退回？",
    ],
    "customer_service": [
        "客服电话打不通，好不容易转到人工服务又等了半小时，最后直接挂了。",
        "在线客服全是机器人，问了三遍都不回复正题。",
        "客服态度太差，我话还没说完就让我等通知。",
        "反映的问题一个星期了没人处理，几个部门互相推诿。",
        "说好24小时内回电，{days}天了也没人联系我，客服就是这样敷衍的？",
        "人工服务永远在排队，按了十几次0都转不过去，客服形同虚设。",
    ],
    "feature_limit": [
        "我的单日限额突然变成{n}元了，原因也不说。",
        "信用付额度被降额了，从{a}降到{b}，我每期都按时还的。",
        "付款提示不支持这张银行卡，之前一直都能用，现在却有限制。",
        "账户被限制收款，商户收款功能也无法开通。",
        "转账额度太低了，一次只能转{n}元，付个首付根本不够。",
        "为什么境外消费不支持？出差在外额度也用不了。",
    ],
    "system_fault": [
        "App更新后一打开就闪退，重装了也没用。",
        "付款时一直提示系统繁忙，试了十几次，后面排队的人都不耐烦了。",
        "今天早上开始无法登录，输密码后报错，错误码{code}。",
        "账单页面白屏，什么都打不开。",
        "扫码付款的时候App崩溃了，也不知道钱扣没扣。",
        "一直系统繁忙，还款页面报错，逾期了算谁的？",
    ],
    "usability": [
        "新版界面太难用了，找不到账单在哪里。",
        "注销入口藏得太深，翻了半天都找不到。",
        "操作复杂，绑一张卡要点七八步，家里老人根本学不会，太难用了。",
        "改版后真不好用，常用功能都被挪到二级菜单了。",
        "字太小了，界面密密麻麻，操作复杂，看都看不清。",
    ],
    "privacy": [
        "刚绑了卡就天天接到骚扰电话，怀疑个人信息泄露了。",
        "为什么商家能看到我的完整手机号？隐私怎么保护的？",
        "有人知道我的名字、住址和消费记录，肯定是信息泄露。",
        "没经过我同意就把我的个人信息给了第三方，这合法吗？",
    ],
    "compliance": [
        "实名认证一直通不过，人脸识别失败了十几次。",
        "让我补交材料做反洗钱审查，说是监管要求，可是一直卡着没结果。",
        "要求手持身份证拍照上传才能实名认证，这种做法合规吗？是不是违规收集？",
        "人脸识别总是失败，实名认证卡住了，钱包啥都用不了。",
    ],
    "marketing": [
        "双十一活动说好的满100返现20，到现在返现也没给。",
        "领的优惠券结账时显示不可用，这活动不是忽悠人吗？",
        "积分说清零就清零，也没提前提醒，攒了两年的积分全没了。",
        "天天推送推销贷款的消息，怎么关都关不掉，营销也要有个度。",
        "红包活动规则写得不清不楚，明显误导人。",
    ],
    "device_quality": [
        "店里的POS机刷卡总是失败，设备三天两头出问题。",
        "扫码枪识别不了付款码，换了新的机具还是一样。",
        "申请的收款终端寄过来就是坏的，开机没反应，这设备质量太差。",
        "刷卡机打印的小票很模糊，顾客都以为是假的。",
    ],
    "account_security": [
        "我的账户被盗刷了{amt}元，凌晨三点的交易，不是我本人操作的！",
        "收到异常登录提醒，没过几分钟余额就被转走了{amt}元。",
        "接到冒充平台工作人员的电话，被骗了{amt}元，骗子让我开了屏幕共享。",
        "账户里出现好几笔陌生交易，都是未经授权的扣款，共{amt}元。",
        "账号被盗号了，对方改了密码，还用我的账户付了{amt}元。",
        "有人冒用我的身份开通了信用付，欠款{amt}元不是我本人的。",
    ],
    "other": [
        "想问一下电子发票在哪里开？",
        "请问怎么注销账户？以后不打算用了。",
        "建议增加夜间模式，晚上看着刺眼。",
        "你们公司在杭州的办公地址是哪里？想当面咨询。",
        "原来绑定的手机号停用了，想换成新号码，要准备什么材料？",
    ],
}

ZH_TITLES: dict[str, list[str]] = {
    "transfer_delay": ["提现没到账", "转账一直处理中", "提现延迟", "钱没到账"],
    "fees_pricing": ["乱收费", "手续费问题", "莫名扣费"],
    "refund_after_sales": ["退款问题", "商家不退款", "售后投诉"],
    "customer_service": ["客服态度差", "客服电话打不通", "投诉客服"],
    "feature_limit": ["限额问题", "额度被降", "功能受限制"],
    "system_fault": ["App闪退", "系统故障", "无法登录"],
    "usability": ["新版太难用", "找不到功能", "界面问题"],
    "privacy": ["个人信息泄露", "隐私问题", "骚扰电话"],
    "compliance": ["实名认证失败", "人脸识别问题", "实名认证"],
    "marketing": ["活动返现没给", "优惠券不能用", "积分清零"],
    "device_quality": ["POS机故障", "设备问题", "扫码枪坏了"],
    "account_security": ["账户被盗刷", "被骗了", "陌生交易"],
    "other": ["咨询", "建议", "问一下"],
}

EN: dict[str, list[str]] = {
    "transfer_delay": [
        "I requested a withdrawal of {amt_en} to my bank account {days_en} days ago and it is still pending.",
        "My transfer to a friend has been pending since {weekday}. The money left my balance but has not arrived.",
        "Withdrawal delayed again, funds not received after {days_en} business days. I need this money.",
    ],
    "fees_pricing": [
        "I was charged a fee of {fee_en} for a simple payment. Nobody told me about this surcharge.",
        "The pricing changed without notice and I was overcharged {fee_en}.",
        "Why is there an extra charge every time I top up? These fees were never disclosed.",
    ],
    "refund_after_sales": [
        "I returned the item to {merchant} two weeks ago and still have no refund.",
        "I was billed twice for one order and want my money back. The refund request was ignored.",
    ],
    "customer_service": [
        "Customer service hung up on me twice and nobody answers the chat.",
        "The support agent was rude and there has been no response to my emails for a week.",
    ],
    "feature_limit": [
        "My account has been restricted and the daily limit is now only {n_en}.",
        "My credit line was cut and the new limit is too low to pay my rent.",
    ],
    "system_fault": [
        "The app crashes every time I open the wallet tab.",
        "I cannot log in since the update, it shows error {code}.",
        "The payments page is stuck on loading, the app is not working at all.",
    ],
    "usability": [
        "The new interface is confusing and hard to use.",
        "I cannot find where my monthly statements are, the menu is confusing.",
    ],
    "privacy": [
        "I believe my personal data was leaked, strangers know my address and recent purchases.",
        "The app shared my data with a third party without asking. This is a privacy issue.",
    ],
    "compliance": [
        "My account is blocked pending KYC verification for two weeks.",
        "Identity verification keeps failing and nobody explains the compliance requirement.",
    ],
    "marketing": [
        "The cashback promotion was never paid to my wallet.",
        "I was promised a bonus coupon for signing up and never got it.",
    ],
    "device_quality": [
        "The card reader you sent our shop stopped working after a week.",
        "Our POS terminal keeps rebooting, the hardware is faulty.",
    ],
    "account_security": [
        "There were unauthorized transactions on my wallet that I didn't make, about {amt_en} in total.",
        "My account was hacked and {amt_en} was stolen overnight.",
        "I fell for a phishing text and the scammer drained my balance of {amt_en}.",
    ],
    "other": [
        "How do I change the name on my account after marriage?",
        "Please add a dark mode option.",
    ],
}

EN_TITLES: dict[str, list[str]] = {
    "transfer_delay": ["Withdrawal pending", "Transfer delayed"],
    "fees_pricing": ["Unexpected fee", "Overcharged"],
    "refund_after_sales": ["Refund missing", "Want my money back"],
    "customer_service": ["Customer service", "No response"],
    "feature_limit": ["Limit too low", "Account restricted"],
    "system_fault": ["App crash", "Login error"],
    "usability": ["Confusing interface", "Hard to use"],
    "privacy": ["Privacy", "Data leak"],
    "compliance": ["KYC verification", "Verification stuck"],
    "marketing": ["Cashback missing", "Promotion"],
    "device_quality": ["Card reader", "POS terminal"],
    "account_security": ["Unauthorized transactions", "Account hacked"],
    "other": ["Question", "Suggestion"],
}

# CFPB narratives: longer, with the database's own redaction style (XX/XX/2026, {$1,200.00}).
CFPB: dict[str, list[str]] = {
    "transfer_delay": [
        "On XX/XX/2026 I initiated a withdrawal of {cfpb_amt} from my {company} wallet to my checking account. "
        "The app said the funds would arrive within 1-3 business days. It has now been {n} days and the "
        "withdrawal is still pending.\n\nI contacted the company several times and was only told to wait. "
        "I need these funds to pay my rent.",
        "I sent {cfpb_amt} to a family member using {company}. The transfer shows as completed on my side "
        "but my relative has not received the money. The company placed a hold on my funds and will not "
        "say why.",
        "My withdrawal of {cfpb_amt} has been delayed for {n} days. Every time I check, it says pending.",
        "{company} has held my funds of {cfpb_amt} since XX/XX/2026. The withdrawal to my bank was approved "
        "and then put on hold with no explanation. I have called {n} times.",
    ],
    "account_security": [
        "Someone gained access to my {company} account on XX/XX/2026 and made {n} unauthorized transactions "
        "totaling {cfpb_amt}. I did not make these payments and I reported the fraud the same day. The company "
        "denied my claim and said the payments were approved from my phone.",
        "I was the victim of a scam. A person posing as a seller asked me to pay through {company} and I lost "
        "{cfpb_amt}. The company refuses to investigate the fraud.",
        "My {company} account was hacked on XX/XX/2026. The password was changed and {cfpb_amt} was stolen "
        "before I could do anything.",
        "I received a phishing message that looked like it came from {company}. After I entered my code, "
        "{n} payments totaling {cfpb_amt} were sent to accounts I do not know. This was fraud.",
    ],
    "fees_pricing": [
        "{company} charged me a fee of {cfpb_fee} for an instant payment that was advertised as free. The fee "
        "schedule was changed without notice and I was overcharged several times.",
        "I was hit with a surcharge of {cfpb_fee} for adding money to my wallet. These fees are not disclosed "
        "anywhere in the app.",
        "{company} started charging a {cfpb_fee} monthly fee on my wallet without telling me. Over {n} months "
        "these fees added up and nobody can tell me what the pricing is.",
    ],
    "refund_after_sales": [
        "I paid {cfpb_amt} to an online merchant through {company} for an item that never arrived. I requested "
        "a refund through the app and the claim was closed without explanation. I want my money back.",
        "The merchant agreed to a refund of {cfpb_amt} on XX/XX/2026 but {company} never credited it.",
        "I returned a purchase worth {cfpb_amt} and the seller confirmed it, but {company} still has not "
        "given my money back after {n} weeks.",
    ],
    "customer_service": [
        "I have been trying to reach {company} customer service for three weeks about a frozen balance. The "
        "phone line disconnects after an hour and emails get no response.",
        "Every agent I talk to at {company} gives a different answer and the chat support closes my case "
        "without a resolution.",
        "I have written to {company} customer service {n} times since XX/XX/2026 and received no response. "
        "The phone agent hung up on me when I asked for a supervisor.",
    ],
    "feature_limit": [
        "Without any explanation {company} restricted my account and lowered my sending limit to {cfpb_amt} "
        "per month. I have used the service for years without problems.",
        "{company} restricted my wallet after I received a payment of {cfpb_amt}. I cannot send money and the "
        "limit has been in place for {n} weeks.",
    ],
    "system_fault": [
        "The {company} app has been down since XX/XX/2026. Every time I open it I get an error and I cannot "
        "see my balance of {cfpb_amt}.",
        "A bug in the {company} app charged my card {n} times for one payment of {cfpb_amt}. The app shows an "
        "error whenever I try to view the transactions.",
    ],
    "privacy": [
        "{company} shared my data with a third-party partner without my consent. I never agreed to this and "
        "consider it a serious privacy violation.",
        "After a data leak at {company} I started getting calls from people who knew my balance. The company "
        "will not confirm what personal data was exposed.",
    ],
    "compliance": [
        "My account was frozen for identity verification. I uploaded my ID three times and the KYC review is "
        "still not finished after a month.",
        "{company} asked me for verification documents {n} times for its anti-money laundering review. My "
        "balance of {cfpb_amt} is locked until the KYC check is done.",
    ],
    "marketing": [
        "{company} advertised a {cfpb_amt} cashback bonus for new users. I met all requirements but the "
        "promotion was never credited to my account.",
    ],
    "usability": [
        "After the redesign it is very difficult to find my transaction history in the {company} app. The "
        "interface is confusing and I made a payment to the wrong person because of it.",
    ],
    "other": [
        "I would like {company} to explain how to close my account and obtain all my records. I sent a "
        "written letter on XX/XX/2026 and have not heard back.",
    ],
}

# (Issue, Sub-issue) per category, from the CFPB's money-service issue list.
CFPB_ISSUES: dict[str, tuple[str, str]] = {
    "transfer_delay": ("Money was not available when promised", ""),
    "account_security": ("Fraud or scam", ""),
    "fees_pricing": ("Fees or interest", "Problem with fees"),
    "refund_after_sales": ("Other transaction problem", "Refund not credited"),
    "customer_service": ("Problem with customer service", ""),
    "feature_limit": ("Managing, opening, or closing your mobile wallet account", "Restricted account"),
    "system_fault": ("Other service problem", "Problem accessing account"),
    "privacy": ("Other service problem", "Sharing of information"),
    "compliance": ("Managing, opening, or closing your mobile wallet account", "Verification review"),
    "marketing": ("Confusing or misleading advertising or marketing", ""),
    "usability": ("Other service problem", "App or website problem"),
    "other": ("Other service problem", ""),
}

# The collective withdrawal incident on 2026-11-19, all through one payment channel.
BURST_ZH = [
    "{when_today}通过快捷支付通道提现{amt}元，到现在还没到账，App一直显示处理中。",
    "提现到{bank}卡走的快捷支付通道，提示错误码E1024，钱扣了没到账！",
    "快捷支付通道提现一直处理中，报错E1024，客服说在排查，什么时候能到账？",
    "今天提现{amt}元没到账，页面显示快捷支付通道处理中，已经{hours}个小时了。",
    "提现失败，钱也没到账，E1024是什么意思？钱卡在快捷支付通道里了。",
    "上午提的现，到现在都没到账，快捷支付通道是不是出问题了？",
    "急！提现{amt}元没到账，显示处理中，周围好几个朋友都一样。",
]
BURST_EN = [
    "My withdrawal of {amt_en} through the Quick Pay channel (快捷支付通道) has been pending since this "
    "morning, error E1024.",
    "Withdrawal not arrived after {hours} hours, the app shows error code E1024 and the status is pending.",
]

# The fee-change wave on 2026-11-17 at one merchant.
FEE_WAVE_ZH = [
    "在乐购优选商城用钱包付款，突然多收了{pct}%的手续费，以前从来没有。",
    "乐购优选商城结账时加了一笔服务费，说是钱包支付的费率上调了？",
    "今天在乐购优选买东西被多扣了{fee}元，页面写着支付手续费，太坑了。",
    "乐购优选商城从今天起用钱包付款要收费？{pct}%的手续费谁定的？",
    "用钱包在乐购优选下单，比用银行卡多扣{fee}元服务费，这是乱收费吧。",
]
FEE_WAVE_EN = [
    "Paying at 乐购优选商城 with the wallet now adds a {pct}% surcharge. This fee is new and nobody told us.",
]

ZH_OPENERS = ["", "", "", "", "你好，", "您好，", "投诉！", "我要投诉：", "麻烦看一下，", "急！"]
ZH_CLOSERS = ["", "", "", "请尽快处理。", "希望给个说法。", "太让人失望了。", "麻烦尽快回复。", "什么时候能解决？"]
# Call-centre agents prefix what the caller said.
AGENT_PREFIXES = ["客户来电反映：", "客户来电称：", "来电人反映：", "客户表示：", "客户来电投诉："]
ZH_RESUBMIT_PREFIXES = ["之前在App里反馈过了，", "第二次反映了：", "再次投诉，", "上次反馈没下文，"]
EN_RESUBMIT_PREFIX = "I already reported this in the app on XX/XX/2026 and nothing happened. "

ZH_THREATS = [
    "再不解决我就打12363投诉。",
    "我会向人民银行反映这个问题。",
    "已经咨询了律师，不行就起诉。",
    "不处理的话我就找媒体曝光。",
    "准备去消协投诉。",
]
EN_THREATS = [
    "If this is not fixed I will contact a lawyer.",
    "I have also filed this with the CFPB.",
    "I will go to the media with this.",
]
REGULATOR_THREATS = ["I am prepared to take this to court.", "I have hired an attorney."]
ZH_VULNERABLE = ["我是退休老人，这是我的救命钱。", "家里有人重病，急需这笔钱。"]
EN_VULNERABLE = ["I am disabled and rely on this money for medical bills."]
