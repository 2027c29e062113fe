"""Database model: one table per thing ops talk about (complaints, incidents, plans, outbox, ...)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes on every backend: stored as UTC, returned as aware UTC.

    SQLite has no timezone type and hands back naive values; normalising here keeps
    comparisons and arithmetic identical on SQLite and PostgreSQL.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store timezone-aware values only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (the form every stored timestamp takes)."""
    return datetime.now(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Source(Base):
    """A channel source and how far it has been read."""

    __tablename__ = "sources"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    # Advanced only after a batch commits; a crash re-reads the batch, the unique key absorbs it.
    watermark: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Complaint(Base):
    __tablename__ = "complaints"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_complaints_source_external_id"),
        Index("ix_complaints_received_at", "received_at"),
        Index("ix_complaints_contact_key", "contact_key"),
        Index("ix_complaints_customer_ref", "customer_ref"),
        Index("ix_complaints_processed_at", "processed_at"),
        Index("ix_complaints_detected_at", "detected_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    external_id: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    channel: Mapped[str] = mapped_column(String(30))
    customer_ref: Mapped[str | None] = mapped_column(String(200))
    # Raw contact is kept only because notifications need it; never displayed unmasked.
    contact: Mapped[str | None] = mapped_column(String(320))
    contact_masked: Mapped[str | None] = mapped_column(String(320))
    contact_key: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    text_hash: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    currency: Mapped[str | None] = mapped_column(String(3))
    # What the user asks for (complaints.process.extract.Demand), read from the text at ingest.
    demand: Mapped[str | None] = mapped_column(String(20))
    merchant: Mapped[str | None] = mapped_column(String(200))
    product: Mapped[str | None] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(5), default="zh")
    category: Mapped[str | None] = mapped_column(String(50))
    category_confidence: Mapped[float | None] = mapped_column()
    category_source: Mapped[str | None] = mapped_column(String(10))  # rule | model | review
    # Set when confidence is below the review threshold; cleared by `complaints review`.
    needs_review: Mapped[bool] = mapped_column(default=False, index=True)
    severity: Mapped[str | None] = mapped_column(String(10))
    severity_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="new")
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("complaints.id"), index=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    # Joined its incident by its words (complaints.detect.profile), not by the incident's signature or an alarm:
    # the incident's text profile is made from the others, so it does not drift towards what it took in.
    joined_by_words: Mapped[bool] = mapped_column(default=False, server_default=false())
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when dedupe or classification raised for this complaint alone (complaints.process.held): it stays
    # unprocessed, out of every process run, until ops release it.
    held_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    held_reason: Mapped[str | None] = mapped_column(String(300))
    # Set when retention or an erasure request removed its personal data (complaints.regulatory.retention): a
    # re-read of its source record (a backfill) then changes nothing, so the data cannot come back.
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The queue of a complaint without a plan of its own (minor ones): team by routing.yaml, an owner from its roster,
    # and the answer's deadline (the SLA's or the earliest statutory clock's, whichever is first).
    team: Mapped[str | None] = mapped_column(String(100))
    owner: Mapped[str | None] = mapped_column(String(100), index=True)
    answer_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set once detection has evaluated the hour it was received in, in the transaction that wrote the links: a run
    # that dies between classification and detection leaves it for the next run.
    detected_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    events: Mapped[list[ComplaintEvent]] = relationship(
        back_populates="complaint", order_by="ComplaintEvent.id", cascade="all, delete-orphan"
    )


class ComplaintEvent(Base):
    """Status history: every status change and source update of a complaint."""

    __tablename__ = "complaint_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    kind: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    complaint: Mapped[Complaint] = relationship(back_populates="events")


