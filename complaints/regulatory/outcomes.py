"""When and how a complaint was closed: the recorded decision, else its own plan's closing, else its incident's
resolution. Clocks, regulator returns and retention all read closure from here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Integer, Select, and_, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from complaints.core.config import AppConfig
from complaints.core.db import insert_ignore
from complaints.core.models import Complaint, ComplaintOutcome, Incident, Plan

Outcome = Literal["upheld", "partly_upheld", "not_upheld"]
Relief = Literal["monetary", "non_monetary", "explanation"]
UPHELD = ("upheld", "partly_upheld")


def closed_at_column() -> ColumnElement[datetime]:
    """SQL expression of a complaint's closing time; use with `with_closure` joins."""
    return func.coalesce(ComplaintOutcome.decided_at, Plan.closed_at, Incident.resolved_at)


def with_closure(stmt: Select[Any]) -> Select[Any]:
    """Outer-join the three places a closing time can come from."""
    return (
        stmt.outerjoin(ComplaintOutcome, ComplaintOutcome.complaint_id == Complaint.id)
        .outerjoin(Plan, and_(Plan.subject_type == "complaint", Plan.subject_id == Complaint.id))
        .outerjoin(Incident, Incident.id == Complaint.incident_id)
    )


def closure_times(session: Session, complaint_ids: Iterable[int]) -> dict[int, datetime]:
    """Closing times of those complaints that are closed, by id (queried in chunks of 500)."""
    ids = list(complaint_ids)
    out: dict[int, datetime] = {}
    for start in range(0, len(ids), 500):
        stmt = with_closure(select(Complaint.id, closed_at_column().label("closed_at"))).where(
            Complaint.id.in_(ids[start : start + 500])
        )
        out.update({r.id: r.closed_at for r in session.execute(stmt) if r.closed_at is not None})
    return out


def record_outcome(
    session: Session,
    complaint_id: int,
    *,
    decided_at: datetime,
    decided_by: str,
    outcome: Outcome,
    relief: Relief,
    redress_amount: Decimal | None = None,
    redress_currency: str | None = None,
    investigation: str | None = None,
    basis: str | None = None,
    steps_taken: str | None = None,
    root_cause: str | None = None,
    remedy_at: datetime | None = None,
) -> bool:
    """Record the decision once (the unique key); True when recorded now. `root_cause` is a code checked with
    `check_root_cause`; `remedy_at` is when the remedy is (or was) carried out, as the resolution message says."""
    row = {"complaint_id": complaint_id, "decided_at": decided_at, "decided_by": decided_by, "outcome": outcome,
           "relief": relief, "redress_amount": redress_amount, "redress_currency": redress_currency,
           "investigation": investigation, "basis": basis, "steps_taken": steps_taken, "root_cause": root_cause,
           "remedy_at": remedy_at}
    return bool(insert_ignore(session, ComplaintOutcome, [row], returning=(ComplaintOutcome.id,)))


def check_root_cause(cfg: AppConfig, code: str) -> str:
    """The code when it is on outcomes.yaml's controlled list; else ValueError naming the valid codes."""
    if code not in cfg.outcomes.root_causes:
        raise ValueError(f"unknown root cause {code!r}; one of: {', '.join(cfg.outcomes.root_causes)}")
    return code


@dataclass(frozen=True)
class CauseFigure:
    """Outcomes decided in a period with one root cause (None: decided without one)."""

    code: str | None
    complaints: int
    upheld: int  # upheld or partly upheld
    share: float  # of the period's decided outcomes


def cause_statistics(session: Session, since: datetime, until: datetime) -> list[CauseFigure]:
    """Root causes of the outcomes decided in [since, until), most frequent first; outcomes without a root cause
    last."""
    upheld = func.sum(func.cast(ComplaintOutcome.outcome.in_(UPHELD), Integer))
    rows = session.execute(
        select(ComplaintOutcome.root_cause, func.count(), upheld)
        .where(ComplaintOutcome.decided_at >= since, ComplaintOutcome.decided_at < until)
        .group_by(ComplaintOutcome.root_cause)
    ).all()
    total = sum(n for _, n, _ in rows)
    figures = [CauseFigure(code, n, int(up or 0), n / total) for code, n, up in rows]
    return sorted(figures, key=lambda f: (f.code is None, -f.complaints, f.code or ""))
