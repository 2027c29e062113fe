"""Escalation emails: one per owner and run, a single step on its own or several as one digest."""

from __future__ import annotations

import hashlib
from collections import defaultdict

from sqlalchemy.orm import Session

from complaints.core.config import AppConfig
from complaints.core.settings import Settings
from complaints.notify.outbox import queue_message
from complaints.plans.create import EscalationNotice

DIGEST_ITEMS = 100  # steps listed in one escalation digest; a backlog can escalate thousands to one owner


def queue_escalation_mails(session: Session, cfg: AppConfig, settings: Settings,
                           notices: list[EscalationNotice]) -> int:
    """Queue the escalation and at-risk emails of one escalation run (exactly once per key); returns the owners."""
    by_owner = _by_owner(notices)
    for owner, mine in by_owner.items():
        _queue_one(session, cfg, settings, owner, mine)
    return len(by_owner)


def _by_owner(notices: list[EscalationNotice]) -> dict[str, list[EscalationNotice]]:
    grouped: dict[str, list[EscalationNotice]] = defaultdict(list)
    for n in notices:
        grouped[n.to_owner].append(n)
    return grouped


def _queue_one(session: Session, cfg: AppConfig, settings: Settings, owner: str,
               notices: list[EscalationNotice]) -> None:
    """One email per owner and run: a single step gets its own message, several get one digest
    (a late or replayed run can escalate hundreds of steps; nobody reads hundreds of emails)."""
    recipient = f"{owner}@{cfg.routing.email_domain}"
    items = [{"level": n.level, "subject_ref": n.subject_ref, "subject_title": n.subject_title, "kind": n.kind,
              "step_title": n.step_title, "from_owner": n.from_owner, "to_owner": n.to_owner,
              "due_at": n.due_at, "reason": n.reason} for n in notices]
    if len(notices) == 1:
        n = notices[0]
        overdue = n.kind == "overdue"
        key = f"escalation:step:{n.step_id}:level:{n.level}" if overdue else f"at-risk:step:{n.step_id}"
        template, context = ("escalation" if overdue else "step_at_risk"), items[0]
    else:
        # The escalation rows are unique, so this set of (step, level) is never escalated again.
        digest = hashlib.sha256(",".join(f"{n.step_id}:{n.level}" for n in notices).encode()).hexdigest()[:24]
        overdue = sum(n.kind == "overdue" for n in notices)
        # The counts are whole; the list stops at DIGEST_ITEMS (the plan console lists the rest).
        key, template, context = f"escalation-digest:{owner}:{digest}", "escalation_digest", {
            "to_owner": owner, "items": items[:DIGEST_ITEMS], "total": len(notices), "overdue": overdue,
            "at_risk": len(notices) - overdue}
    queue_message(session, key=key, kind="escalation", recipient=recipient, language="en", template=template,
                  context=context, settings=settings)
