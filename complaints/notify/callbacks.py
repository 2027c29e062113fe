"""Call-back (回访) results: import survey replies and scores, summarise them for the lessons-learned report.

The CSV has a header with `ticket` (C00000012 or the bare complaint id), `reached` (yes/no),
`score` (1-5, may be empty), `comment` and optionally `replied_at` (ISO date or datetime, ops timezone).
One result per complaint: re-importing a file changes nothing (the unique key absorbs it).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from complaints.core.db import insert_ignore
from complaints.core.models import CallbackResult, Complaint
from complaints.core.pii import mask_text

REQUIRED = ("ticket", "reached")
_TICKET_RE = re.compile(r"[Cc]?0*(\d+)")
_YES = {"yes", "y", "true", "1", "是", "已接通"}
_NO = {"no", "n", "false", "0", "否", "未接通"}


@dataclass
class ImportResult:
    imported: int = 0
    already: int = 0  # results for complaints that had one already
    errors: list[str] = field(default_factory=list)  # "line N: problem", masked


def _parse_row(row: dict[str, str], tz: ZoneInfo) -> dict[str, Any]:
    ticket = _TICKET_RE.fullmatch((row.get("ticket") or "").strip())
    if not ticket:
        raise ValueError(f"ticket {row.get('ticket')!r} is not like C00000012")
    reached_text = (row.get("reached") or "").strip().lower()
    if reached_text not in _YES | _NO:
        raise ValueError(f"reached {row.get('reached')!r} is not yes or no")
    score_text = (row.get("score") or "").strip()
    score = None
    if score_text:
        if not score_text.isdigit() or not 1 <= int(score_text) <= 5:
            raise ValueError(f"score {score_text!r} is not a whole number from 1 to 5")
        score = int(score_text)
    replied_text = (row.get("replied_at") or "").strip()
    replied_at = None
    if replied_text:
        replied_at = datetime.fromisoformat(replied_text)  # ValueError names the bad value
        replied_at = replied_at if replied_at.tzinfo else replied_at.replace(tzinfo=tz)
    return {
        "complaint_id": int(ticket.group(1)),
        "reached": reached_text in _YES,
        "score": score,
        "comment": (row.get("comment") or "").strip() or None,
        "replied_at": replied_at,
    }


def import_rows(
    session: Session, rows: Iterable[dict[str, str]], timezone: str, *, first_line: int = 2
) -> ImportResult:
    """Validate and store rows; a bad row is reported by line number and skipped, the rest go in."""
    tz = ZoneInfo(timezone)
    result = ImportResult()
    parsed: list[tuple[int, dict[str, Any]]] = []
    for line, row in enumerate(rows, start=first_line):
        try:
            parsed.append((line, _parse_row(row, tz)))
        except ValueError as exc:
            result.errors.append(mask_text(f"line {line}: {exc}"))
    ids = {p["complaint_id"] for _, p in parsed}
    known = set(session.scalars(select(Complaint.id).where(Complaint.id.in_(ids)))) if ids else set()
    good: dict[int, dict[str, Any]] = {}
    for line, p in parsed:
        if p["complaint_id"] not in known:
            result.errors.append(f"line {line}: no complaint with ticket C{p['complaint_id']:08d}")
        elif p["complaint_id"] in good:
            result.errors.append(f"line {line}: ticket C{p['complaint_id']:08d} appears twice in the file")
        else:
            good[p["complaint_id"]] = p
    inserted = insert_ignore(session, CallbackResult, list(good.values()), returning=[CallbackResult.id])
    result.imported = len(inserted)
    result.already = len(good) - result.imported
    return result


def import_csv(session: Session, path: Path, timezone: str) -> ImportResult:
    """Import a call-back CSV (UTF-8, with or without BOM); ValueError when required columns are missing."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}; expected {list(REQUIRED)} plus score, comment")
        return import_rows(session, reader, timezone)


def summary(
    session: Session, start: datetime, end: datetime, *, low_score: int = 2, comments: int = 10
) -> dict[str, Any]:
    """Call-back figures for complaints received in [start, end): reach rate, scores, low-score comments (masked)."""
    window = (Complaint.received_at >= start, Complaint.received_at < end)
    base = select(CallbackResult, Complaint.category).join(Complaint, Complaint.id == CallbackResult.complaint_id)
    rows = session.execute(base.where(*window)).all()
    scored = [r.CallbackResult.score for r in rows if r.CallbackResult.score is not None]
    by_category = session.execute(
        select(Complaint.category, func.count(CallbackResult.score), func.avg(CallbackResult.score))
        .join(Complaint, Complaint.id == CallbackResult.complaint_id)
        .where(*window, CallbackResult.score.is_not(None))
        .group_by(Complaint.category)
        .order_by(Complaint.category)
    ).all()
    low = [
        {
            "ticket": f"C{r.CallbackResult.complaint_id:08d}",
            "score": r.CallbackResult.score,
            "comment": mask_text(r.CallbackResult.comment),
        }
        for r in rows
        if r.CallbackResult.score is not None and r.CallbackResult.score <= low_score and r.CallbackResult.comment
    ][:comments]
    return {
        "results": len(rows),
        "reached": sum(r.CallbackResult.reached for r in rows),
        "scored": len(scored),
        "mean_score": round(sum(scored) / len(scored), 2) if scored else None,
        "score_counts": {s: scored.count(s) for s in range(1, 6)},
        "by_category": [
            {"category": c or "other", "scored": n, "mean_score": round(float(m), 2)} for c, n, m in by_category
        ],
        "low_score_comments": low,
    }
