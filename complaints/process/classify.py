"""Classify: category from the newest model (on a fresh install the bundled seed model, see classifier.py),
keyword rules where a category is configured to override it; a confidence per complaint (the model's calibrated
probability), low ones queued for review. Language is set at ingest."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sklearn.pipeline import Pipeline
from sqlalchemy import JSON, Row, Select, and_, func, insert, literal, or_, select
from sqlalchemy.orm import Session

from complaints.core.bulk import chunks, in_conditions, rows_by_id, update_by_id
from complaints.core.config import TaxonomyConfig
from complaints.core.models import Complaint, ComplaintEvent, DuplicateLink, UTCDateTime, utcnow
from complaints.core.normalize import fold, keyword_pattern
from complaints.process.classifier import active_model, complaint_text, model_for, predict_scores
from complaints.process.severity import assess


@dataclass(frozen=True)
class Classification:
    category: str
    hits: int  # keyword hits for the chosen category; 0 means the fallback was used
    # Categories sharing the most hits when more than one did: the rules alone cannot choose (category = fallback).
    tied: tuple[str, ...] = ()

    @property
    def confidence(self) -> float:
        """Rule confidence: 0 for the fallback, 0.5 for one hit, rising with more hits."""
        return self.hits / (self.hits + 1)

    @property
    def candidates(self) -> tuple[str, ...]:
        """The categories the keywords point to: the winner, or every tied one; none for no hit."""
        return self.tied or ((self.category,) if self.hits else ())


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
        """The category with the most keyword hits; a tie is reported as such (never settled by file order)."""
        folded = fold(text).lower()
        hits = {key: n for key, pattern in self.patterns if (n := len(pattern.findall(folded)))}
        if not hits:
            return Classification(self.fallback, 0)
        top = max(hits.values())
        winners = sorted(key for key, n in hits.items() if n == top)
        if len(winners) > 1:
            return Classification(self.fallback, 0, tuple(winners))
        return Classification(winners[0], top)


@dataclass(frozen=True)
class Decision:
    category: str
    confidence: float
    source: str  # model | rule


def decide(taxonomy: TaxonomyConfig, rules: KeywordClassifier, texts: list[str],
           pipeline: Pipeline | None) -> list[Decision]:
    """Category and confidence per text. With a model: the model's calibrated top category, unless the keywords
    hit a category with `rule_overrides` (among several such, the one the model scores highest). Without one:
    the keyword winner; a keyword tie or no hit is the fallback at confidence 0, for review."""
    scores: list[dict[str, float]] = []
    if pipeline is not None:
        for chunk in chunks(texts, PREDICT_CHUNK):
            labels, matrix = predict_scores(pipeline, chunk)
            keys = [taxonomy.classifier.label_map.get(label, label) for label in labels]
            for row in matrix:
                by_category: dict[str, float] = {}
                for key, score in zip(keys, row, strict=True):
                    by_category[key] = by_category.get(key, 0.0) + float(score)
                scores.append(by_category)
    out: list[Decision] = []
    for i, text in enumerate(texts):
        rule = rules.classify(text)
        overriding = [c for c in rule.candidates if c in rules.overriding]
        if pipeline is None:
            out.append(Decision(rule.category, rule.confidence, "rule"))
        elif overriding:
            best = max(overriding, key=lambda c: (scores[i].get(c, 0.0), c))
            # The user's rule decides; it is as sure as its hits say, or as the model where the model is surer.
            out.append(Decision(best, max(rule.confidence, scores[i].get(best, 0.0)), "rule"))
        else:
            key, score = max(scores[i].items(), key=lambda kv: kv[1])
            # A label outside the taxonomy and its mapping: the fallback, sent to review.
            out.append(Decision(key, score, "model") if key in taxonomy.categories
                       else Decision(taxonomy.fallback, 0.0, "model"))
    return out


@dataclass
class ClassifySummary:
    classified: int = 0
    by_category: Counter[str] = field(default_factory=Counter)
    by_severity: Counter[str] = field(default_factory=Counter)


# What classify reads of a complaint.
_C = Complaint
COLUMNS = (_C.id, _C.title, _C.body, _C.channel, _C.amount, _C.status, _C.processed_at, _C.duplicate_of_id,
           _C.category, _C.category_confidence, _C.category_source, _C.needs_review)
CATEGORY_FIELDS = ("category", "category_confidence", "category_source", "needs_review")
# Texts per model call: bounds the TF-IDF matrix of a large batch.
PREDICT_CHUNK = 5000


def classify_ids(session: Session, taxonomy: TaxonomyConfig, ids: Iterable[int]) -> ClassifySummary:
    """Set category, severity and its reasons; mark the complaints processed.

    Canonical complaints that gained resubmissions in this batch are re-assessed too, since
    repeat complaints raise severity. Duplicates take their canonical complaint's category.
    Reads columns and writes with one executemany UPDATE, so the cost is the matching, not the ORM.
    """
    summary = ClassifySummary()
    batch = rows_by_id(session, COLUMNS, ids)
    canon = {r.id: r for r in batch if r.duplicate_of_id is None}
    canon |= {r.id: r for r in rows_by_id(session, COLUMNS, {r.duplicate_of_id for r in batch} - canon.keys() - {None})}
    repeats: dict[int, int] = {}
    for condition in in_conditions(session, DuplicateLink.canonical_id, canon):
        repeats.update(session.execute(
            select(DuplicateLink.canonical_id, func.count())
            .where(condition)
            .group_by(DuplicateLink.canonical_id)
        ).tuples().all())
    values = {r.id: {f: getattr(r, f) for f in CATEGORY_FIELDS} for r in canon.values()}
    todo = [r for r in canon.values() if r.processed_at is None]
    values |= {r.id: v for r, v in zip(todo, _categorise(session, taxonomy, todo), strict=True)}
    for r in canon.values():
        v = values[r.id]
        v["severity"], v["severity_reasons"] = assess(
            taxonomy.severity,
            text=f"{r.title or ''} {r.body}",
            category=v["category"] or taxonomy.fallback,
            channel=r.channel,
            amount=r.amount,
            repeat_count=1 + repeats.get(r.id, 0),
        )
    now = utcnow()
    updates: list[dict[str, Any]] = []
    were_new: list[int] = []
    for r in batch:
        if r.duplicate_of_id:
            v = _shared(values[r.duplicate_of_id]) | {"needs_review": r.needs_review}
        else:
            v = values[r.id]
            summary.by_category[v["category"] or taxonomy.fallback] += 1
            summary.by_severity[v["severity"] or "minor"] += 1
        status = r.status
        if status == "new":
            status = "classified"
            were_new.append(r.id)
        updates.append({"_id": r.id, **v, "status": status, "processed_at": now, "updated_at": now})
        summary.classified += 1
    table = Complaint.__table__
    update_by_id(session, table, updates)
    # Canonical complaints of earlier batches that gained resubmissions: their new severity, and their earlier
    # duplicates follow it (as if all had come in one batch).
    earlier = sorted(values.keys() - {r.id for r in batch})
    update_by_id(session, table, [{"_id": i, **values[i], "updated_at": now} for i in earlier])
    update_by_id(session, table, [{"_id": i, **_shared(values[i]), "updated_at": now} for i in earlier],
                 key="duplicate_of_id")
    # Their status events, written by the database from the ids (no row per event through the driver).
    event = select(Complaint.id, literal(now, UTCDateTime()), literal("status"), literal("new"), literal("classified"),
                   literal({}, JSON))
    for condition in in_conditions(session, Complaint.id, were_new):
        session.execute(insert(ComplaintEvent.__table__).from_select(
            ["complaint_id", "at", "kind", "from_status", "to_status", "detail"], event.where(condition)))
    return summary


def _shared(values: dict[str, Any]) -> dict[str, Any]:
    """What a duplicate takes from its canonical complaint: all but the review flag (reviewed with the canonical)."""
    return {k: v for k, v in values.items() if k != "needs_review"}


def _pipeline(session: Session, taxonomy: TaxonomyConfig) -> Pipeline | None:
    """The model that classifies: the newest one (the seed model on a fresh install, when configured)."""
    settings = taxonomy.classifier
    model = model_for(session, taxonomy.categories, settings) if settings.seed_model else active_model(session)
    return model.pipeline if model else None


def _categorise(session: Session, taxonomy: TaxonomyConfig, todo: list[Row[Any]]) -> list[dict[str, Any]]:
    """The newest model's prediction (the seed model on a fresh install), keyword overrides where configured."""
    texts = [complaint_text(r.title, r.body) for r in todo]
    threshold = taxonomy.classifier.review_threshold
    return [{"category": d.category, "category_confidence": d.confidence, "category_source": d.source,
             "needs_review": d.confidence < threshold}
            for d in decide(taxonomy, KeywordClassifier(taxonomy), texts, _pipeline(session, taxonomy))]


