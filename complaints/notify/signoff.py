"""What closes every message to a complainant: the escalation route of the complaint's jurisdiction (config/
escalation.yaml, the same jurisdiction its statutory clocks use) and the sign-off (config/notifications.yaml).

The pieces go into the template context as plain strings in the message's language; templates/email/_layout.html
prints them in the HTML part and outbox.render_email appends templates/email/_signoff.txt to the text part, so a
message template cannot forget them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from complaints.core.config import AppConfig
from complaints.core.models import Complaint

FINAL_KIND = "resolution"  # the final response: where a route's `final` wording applies
LABELS = {
    "zh": {"hotline": "客服热线", "handler": "经办"},
    "en": {"hotline": "Hotline", "handler": "Handled by"},
}


def jurisdictions_of(session: Session, cfg: AppConfig, complaint_ids: Iterable[int]) -> dict[int, str]:
    """The jurisdiction of each complaint, inferred as for its clocks (clocks.infer_jurisdiction)."""
    # Imported here: complaints.regulatory.clocks imports the outbox, which imports this module.
    from complaints.regulatory.clocks import ComplaintFacts, infer_jurisdiction

    ids = sorted(set(complaint_ids))
    found: dict[int, str] = {}
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(Complaint.id, Complaint.source, Complaint.channel, Complaint.currency, Complaint.language,
                   Complaint.region, Complaint.product, Complaint.category)
            .where(Complaint.id.in_(ids[start : start + 500]))
        ).all()
        found |= {r.id: infer_jurisdiction(cfg.clocks, ComplaintFacts(*r[1:])) for r in rows}
    return found


def escalation_route(cfg: AppConfig, jurisdiction: str | None, kind: str, lang: str) -> str | None:
    """The route's sentence for this kind of message, or None when the jurisdiction's rule asks for none."""
    route = cfg.escalation.routes.get(jurisdiction or cfg.clocks.default_jurisdiction)
    if route is None or kind not in route.kinds:
        return None
    text = route.final if kind == FINAL_KIND and route.final else route.text
    return text.zh if lang == "zh" else text.en


def signoff_lines(cfg: AppConfig, lang: str) -> list[str]:
    """Company and team, the handler, the hotline with its service hours."""
    s = cfg.notifications.signoff
    pick = (lambda b: b.zh) if lang == "zh" else (lambda b: b.en)
    words = LABELS[lang]
    sep = "：" if lang == "zh" else ": "
    return [
        f"{pick(s.company)} · {pick(s.team)}",
        f"{words['handler']}{sep}{pick(s.handler)}",
        f"{words['hotline']}{sep}{s.hotline}（{pick(s.hours)}）" if lang == "zh"
        else f"{words['hotline']}{sep}{s.hotline} ({pick(s.hours)})",
    ]


def footer_context(cfg: AppConfig, jurisdiction: str | None, kind: str, lang: str) -> dict[str, Any]:
    """Template variables of the route and the sign-off, merged into a message's own context."""
    return {
        "escalation_route": escalation_route(cfg, jurisdiction, kind, lang),
        "signoff_lines": signoff_lines(cfg, lang),
    }
