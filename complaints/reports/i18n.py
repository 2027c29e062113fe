"""Report wording in Chinese and English: headings, labels for codes, date and number formats."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

LANGUAGES = ("zh", "en")

TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "company": "数字钱包 · 投诉运营",
        "crisis_title": "投诉危机周报",
        "lessons_title": "投诉复盘周报",
        "generated": "生成时间",
        "contents": "目录",
        "week_fmt": "{year}年第{week}周（{start} 至 {end}）",
        "date_fmt": "%Y-%m-%d",
        "summary": "执行摘要",
        "headline": "本周要点",
        "complaints": "投诉（去重后）",
        "previous_week": "上周",
        "incidents": "集体投诉事件",
        "new_incidents": "新增事件",
        "ongoing_incidents": "持续事件",
        "resolved_incidents": "已解决事件",
        "affected_users": "受影响用户",
        "amount_at_risk": "涉及金额",
        "regulator": "监管转办投诉",
        "media_threats": "媒体曝光威胁",
        "overdue_plans": "逾期整改计划",
        "overdue_steps": "逾期整改步骤",
        "duplicates": "合并重复投诉",
        "quarantined": "隔离的异常记录",
        "by_category": "按类别",
        "by_channel": "按渠道",
        "by_severity": "按严重程度",
        "category": "类别",
        "channel": "渠道",
        "severity": "严重程度",
        "count": "数量",
        "this_week": "本周",
        "change": "变化",
        "share": "占比",
        "incident_details": "事件详情",
        "no_incidents": "本周没有集体投诉事件。",
        "timeline": "投诉时间线（每小时投诉数）",
        "why": "定级依据",
        "status": "状态",
        "phase": "本周状态",
        "detected_at": "发现时间",
        "first_complaint": "首次投诉",
        "last_complaint": "最近投诉",
        "resolved_at": "解决时间",
        "team": "负责团队",
        "plan": "整改计划",
        "plan_due": "计划截止",
        "no_plan": "尚未制定整改计划。",
        "step": "步骤",
        "owner": "负责人",
        "due": "截止时间",
        "escalation": "升级级别",
        "overdue": "已逾期",
        "excerpts": "典型投诉摘录（已脱敏）",
        "no_excerpts": "无投诉摘录。",
        "received": "收到时间",
        "excerpt": "内容",
        "amount": "金额",
        "subject": "对象",
        "overdue_section": "逾期整改事项（截至周末）",
        "no_overdue": "截至周末没有逾期的整改步骤。",
        "overdue_by": "逾期时长",
        "sla": "服务时效（24 小时内确认）",
        "sla_note": "确认 = 已发送受理确认通知；时效按收到时间起 24 小时计算。",
        "no_sla": "本周没有发送受理确认通知，无法计算确认时效。",
        "acknowledged": "已确认",
        "within_1d": "24 小时内确认",
        "within_share": "24 小时内确认率",
        "total": "合计",
        "sensitive": "监管转办与媒体威胁投诉",
        "no_sensitive": "本周没有监管转办或媒体曝光威胁的投诉。",
        "reasons": "原因",
        "data_quality": "数据质量",
        "lessons_intro": "本报告回顾本周及近 8 周的投诉趋势、反复出现的问题和已解决事件的根因，并给出改进建议。",
        "trends": "近 8 周类别趋势",
        "wow": "环比变化（本周对上周）",
        "growth": "增长率",
        "recurring": "反复出现的问题",
        "recurring_note": "近 8 周中出现投诉的周数最多的类别。",
        "weeks_present": "出现周数",
        "total_8w": "8 周合计",
        "no_recurring": "近 8 周没有反复出现的问题。",
        "new_problems": "新问题",
        "new_problems_note": "本周出现、而此前 8 周没有任何投诉的类别和商户。",
        "new_categories": "新出现的类别",
        "new_merchants": "新被投诉的商户",
        "merchant": "商户",
        "no_new_problems": "本周没有新出现的问题。",
        "closed_incidents": "本周解决的事件与根因",
        "root_cause": "根因",
        "no_root_cause": "未记录根因",
        "no_closed": "本周没有解决的事件。",
        "callbacks": "回访结果（近 8 周受理的投诉）",
        "callback_results": "回访记录",
        "reach_rate": "接通率",
        "mean_score": "平均满意度（1–5）",
        "score": "评分",
        "low_scores": "低分意见",
        "no_callbacks": "近 8 周没有回访记录（回访结果通过 `complaints notify import-replies` 导入）。",
        "recommendations": "改进建议",
        "incident": "事件",
        "complaint_ref": "投诉 #{id}",
        "incident_ref": "事件 #{id}",
        "hours": "{n} 小时",
        "none": "无",
        "colon": "：",
        "story": "本周发生了什么",
        "response_timeline": "应对时间线",
        "histogram": "每小时投诉数",
        "when": "时间",
        "milestone": "进展",
        "overdue_note": "逾期 = 截止时间已过且在统计截点（周末或本次运行时间，取较早者）仍未完成；"
        "计划有逾期步骤即为逾期计划。",
        "overdue_groups": "按团队与负责人汇总",
        "overdue_steps_n": "逾期步骤",
        "plans_n": "涉及计划",
        "oldest_due": "最早截止",
        "longest_overdue": "最长逾期",
        "max_escalation": "最高升级级别",
        "more_groups": "另有 {n} 组未列出（合计已包含）。",
        "reachable": "有联系方式",
        "na": "不适用",
        "sla_na_note": "“不适用”：该渠道的投诉人没有留下联系方式，无法发送受理确认。",
        "dq_note": "按投诉收到时间所在的周统计：补录历史数据时，重复与隔离记录计入其收到的那一周。",
        "undated": "其中无法读出日期（与本周投诉同批导入）",
        "appendix": "附录：检测统计依据",
        "appendix_note": "检测规则：对不同用户数做泊松尾部检验，基线为该问题特征自身的历史水平；"
        "p 值低于显著性水平且用户数不少于下限时立案。",
        "detection": "检测依据",
        "regulator_deadlines": "未来 7 天到期的监管时限",
        "not_enough_history": "历史数据不足",
        "amount_none": "无",
        "next_update": "下次更新",
    },
    "en": {
        "company": "Digital Wallet · Complaint Operations",
        "crisis_title": "Weekly Complaint Crisis Report",
        "lessons_title": "Weekly Lessons-Learned Report",
        "generated": "Generated",
        "contents": "Contents",
        "week_fmt": "Week {week}, {year} ({start} to {end})",
        "date_fmt": "%d %b %Y",
        "summary": "Executive summary",
        "headline": "Headlines",
        "complaints": "Complaints (de-duplicated)",
        "previous_week": "Previous week",
        "incidents": "Collective incidents",
        "new_incidents": "New incidents",
        "ongoing_incidents": "Ongoing incidents",
        "resolved_incidents": "Resolved incidents",
        "affected_users": "Affected users",
        "amount_at_risk": "Amount at risk",
        "regulator": "Regulator-referred complaints",
        "media_threats": "Media threats",
        "overdue_plans": "Overdue plans",
        "overdue_steps": "Overdue plan steps",
        "duplicates": "Duplicates merged",
        "quarantined": "Quarantined records",
        "by_category": "By category",
        "by_channel": "By channel",
        "by_severity": "By severity",
        "category": "Category",
        "channel": "Channel",
        "severity": "Severity",
        "count": "Count",
        "this_week": "This week",
        "change": "Change",
        "share": "Share",
        "incident_details": "Incident details",
        "no_incidents": "No incidents this week.",
        "timeline": "Complaint timeline (complaints per hour)",
        "why": "Why this severity",
        "status": "Status",
        "phase": "This week",
        "detected_at": "Detected",
        "first_complaint": "First complaint",
        "last_complaint": "Latest complaint",
        "resolved_at": "Resolved",
        "team": "Owning team",
        "plan": "Remediation plan",
        "plan_due": "Plan due",
        "no_plan": "No remediation plan yet.",
        "step": "Step",
        "owner": "Owner",
        "due": "Due",
        "escalation": "Escalation level",
        "overdue": "Overdue",
        "excerpts": "Representative complaints (masked)",
        "no_excerpts": "No complaint excerpts.",
        "received": "Received",
        "excerpt": "Text",
        "amount": "Amount",
        "subject": "Subject",
        "overdue_section": "Overdue remediation (at week end)",
        "no_overdue": "No plan steps were overdue at week end.",
        "overdue_by": "Overdue by",
        "sla": "Service levels (acknowledged within 24 hours)",
        "sla_note": "Acknowledged = an acknowledgement notification was sent; measured from receipt, 24 hours.",
        "no_sla": "No acknowledgements were sent this week, so acknowledgement times cannot be measured.",
        "acknowledged": "Acknowledged",
        "within_1d": "Within 24 h",
        "within_share": "Share within 24 h",
        "total": "Total",
        "sensitive": "Regulator-referred and media-threat complaints",
        "no_sensitive": "No regulator-referred or media-threat complaints this week.",
        "reasons": "Reasons",
        "data_quality": "Data quality",
        "lessons_intro": "This report reviews the week and the last 8 weeks: trends, recurring problems, root "
        "causes of resolved incidents, and recommendations.",
        "trends": "Category trends, last 8 weeks",
        "wow": "Week-over-week change",
        "growth": "Growth",
        "recurring": "Top recurring problems",
        "recurring_note": "Categories with complaints in the most of the last 8 weeks.",
        "weeks_present": "Weeks present",
        "total_8w": "8-week total",
        "no_recurring": "No recurring problems in the last 8 weeks.",
        "new_problems": "New problems",
        "new_problems_note": "Categories and merchants with complaints this week and none in the previous 8 weeks.",
        "new_categories": "New categories",
        "new_merchants": "Newly complained-about merchants",
        "merchant": "Merchant",
        "no_new_problems": "No new problems this week.",
        "closed_incidents": "Incidents resolved this week and their root causes",
        "root_cause": "Root cause",
        "no_root_cause": "Root cause not recorded",
        "no_closed": "No incidents were resolved this week.",
        "callbacks": "Call-back results (complaints received in the last 8 weeks)",
        "callback_results": "Call-back records",
        "reach_rate": "Reach rate",
        "mean_score": "Mean satisfaction (1-5)",
        "score": "Score",
        "low_scores": "Low-score comments",
        "no_callbacks": "No call-back results in the last 8 weeks (import: `complaints notify import-replies`).",
        "recommendations": "Recommendations",
        "incident": "Incident",
        "complaint_ref": "Complaint #{id}",
        "incident_ref": "Incident #{id}",
        "hours": "{n} h",
        "none": "none",
        "colon": ": ",
        "story": "What happened this week",
        "response_timeline": "Response timeline",
        "histogram": "Complaints per hour",
        "when": "When",
        "milestone": "Milestone",
        "overdue_note": "Overdue = past due and not finished at the cutoff (week end, or this run's time if earlier); "
        "a plan with an overdue step is an overdue plan.",
        "overdue_groups": "By team and owner",
        "overdue_steps_n": "Overdue steps",
        "plans_n": "Plans",
        "oldest_due": "Oldest due",
        "longest_overdue": "Longest overdue",
        "max_escalation": "Highest escalation",
        "more_groups": "{n} more groups not listed (included in the totals).",
        "reachable": "With contact",
        "na": "n/a",
        "sla_na_note": "n/a: complainants on this channel left no contact, so they cannot be acknowledged.",
        "dq_note": "Counted by the week the complaints were received: a backfilled week reports its own duplicates "
        "and quarantined records.",
        "undated": "of which no readable date (read in the same ingest batch as this week's complaints)",
        "appendix": "Appendix: detection statistics",
        "appendix_note": "Detection rule: a Poisson tail test of distinct users against the signature's own baseline; "
        "an incident opens when the p-value is below the significance level and the users reach the minimum.",
        "detection": "Why it was detected",
        "regulator_deadlines": "Regulator deadlines in the next 7 days",
        "not_enough_history": "Not enough history",
        "amount_none": "none",
        "next_update": "Next update",
    },
}

CHANNELS: dict[str, dict[str, str]] = {
    "app": {"zh": "App 反馈", "en": "App feedback"},
    "hotline": {"zh": "客服热线", "en": "Hotline"},
    "email": {"zh": "电子邮件", "en": "Email"},
    "web": {"zh": "网页表单", "en": "Web form"},
    "social": {"zh": "社交媒体", "en": "Social media"},
    "regulator": {"zh": "监管转办", "en": "Regulator"},
    "chat": {"zh": "在线客服", "en": "Live chat"},
}

SEVERITIES: dict[str, dict[str, str]] = {
    "critical": {"zh": "严重", "en": "Critical"},
    "major": {"zh": "重要", "en": "Major"},
    "minor": {"zh": "一般", "en": "Minor"},
    "P1": {"zh": "P1（最高）", "en": "P1 (highest)"},
    "P2": {"zh": "P2", "en": "P2"},
    "P3": {"zh": "P3", "en": "P3"},
}

STATUSES: dict[str, dict[str, str]] = {
    "open": {"zh": "处理中", "en": "Open"},
    "investigating": {"zh": "调查中", "en": "Investigating"},
    "remediating": {"zh": "整改中", "en": "Remediating"},
    "resolved": {"zh": "已解决", "en": "Resolved"},
    "closed": {"zh": "已关闭", "en": "Closed"},
    "pending": {"zh": "待处理", "en": "Pending"},
    "in_progress": {"zh": "进行中", "en": "In progress"},
    "done": {"zh": "已完成", "en": "Done"},
    "skipped": {"zh": "已跳过", "en": "Skipped"},
    "cancelled": {"zh": "已取消", "en": "Cancelled"},
    "new": {"zh": "新增", "en": "New"},
    "ongoing": {"zh": "持续", "en": "Ongoing"},
}

# Keys of Incident.reason as written by complaints.detect.replay.
REASON_KEYS: dict[str, dict[str, str]] = {
    "rule": {"zh": "规则", "en": "Rule"},
    "window_hours": {"zh": "窗口（小时）", "en": "Window (hours)"},
    "threshold": {"zh": "阈值（用户数）", "en": "Threshold (users)"},
    "observed_users": {"zh": "窗口内用户数", "en": "Users in window"},
    "window_start": {"zh": "窗口开始", "en": "Window start"},
    "window_end": {"zh": "窗口结束", "en": "Window end"},
    "escalated_to": {"zh": "已升级为", "en": "Escalated to"},
    "users_at_escalation": {"zh": "升级时用户数", "en": "Users at escalation"},
    "signature": {"zh": "问题特征", "en": "Problem signature"},
    "expected_users": {"zh": "基线预期用户数", "en": "Expected users (baseline)"},
    "baseline": {"zh": "基线方法", "en": "Baseline"},
    "p_value": {"zh": "p 值", "en": "p-value"},
    "alpha": {"zh": "显著性水平", "en": "Significance level"},
    "min_users": {"zh": "最少用户数", "en": "Minimum users"},
    "top_phrases": {"zh": "高频短语", "en": "Top phrases"},
    "severity_reasons": {"zh": "定级理由", "en": "Severity reasons"},
}

UNCLASSIFIED = {"zh": "未分类", "en": "Unclassified"}

# Templated sentences of the narrative summary, the plain detection sentence and the recommendations.
SENTENCES: dict[str, dict[str, str]] = {
    "zh": {
        "lead": "本周共收到 {complaints} 件投诉（上周 {previous} 件）；{incidents} 起集体投诉事件"
        "共影响 {users} 位用户，涉及金额 {money}。",
        "lead_1": "本周共收到 {complaints} 件投诉（上周 {previous} 件）；1 起集体投诉事件影响 {users} 位用户，"
        "涉及金额 {money}。",
        "lead_quiet": "本周共收到 {complaints} 件投诉（上周 {previous} 件），没有集体投诉事件。",
        "what": "{title}：自 {since} 起，{users} 位用户投诉 {complaints} 件，涉及金额 {money}。",
        "status": "当前状态：{status}，严重程度 {severity}。",
        "cause": "根因：{cause}",
        "cause_unknown": "根因仍在调查中。",
        "next": "下一个截止：{step}（{owner}），{due} 前完成。",
        "next_overdue": "下一个截止：{step}（{owner}），{due} 已到期，逾期 {hours} 小时。",
        "no_plan": "尚未制定整改计划。",
        "plan_done": "整改计划的步骤均已完成。",
        "ask_approve": "请您：批准整改计划（计划 #{plan}）。",
        "ask_unblock": "请您：督促 {owners} 完成 {n} 个逾期步骤。",
        "ask_plan": "请您：指定负责团队并制定整改计划。",
        "ask_none": "无需您决策，仅供知悉。",
        "next_update": "下次更新：{when}。",
        "next_update_report": "{when}（下期周报）",
        "detection": "{users} 位用户在 {window}内投诉同一问题，按历史基线预计约 {expected} 位。",
        "window_1": "1 小时",
        "window_n": "{n} 小时",
        "not_enough_history": "目前只有 {n} 周历史数据（至少需要 {min} 周），历史数据不足，"
        "暂不判断新出现或反复出现的问题。",
        "opened": "发现事件",
        "status_to": "状态变为{status}",
        "escalated": "逾期步骤升级（共 {n} 次）",
        "plan_approved": "整改计划获批",
        "steps_done": "已完成 {n}/{of} 个步骤",
        "users_notified": "已通知 {n} 位用户",
        "resolved": "事件解决",
        "deadlines_sentence": "未来 7 天内有 {n} 个监管时限到期。",
    },
    "en": {
        "lead": "{complaints} complaints this week (previous week {previous}); {incidents} collective incidents affect "
        "{users} users with {money} at stake.",
        "lead_1": "{complaints} complaints this week (previous week {previous}); 1 collective incident affects "
        "{users} users with {money} at stake.",
        "lead_quiet": "{complaints} complaints this week (previous week {previous}); no collective incidents.",
        "what": "{title}: since {since}, {users} users have filed {complaints} complaints; {money} at stake.",
        "status": "Status: {status}, severity {severity}.",
        "cause": "Root cause: {cause}",
        "cause_unknown": "Root cause under investigation.",
        "next": "Next deadline: {step} ({owner}), due {due}.",
        "next_overdue": "Next deadline: {step} ({owner}) was due {due}, overdue by {hours} h.",
        "no_plan": "No remediation plan yet.",
        "plan_done": "Every step of the plan is done.",
        "ask_approve": "Your decision: approve the remediation plan (plan #{plan}).",
        "ask_unblock": "Your action: get {owners} to finish {n} overdue steps.",
        "ask_plan": "Your action: name an owning team and have a plan made.",
        "ask_none": "No decision needed; for your information.",
        "next_update": "Next update: {when}.",
        "next_update_report": "{when} (next weekly report)",
        "detection": "{users} users complained about the same problem in {window}; about {expected} expected.",
        "window_1": "one hour",
        "window_n": "{n} hours",
        "not_enough_history": "Only {n} week(s) of history (at least {min} needed): not enough history to call "
        "problems new or recurring.",
        "opened": "Incident detected",
        "status_to": "Status: {status}",
        "escalated": "Overdue steps escalated ({n} times)",
        "plan_approved": "Plan approved",
        "steps_done": "{n} of {of} steps done",
        "users_notified": "{n} users notified",
        "resolved": "Incident resolved",
        "deadlines_sentence": "{n} regulator deadlines fall in the next 7 days.",
    },
}

BASELINES = {
    "seasonal": {"zh": "同时段历史水平", "en": "same hour of week, earlier weeks"},
    "level": {"zh": "近期水平", "en": "recent level"},
    "floor": {"zh": "最低基线（历史数据很少）", "en": "floor (little history)"},
}

# Severity reasons as written by detection and classification -> both languages.
_REASON_PATTERNS: list[tuple[re.Pattern[str], dict[str, str]]] = [
    (re.compile(r"^(\d+) distinct users$"), {"zh": "{0} 位不同用户", "en": "{0} distinct users"}),
    (re.compile(r"^growth: (\d+) users in the last hour$"),
     {"zh": "增长：最近 1 小时 {0} 位用户", "en": "growth: {0} users in the last hour"}),
    (re.compile(r"^amount at risk ([\d.,]+)$"), {"zh": "涉及金额 {0}", "en": "amount at risk {0}"}),
    (re.compile(r"^(\d+)% threaten media/court/regulator or came via a regulator$"),
     {"zh": "{0}% 的投诉威胁曝光、诉讼或投诉监管，或来自监管转办", "en": "{0}% threaten media/court/regulator or came "
      "via a regulator"}),
    (re.compile(r"^account security \((\w+)\)$"), {"zh": "涉及账户安全", "en": "account security"}),
    (re.compile(r"^category (\w+)$"), {"zh": "高风险类别", "en": "high-risk category"}),
    (re.compile(r"^amount ([\d.,]+) >= ([\d.,]+)$"), {"zh": "金额 {0} 达到 {1}", "en": "amount {0} >= {1}"}),
    (re.compile(r"^regulator-referred \((\w+)\)$"), {"zh": "监管转办", "en": "regulator-referred"}),
    (re.compile(r"^repeat complaint \((\d+) submissions\)$"),
     {"zh": "重复投诉（{0} 次）", "en": "repeat complaint ({0} submissions)"}),
    (re.compile(r"^threat to escalate: (.+)$"), {"zh": "威胁升级：{0}", "en": "threat to escalate: {0}"}),
    (re.compile(r"^vulnerable user: (.+)$"), {"zh": "弱势用户：{0}", "en": "vulnerable user: {0}"}),
    (re.compile(r"^critical category$"), {"zh": "严重类别", "en": "critical category"}),
]
# English keywords quoted in those reasons, for the Chinese report.
_KEYWORDS_ZH = {
    "attorney": "律师", "lawyer": "律师", "court": "法院", "lawsuit": "诉讼", "sue": "起诉", "media": "媒体",
    "news": "新闻媒体", "press": "媒体", "regulator": "监管", "disabled": "残障", "medical bills": "医疗费用",
    "elderly": "老人", "veteran": "退伍军人", "unemployed": "失业",
}


def severity_reason(text: str, lang: str) -> str:
    """A severity reason in the language; the keywords it quotes are translated when known."""
    for pattern, out in _REASON_PATTERNS:
        m = pattern.match(text)
        if m:
            groups = list(m.groups())
            if lang == "zh":
                groups = ["、".join(_KEYWORDS_ZH.get(w.strip().lower(), w.strip()) for w in g.split(","))
                          for g in groups]
            return out[lang].format(*groups)
    return text


def label(table: dict[str, dict[str, str]], key: str | None, lang: str) -> str:
    """Label of a code in a language; unknown codes show as themselves."""
    if key is None:
        return UNCLASSIFIED[lang]
    return table.get(key, {}).get(lang, key)


def fmt_int(value: int | None) -> str:
    """An integer with thousands separators; — when missing."""
    return "—" if value is None else f"{value:,}"


def fmt_amount(value: Decimal | float | None) -> str:
    """An amount with thousands separators and two decimals; — when missing."""
    return "—" if value is None else f"{value:,.2f}"


def fmt_money(amounts: dict[str, Decimal], lang: str) -> str:
    """Amounts per currency, each with its ISO code and thousands separators: "CNY 66,700.00 · USD 120.00"."""
    if not amounts:
        return TEXT[lang]["amount_none"]
    return " · ".join(f"{cur} {value:,.2f}" for cur, value in amounts.items())


def fmt_pct(value: float | None, signed: bool = False) -> str:
    """A ratio as a whole percentage, with its sign if asked; — when missing."""
    if value is None:
        return "—"
    return f"{value:+.0%}" if signed else f"{value:.0%}"


def fmt_dt(value: datetime | None, tz: str, with_time: bool = True, lang: str = "en") -> str:
    """A time in the timezone, with or without hours and minutes; — when missing. Chinese: 11月19日 14:00."""
    if value is None:
        return "—"
    local = value.astimezone(ZoneInfo(tz))
    if lang == "zh":
        day = f"{local.year}年{local.month}月{local.day}日"
        return f"{day} {local:%H:%M}" if with_time else day
    return local.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")
