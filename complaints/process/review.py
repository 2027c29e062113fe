"""The needs-review queue: low-confidence categories confirmed or corrected by a person.

Every decision is a `category_reviews` row; `complaints train --include-reviews` learns from them.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from complaints.core.config import TaxonomyConfig
from complaints.core.models import CategoryReview, Complaint, ComplaintEvent, utcnow


def pending(session: Session, limit: int = 50) -> list[Complaint]:
    """Canonical complaints waiting for review, least confident first."""
    return list(session.execute(
        select(Complaint)
        .where(Complaint.needs_review.is_(True), Complaint.duplicate_of_id.is_(None))
        .order_by(Complaint.category_confidence, Complaint.received_at, Complaint.id)
        .limit(limit)
    ).scalars())


def decide(session: Session, taxonomy: TaxonomyConfig, complaint_id: int, category: str | None = None,
           reviewer: str | None = None) -> CategoryReview:
    """Confirm the current category (category None) or correct it; duplicates follow their canonical one."""
    c = session.get(Complaint, complaint_id)
    if c is None:
        raise LookupError(f"no complaint {complaint_id}")
    if c.duplicate_of_id is not None:
        raise ValueError(f"complaint {complaint_id} is a duplicate of {c.duplicate_of_id}: review that one")
    new = category or c.category
    if new not in taxonomy.categories:
        raise ValueError(f"unknown category {new!r}; expected one of {sorted(taxonomy.categories)}")
    review = CategoryReview(complaint_id=c.id, action="correct" if category and category != c.category else "confirm",
                            previous_category=c.category, category=new, reviewer=reviewer)
    session.add(review)
    session.add(ComplaintEvent(complaint_id=c.id, at=utcnow(), kind="review",
                                   detail={"action": review.action, "from": c.category, "to": new}))
    for target in [c, *session.execute(select(Complaint).where(Complaint.duplicate_of_id == c.id)).scalars()]:
        target.category, target.category_confidence, target.category_source = new, 1.0, "review"
        target.needs_review = False
    session.flush()
    return review
