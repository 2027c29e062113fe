"""The executive summary in words: templated sentences per incident from the figures (catalogue: i18n.SENTENCES).

What happened, since when, how many users and how much money, the status, the root cause or that it is under
investigation, the next deadline and its owner, what the reader is asked to do, and when the next update comes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from complaints.reports.data import IncidentFigure, TimelineEvent, WeeklyData
from complaints.reports.i18n import SENTENCES, SEVERITIES, STATUSES, fmt_dt, fmt_int, fmt_money, label


@dataclass
class IncidentStory:
    incident_id: int
    sentences: list[str]
    ask: str


def _window(hours: Any, lang: str) -> str:
    s = SENTENCES[lang]
    return s["window_1"] if str(hours) == "1" else s["window_n"].format(n=hours)


def detection_sentence(inc: IncidentFigure, lang: str) -> str | None:
    """ "40 users in one hour; about 0.07 expected", or None when detection left no figures."""
    r = inc.reason
    if "observed_users" not in r or "expected_users" not in r:
        return None
    expected = float(r["expected_users"])
    return SENTENCES[lang]["detection"].format(
        users=fmt_int(int(r["observed_users"])), window=_window(r.get("window_hours", 1), lang),
        expected=f"{expected:.2g}" if expected < 10 else f"{expected:.0f}",
    )


def _ask(inc: IncidentFigure, lang: str) -> str:
    s = SENTENCES[lang]
    plan = inc.plan
    if inc.phase == "resolved":
        return s["ask_none"]
    if plan is None:
        return s["ask_plan"]
    overdue = plan.overdue_steps
    if overdue:
        owners = sorted({st.owner for st in overdue})
        return s["ask_unblock"].format(owners=("、" if lang == "zh" else ", ").join(owners), n=len(overdue))
    if plan.approved_at is None:
        return s["ask_approve"].format(plan=plan.id)
    return s["ask_none"]


def incident_story(inc: IncidentFigure, data: WeeklyData, lang: str) -> IncidentStory:
    """The sentences of one incident, in order, and the ask of the reader."""
    s = SENTENCES[lang]

    def dt(value: Any, with_time: bool = True) -> str:
        return fmt_dt(value, data.tz, with_time, lang)

    out = [s["what"].format(title=inc.title[lang], since=dt(inc.first_complaint_at), users=fmt_int(inc.users),
                            complaints=fmt_int(inc.complaints), money=fmt_money(inc.amounts, lang))]
    if (plain := detection_sentence(inc, lang)) is not None:
        out.append(plain)
    out.append(s["status"].format(status=label(STATUSES, inc.status, lang),
                                  severity=label(SEVERITIES, inc.severity, lang)))
    out.append(s["cause"].format(cause=inc.root_cause) if inc.root_cause else s["cause_unknown"])
    if inc.plan is None:
        out.append(s["no_plan"])
    elif (step := inc.plan.next_step) is None:
        out.append(s["plan_done"])
    elif step.overdue:
        hours = int((data.cutoff - step.due_at).total_seconds() // 3600)
        out.append(s["next_overdue"].format(step=step.title[lang], owner=step.owner, due=dt(step.due_at),
                                            hours=fmt_int(hours)))
    else:
        out.append(s["next"].format(step=step.title[lang], owner=step.owner, due=dt(step.due_at)))
    return IncidentStory(inc.id, out, _ask(inc, lang))


def lead_sentence(data: WeeklyData, lang: str) -> str:
    """The week in one sentence: complaints, incidents, users and money."""
    s = SENTENCES[lang]
    if not data.incidents:
        return s["lead_quiet"].format(complaints=fmt_int(data.complaints), previous=fmt_int(data.previous_complaints))
    key = "lead_1" if len(data.incidents) == 1 else "lead"
    return s[key].format(complaints=fmt_int(data.complaints), previous=fmt_int(data.previous_complaints),
                            incidents=len(data.incidents), users=fmt_int(data.affected_users),
                            money=fmt_money(data.amounts, lang))


def next_update(data: WeeklyData, lang: str) -> str:
    """The next weekly report: a week after this one is rendered (the Monday after next)."""
    when = fmt_dt(data.end + timedelta(days=7), data.tz, False, lang)
    return SENTENCES[lang]["next_update"].format(when=SENTENCES[lang]["next_update_report"].format(when=when))


def event_text(event: TimelineEvent, lang: str) -> str:
    """One milestone of the response timeline in words."""
    s = SENTENCES[lang]
    if event.kind == "status":
        return s["status_to"].format(status=label(STATUSES, event.detail.get("to"), lang))
    return s[event.kind].format(**event.detail)