class QuarantinedRecord(Base):
    """A source record that could not be read, with where it came from and why."""

    __tablename__ = "quarantine"
    __table_args__ = (UniqueConstraint("source", "fingerprint", name="uq_quarantine_source_fingerprint"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    location: Mapped[str] = mapped_column(String(500))
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    replayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DuplicateLink(Base):
    __tablename__ = "duplicate_links"
    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), unique=True)
    canonical_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), index=True)
    method: Mapped[str] = mapped_column(String(20))
    score: Mapped[float] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ComplaintAttachment(Base):
    """A file that came with a complaint (evidence), stored once by content hash under the evidence folder
    (complaints.core.evidence), or rejected with the reason. Never opened or rendered: only its name, types, size
    and hash are shown."""

    __tablename__ = "complaint_attachments"
    # The same file read again with its record (re-ingest) is recorded once.
    __table_args__ = (UniqueConstraint("complaint_id", "fingerprint", name="uq_complaint_attachments_fingerprint"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id", ondelete="CASCADE"))
    fingerprint: Mapped[str] = mapped_column(String(64))
    # Sanitised label (the sender's name, never a path); the declared and the sniffed (magic bytes) content types.
    file_name: Mapped[str] = mapped_column(String(200))
    declared_type: Mapped[str | None] = mapped_column(String(100))
    sniffed_type: Mapped[str | None] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    # Content hash: the stored file's name (evidence/ab/abcdef...); None for a file that could not be read.
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(10))  # AttachmentStatus
    rejected: Mapped[str | None] = mapped_column(String(20))  # AttachmentRejection
    reason: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ComplaintSimilarity(Base):
    """A complaint whose text is close to an earlier one's while nothing shows one person wrote both (no person
    key): visible, but not a duplicate, so both stay canonical and count as distinct users."""

    __tablename__ = "complaint_similarities"
    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id", ondelete="CASCADE"), unique=True)
    similar_id: Mapped[int] = mapped_column(ForeignKey("complaints.id", ondelete="CASCADE"), index=True)
    method: Mapped[str] = mapped_column(String(20))
    score: Mapped[float] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ClassifierModel(Base):
    """A trained category model; the newest active version classifies. The artifact is a joblib blob so every
    worker reads the same model from the database."""

    __tablename__ = "classifier_models"
    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    active: Mapped[bool] = mapped_column(default=True)
    labels: Mapped[list[str]] = mapped_column(JSON, default=list)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    n_train: Mapped[int] = mapped_column(Integer)
    data_source: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    artifact: Mapped[bytes] = mapped_column(LargeBinary)


class CategoryReview(Base):
    """A reviewer's confirmation or correction of a complaint's category; feeds the next training."""

    __tablename__ = "category_reviews"
    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(10))  # confirm | correct
    previous_category: Mapped[str | None] = mapped_column(String(50))
    category: Mapped[str] = mapped_column(String(50))
    reviewer: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Incident(Base):
    """A collective complaint: many distinct users on one problem signature."""

    __tablename__ = "incidents"
    __table_args__ = (UniqueConstraint("signature", "opened_window", name="uq_incidents_signature_window"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    signature: Mapped[str] = mapped_column(String(300))
    # Start of the detection window that opened it: makes detection re-runs idempotent.
    opened_window: Mapped[datetime] = mapped_column(UTCDateTime())
    category: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(500))
    severity: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(20), default="open")
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime())
    first_complaint_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_complaint_at: Mapped[datetime] = mapped_column(UTCDateTime())
    user_count: Mapped[int] = mapped_column(Integer, default=0)
    complaint_count: Mapped[int] = mapped_column(Integer, default=0)
    amount_at_risk: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    reason: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    root_cause: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    # Text signatures: the (masked) description new complaints are compared with to join.
    anchor_text: Mapped[str | None] = mapped_column(Text)
    # Status changes: [{"at", "from", "to", "note"}], appended by complaints.detect.incidents.transition.
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class Plan(Base):
    """Investigation and remediation plan for one incident or one serious complaint."""

    __tablename__ = "plans"
    __table_args__ = (UniqueConstraint("subject_type", "subject_id", name="uq_plans_subject"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(20))  # incident | complaint
    subject_id: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(50))
    template: Mapped[str] = mapped_column(String(50))
    team: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The SLA rule is looked up from these (policy stays data); the deadlines are fixed at creation.
    severity: Mapped[str | None] = mapped_column(String(10))
    channel: Mapped[str | None] = mapped_column(String(30))
    ack_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    respond_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    extensions: Mapped[int] = mapped_column(Integer, default=0)
    extension_reason: Mapped[str | None] = mapped_column(Text)
    approved_by: Mapped[str | None] = mapped_column(String(100))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    steps: Mapped[list[PlanStep]] = relationship(
        back_populates="plan", order_by="PlanStep.seq", cascade="all, delete-orphan"
    )


