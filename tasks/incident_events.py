"""Prefect events about incidents, for ops to attach automations to (e.g. run the plan flow at once).

complaints.incident.opened / .escalated (severity went up) / .resolved, on the resource
complaints.incident.<id> labelled with the incident's category and severity. Event ids are derived
from the incident and the change, so a retried task re-sends the same event id and the Prefect
server stores it once.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Literal

from prefect.events import Event, emit_event
from prefect.variables import Variable
from sqlalchemy import select

from complaints.core.db import session_scope
from complaints.core.models import Incident
from complaints.core.pii import mask_text

Kind = Literal["opened", "escalated", "resolved"]
NAMESPACE = uuid.UUID("1f0c6d52-4bd8-4c1e-9a55-6f3c2b9e0a71")
# Prefect Variable: resolved_at of the last incident announced as resolved (ISO time).
RESOLVED_MARK = "complaints_resolved_announced_until"
# Look back this far behind the mark: a transaction that resolved an incident earlier but committed after the
# last announcement is still seen; announcing it twice sends the same event id, stored once.
RESOLVED_OVERLAP = timedelta(hours=1)


def event_id(kind: Kind, incident: Incident) -> uuid.UUID:
    """The same incident change always gets the same event id."""
    change = {"escalated": incident.severity,
              "resolved": incident.resolved_at.isoformat() if incident.resolved_at else ""}.get(
        kind, incident.opened_window.isoformat())  # a reopened incident resolved again is a new change
    return uuid.uuid5(NAMESPACE, f"{kind}:{incident.id}:{change}")


def emit_incident_event(kind: Kind, incident: Incident) -> Event | None:
    """Emit one incident event; returns it (None when events are switched off)."""
    return emit_event(
        event=f"complaints.incident.{kind}",
        resource={
            "prefect.resource.id": f"complaints.incident.{incident.id}",
            "prefect.resource.name": mask_text(incident.title)[:200],
            "complaints.incident.category": incident.category,
            "complaints.incident.severity": incident.severity,
        },
        payload={"signature": mask_text(incident.signature), "users": incident.user_count,
                 "status": incident.status, "severity_reasons": incident.reason.get("severity_reasons", [])},
        id=event_id(kind, incident),
    )


def announce_resolved(db_url: str) -> list[int]:
    """Emit `resolved` for incidents resolved after the last announcement's mark, then move the mark.
    Returns the incident ids announced."""
    mark = Variable.get(RESOLVED_MARK, default=None)
    query = select(Incident).where(Incident.resolved_at.is_not(None)).order_by(Incident.resolved_at, Incident.id)
    if mark:
        query = query.where(Incident.resolved_at > datetime.fromisoformat(str(mark)) - RESOLVED_OVERLAP)
    with session_scope(db_url) as session:
        resolved = list(session.execute(query).scalars())
        for incident in resolved:
            emit_incident_event("resolved", incident)
    if resolved:
        Variable.set(RESOLVED_MARK, max(i.resolved_at for i in resolved if i.resolved_at).isoformat(), overwrite=True)
    return [i.id for i in resolved]
