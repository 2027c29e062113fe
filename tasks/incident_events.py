"""Prefect events about incidents, for ops to attach automations to (e.g. run the plan flow at once).

complaints.incident.opened / .escalated (severity went up) / .resolved, on the resource
complaints.incident.<id> labelled with the incident's category and severity. Event ids are derived
from the incident and the change, so a retried task re-sends the same event id and the Prefect
server stores it once.
"""

from __future__ import annotations

import uuid
from typing import Literal

from prefect.events import Event, emit_event

from complaints.core.models import Incident
from complaints.core.pii import mask_text

Kind = Literal["opened", "escalated", "resolved"]
NAMESPACE = uuid.UUID("1f0c6d52-4bd8-4c1e-9a55-6f3c2b9e0a71")


def event_id(kind: Kind, incident: Incident) -> uuid.UUID:
    """The same incident change always gets the same event id."""
    change = incident.severity if kind == "escalated" else incident.opened_window.isoformat()
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