class PlanStep(Base):
    __tablename__ = "plan_steps"
    __table_args__ = (UniqueConstraint("plan_id", "seq", name="uq_plan_steps_plan_seq"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    owner: Mapped[str] = mapped_column(String(100))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20), default="pending")
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    note: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20), default="task")  # task|feedback|callback|lessons_learned
    unit: Mapped[str] = mapped_column(String(20), default="calendar_hours")
    # When the step has used routing.at_risk_share of its time (in its unit): one warning to the owner.
    warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    plan: Mapped[Plan] = relationship(back_populates="steps")


class Escalation(Base):
    """One escalation of an overdue step; unique per level so a breach escalates once."""

    __tablename__ = "escalations"
    __table_args__ = (UniqueConstraint("step_id", "level", name="uq_escalations_step_level"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("plan_steps.id", ondelete="CASCADE"))
    level: Mapped[int] = mapped_column(Integer)
    from_owner: Mapped[str] = mapped_column(String(100))
    to_owner: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # overdue (level >= 1, to the next owner up the chain) | at_risk (level 0, a warning to the owner)
    kind: Mapped[str] = mapped_column(String(20), default="overdue")


class PlanEvent(Base):
    """Audit trail of a plan: who did what and when (ops actions, escalations, reviews)."""

    __tablename__ = "plan_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    step_id: Mapped[int | None] = mapped_column(ForeignKey("plan_steps.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(30))
    note: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Notification(Base):
    """Outbox row: rendered message plus delivery state. The idempotency key makes queuing exactly-once."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_status", "status"),
        # The per-user frequency cap counts a user's recent sends.
        Index("ix_notifications_contact_key_sent_at", "contact_key", "sent_at"),
        # The weekly report's SLA figures join acknowledgements to their complaints.
        Index("ix_notifications_complaint_id", "complaint_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    recipient: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(5))
    subject: Mapped[str] = mapped_column(String(500))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    attachments: Mapped[list[str]] = mapped_column(JSON, default=list)
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaints.id"))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    # A call-back after an important transaction (complaints.notify.transactions): no complaint, this transaction.
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    channel: Mapped[str] = mapped_column(String(10), default="email")  # email | webhook (SMS, in-app push)
    # Set on messages to complainants (not staff): opt-out, frequency cap and quiet hours apply to them.
    contact_key: Mapped[str | None] = mapped_column(String(64))
    timezone: Mapped[str | None] = mapped_column(String(50))
    # Not claimed before this time: scheduled call-backs and messages held back by quiet hours.
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Transaction(Base):
    """A wallet transaction from a transaction feed (sources.yaml kind: transactions), once per feed and transaction
    id. The call-back rules (notifications.yaml callbacks.transactions) pick the important ones."""

    __tablename__ = "transactions"
    # Once per feed: two feeds (a wallet's and a bank partner's) may number their transactions alike.
    __table_args__ = (UniqueConstraint("source", "transaction_id", name="uq_transactions_source_transaction_id"),
                      Index("ix_transactions_occurred_at", "occurred_at"),
                      Index("ix_transactions_contact_key", "contact_key"),
                      Index("ix_transactions_customer_ref", "customer_ref"))
    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    customer_ref: Mapped[str | None] = mapped_column(String(200))
    # As on complaints: the raw contact only because a call-back needs it; masked copy and keyed hash beside it.
    contact: Mapped[str | None] = mapped_column(String(320))
    contact_masked: Mapped[str | None] = mapped_column(String(320))
    contact_key: Mapped[str | None] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(20))  # TransactionType
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    currency: Mapped[str | None] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20))  # TransactionStatus
    # Set when retention or an erasure request removed who made it: a re-read of the feed never restores them.
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class OptOut(Base):
    """A complainant who asked for no more messages, by keyed contact hash (never the raw contact)."""

    __tablename__ = "notification_opt_outs"
    id: Mapped[int] = mapped_column(primary_key=True)
    contact_key: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CallbackResult(Base):
    """Outcome of a satisfaction call-back (回访), imported from survey replies; one per complaint."""

    __tablename__ = "callback_results"
    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), unique=True)
    reached: Mapped[bool] = mapped_column()
    score: Mapped[int | None] = mapped_column(Integer)  # 1-5, None when not reached or not given
    comment: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Report(Base):
    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("kind", "period", "language", name="uq_reports_kind_period_lang"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # crisis | lessons
    period: Mapped[str] = mapped_column(String(10))  # ISO week, e.g. 2026-W47
    language: Mapped[str] = mapped_column(String(5))
    path: Mapped[str] = mapped_column(String(500))
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    rendered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ComplaintClock(Base):
    """One statutory clock of a complaint (rule from config/clocks.yaml); several run at once."""

    __tablename__ = "complaint_clocks"
    __table_args__ = (UniqueConstraint("complaint_id", "rule_id", name="uq_complaint_clocks_complaint_rule"),
                      Index("ix_complaint_clocks_status_due_at", "status", "due_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id", ondelete="CASCADE"), index=True)
    rule_id: Mapped[str] = mapped_column(String(60))
    library_version: Mapped[str] = mapped_column(String(20))
    jurisdiction: Mapped[str] = mapped_column(String(10))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20), default="running")  # running|extended|met|breached|lapsed
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    extensions: Mapped[int] = mapped_column(Integer, default=0)
    extended_by: Mapped[int] = mapped_column(Integer, default=0)  # days added in the rule's unit, in total
    approver: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)


class ComplaintOutcome(Base):
    """The decision on a complaint, as regulator returns need it (upheld, redress, basis, evidence)."""

    __tablename__ = "complaint_outcomes"
    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id", ondelete="CASCADE"), unique=True)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(20))  # upheld | partly_upheld | not_upheld
    relief: Mapped[str] = mapped_column(String(20))  # monetary | non_monetary | explanation
    redress_amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    redress_currency: Mapped[str | None] = mapped_column(String(3))
    investigation: Mapped[str | None] = mapped_column(Text)  # result and evidence
    basis: Mapped[str | None] = mapped_column(Text)
    steps_taken: Mapped[str | None] = mapped_column(Text)
    # A code of outcomes.yaml's root_causes (the lessons report counts them); when the remedy is (was) carried out.
    root_cause: Mapped[str | None] = mapped_column(String(40), index=True)
    remedy_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class InboundMessage(Base):
    """A user's reply on a complaint, by email or by the SMS/push gateway, matched to the complaint (ticket number,
    In-Reply-To/References) instead of becoming a new one. What we sent is the outbox (Notification)."""

    __tablename__ = "inbound_messages"
    # A reply delivered twice (IMAP re-read, webhook retry) is recorded once.
    __table_args__ = (UniqueConstraint("channel", "message_id", name="uq_inbound_messages_channel_message_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    # The complaint it is about, or for a reply to a call-back after a transaction, that transaction.
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaints.id", ondelete="CASCADE"), index=True)
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(10))  # email | webhook
    message_id: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    contact_key: Mapped[str | None] = mapped_column(String(64), index=True)
    # Masked: the conversation is shown to ops and in the customer history.
    body_masked: Mapped[str] = mapped_column(Text)
    # The message it answers, when the reply says (In-Reply-To, the gateway's reply_to).
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id"))
    score: Mapped[int | None] = mapped_column(Integer)  # a call-back score read from the reply
    # The time of day a reply to a call-back asks to be phoned in (morning | afternoon | evening).
    callback_window: Mapped[str | None] = mapped_column(String(10))


class MajorEvent(Base):
    """An incident classed as a reportable major event, with its regulator deadlines and draft report."""

    __tablename__ = "major_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), unique=True)
    event_class: Mapped[int] = mapped_column(Integer)  # 1 (most serious) | 2
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    classified_at: Mapped[datetime] = mapped_column(UTCDateTime())
    phone_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    written_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    report_path: Mapped[str | None] = mapped_column(String(500))


class LegalHold(Base):
    """Keeps a complaint (or every member of an incident) out of the retention purge until released."""

    __tablename__ = "legal_holds"
    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaints.id"), index=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    placed_by: Mapped[str] = mapped_column(String(100))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RetentionPurge(Base):
    """A complaint whose personal data the retention flow removed (once: the unique key)."""

    __tablename__ = "retention_purges"
    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), unique=True)
    purged_at: Mapped[datetime] = mapped_column(UTCDateTime())
    basis_at: Mapped[datetime] = mapped_column(UTCDateTime())  # when its retention period started


class Lease(Base):
    """A named lease (e.g. on the unprocessed complaints) held by one run at a time; it lapses at expires_at
    unless renewed, so a crashed holder does not block the next run for long."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
