"""Classify: category from the newest trained model, keyword rules for cold start and where configured to
override; a confidence per complaint, low ones queued for review. Language is set at ingest."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from complaints.config import TaxonomyConfig
from complaints.model import active_model, complaint_text, predict
from complaints.models import Complaint, ComplaintEvent, DuplicateLink, utcnow
from complaints.normalize import fold, keyword_pattern
from complaints.severity import assess


@dataclass(frozen=True)
class Classification:
    category: str
    hits: int  # keyword hits for the chosen category; 0 means the fallback was used

    @property
    def confidence(self) -> float:
        """Rule confidence: 0 for the fallback, 0.5 for one hit, rising with more hits."""
        return self.hits / (self.hits + 1)


class KeywordClassifier:
    """Build once per batch: compiles one regex per category."""

    def __init__(self, taxonomy: TaxonomyConfig) -> None:
        self.fallback = taxonomy.fallback
        self.overriding = {key for key, cat in taxonomy.categories.items() if cat.rule_overrides}
        self.patterns: list[tuple[str, re.Pattern[str]]] = []
        for key, cat in taxonomy.categories.items():
            pattern = keyword_pattern((*cat.keywords.zh, *cat.keywords.en))
            if pattern is not None:
                self.patterns.append((key, pattern))

    def classify(self, text: str) -> Classification:
        """The category with the most keyword hits; ties go to the category listed first."""
        folded = fold(text).lower()
        best = Classification(self.fallback, 0)
        for key, pattern in self.patterns:
            hits = len(pattern.findall(folded))
            if hits > best.hits:
                best = Classification(key, hits)
        return best


@dataclass
class ClassifySummary:
    classified: int = 0
    by_category: Counter[str] = field(default_factory=Counter)
    by_severity: Counter[str] = field(default_factory=Counter)


def classify_complaints(session: Session, taxonomy: TaxonomyConfig, complaints: list[Complaint]) -> ClassifySummary:
    """Set category, severity and its reasons; mark the complaints processed.

    Canonical complaints that gained resubmissions in this batch are re-assessed too, since
    repeat complaints raise severity. Duplicates take their canonical complaint's category.
    """
    summary = ClassifySummary()
    classifier = KeywordClassifier(taxonomy)
    canon_ids = {c.duplicate_of_id for c in complaints if c.duplicate_of_id}
    canon = {c.id: c for c in complaints if c.duplicate_of_id is None}
    missing = canon_ids - canon.keys()
    if missing:
        canon |= {c.id: c for c in session.execute(select(Complaint).where(Complaint.id.in_(missing))).scalars()}
    repeats = dict(
        session.execute(
            select(DuplicateLink.canonical_id, func.count())
            .where(DuplicateLink.canonical_id.in_(canon.keys()))
            .group_by(DuplicateLink.canonical_id)
        ).all()
    )
    now = utcnow()
    _categorise(session, taxonomy, classifier, [c for c in canon.values() if c.processed_at is None])
    for c in canon.values():
        c.severity, c.severity_reasons = assess(
            taxonomy.severity,
            text=f"{c.title or ''} {c.body}",
            category=c.category or taxonomy.fallback,
            channel=c.channel,
            amount=c.amount,
            repeat_count=1 + repeats.get(c.id, 0),
        )
    for c in complaints:
        if c.duplicate_of_id:
            parent = canon[c.duplicate_of_id]
            c.category, c.severity, c.severity_reasons = parent.category, parent.severity, parent.severity_reasons
            c.category_confidence, c.category_source = parent.category_confidence, parent.category_source
        else:
            summary.by_category[c.category or taxonomy.fallback] += 1
            summary.by_severity[c.severity or "minor"] += 1
        if c.status == "new":
            c.status = "classified"
            # Added to the session, not to c.events: appending would lazy-load every complaint's history.
            session.add(ComplaintEvent(complaint_id=c.id, at=now, kind="status", from_status="new",
                                       to_status="classified"))
        c.processed_at = now
        summary.classified += 1
    return summary


def _categorise(session: Session, taxonomy: TaxonomyConfig, rules: KeywordClassifier, todo: list[Complaint]) -> None:
    """Model prediction where a model is trained, keyword rules otherwise or where a category overrides."""
    model = active_model(session)
    texts = [complaint_text(c.title, c.body) for c in todo]
    predicted: list[tuple[str, float]] = []
    if model is not None:
        labels, confidences = predict(model.pipeline, texts)
        for label, conf in zip(labels, confidences, strict=True):
            key = taxonomy.classifier.label_map.get(label, label)
            # A label outside the taxonomy and its mapping: the fallback, sent to review.
            predicted.append((key, conf) if key in taxonomy.categories else (taxonomy.fallback, 0.0))
    threshold = taxonomy.classifier.review_threshold
    for i, (c, text) in enumerate(zip(todo, texts, strict=True)):
        rule = rules.classify(text)
        if model is None or (rule.hits and rule.category in rules.overriding):
            c.category, c.category_confidence, c.category_source = rule.category, rule.confidence, "rule"
        else:
            c.category, c.category_confidence = predicted[i]
            c.category_source = "model"
        c.needs_review = c.category_confidence < threshold


def unprocessed(session: Session, limit: int) -> list[Complaint]:
    """The oldest complaints not yet through dedupe and classification."""
    return list(
        session.execute(
            select(Complaint)
            .where(Complaint.processed_at.is_(None))
            .order_by(Complaint.received_at, Complaint.id)
            .limit(limit)
        ).scalars()
    )