@dataclass
class Categoriser:
    """The categories classification will give texts, for dedupe to ask before it: None where it is unsure (below
    review_threshold: it would go to review) or files the fallback, which says nothing of the problem. The model
    and rules are read at the first call."""

    session: Session
    taxonomy: TaxonomyConfig
    _made: tuple[KeywordClassifier, Pipeline | None] | None = None

    @property
    def fallback(self) -> str:
        return self.taxonomy.fallback

    def __call__(self, texts: list[str]) -> list[str | None]:
        if self._made is None:
            self._made = (KeywordClassifier(self.taxonomy), _pipeline(self.session, self.taxonomy))
        rules, pipeline = self._made
        sure = self.taxonomy.classifier.review_threshold
        return [d.category if d.category != self.fallback and d.confidence >= sure else None
                for d in decide(self.taxonomy, rules, texts, pipeline)]


def refresh_model(session: Session, taxonomy: TaxonomyConfig) -> str | None:
    """A process run's first step: the model its batches classify with, trained now if due (the seed model on a
    fresh install; retrained on the seed set plus its confident classifications as they accumulate), so that
    every batch and partition of the run uses the same one. Its tag, or None (keyword rules)."""
    settings = taxonomy.classifier
    model = (model_for(session, taxonomy.categories, settings, self_train=True) if settings.seed_model
             else active_model(session))
    return model.data_source if model else None


def unprocessed_query(*columns: Any, after: tuple[datetime, int] | None = None) -> Select[Any]:
    """The oldest complaints not yet through dedupe and classification, first come first served; not those held
    out (complaints.process.stage); with `after` (received_at, id), only those that come after it."""
    query = select(*columns).where(Complaint.processed_at.is_(None), Complaint.held_at.is_(None))
    if after is not None:
        at, last = after
        query = query.where(or_(Complaint.received_at > at, and_(Complaint.received_at == at, Complaint.id > last)))
    return query.order_by(Complaint.received_at, Complaint.id)
