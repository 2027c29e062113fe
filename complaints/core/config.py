"""Declarative configuration: YAML files in the config directory, validated with pydantic.

Every error names the file, the field and the problem, so ops can fix a file without reading code.
"""

from __future__ import annotations

import re
from datetime import date, time
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from complaints.core.statuses import TransactionStatus, TransactionType

CANONICAL_FIELDS = (
    "external_id",
    "received_at",
    "channel",
    "customer_ref",
    "contact",
    "title",
    "body",
    "amount",
    "currency",
    "merchant",
    "product",
    "region",
    "language",
)
SEVERITIES = ("minor", "major", "critical")


class ConfigError(ValueError):
    """A configuration file is missing, unreadable or invalid."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_tz(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {value!r}") from exc
    return value


TimeZoneName = Annotated[str, Field(min_length=1)]


# --- sources.yaml -----------------------------------------------------------------------------


class SourceBase(Strict):
    """What every source has: a name, a kind, a channel, how it writes times, and its batch size."""

    name: str = Field(pattern=r"^[a-z0-9_\-]+$", max_length=100)
    kind: str
    channel: str = Field(min_length=1, max_length=30)
    timezone: TimeZoneName = "Asia/Shanghai"
    date_format: str | None = None
    # Records per committed batch: bounds memory, and what a crash can cost in re-reading.
    batch_size: int = Field(10_000, ge=1, le=1_000_000)
    enabled: bool = True

    _tz = field_validator("timezone")(_check_tz)


class SourceSpec(SourceBase):
    """A source of complaints: how its fields map to the canonical ones."""

    # canonical field -> source column; constant values via `defaults`.
    mapping: dict[str, str] = Field(default_factory=dict)
    defaults: dict[str, str] = Field(default_factory=dict)
    # What this source writes into a contact or customer_ref column for no one (the call centre's own number, typed
    # for every caller without one): such a value keys no one, as N/A or 00000000000 do everywhere.
    not_identifiers: list[Annotated[str, Field(min_length=1, max_length=320)]] = Field(default_factory=list)

    @field_validator("mapping", "defaults")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(CANONICAL_FIELDS))
        if unknown:
            raise ValueError(f"unknown canonical field(s) {unknown}; expected some of {list(CANONICAL_FIELDS)}")
        return value

    @model_validator(mode="after")
    def _required_mapped(self) -> SourceSpec:
        if self.kind != "cfpb":  # the CFPB preset fills these in
            missing = [f for f in ("external_id", "received_at", "body") if f not in self.mapping]
            if missing:
                raise ValueError(f"mapping must name a column for {missing}")
        return self


class FileDrop(SourceBase):
    """Files in a folder or glob (CSV, JSON Lines, Excel), read by the file connector."""

    path: str = Field(min_length=1, description="file, folder or glob; relative to the config directory")
    format: Literal["auto", "csv", "jsonl", "xlsx"] = "auto"
    encoding: str = "auto"


class FileSourceSpec(SourceSpec, FileDrop):
    kind: Literal["file", "cfpb"]


TRANSACTION_FIELDS = ("transaction_id", "occurred_at", "customer_ref", "contact", "type", "amount", "currency",
                      "status")


class TransactionSourceSpec(FileDrop):
    """A feed of wallet transactions (CSV or JSON Lines files, read by the file connector), stored once per feed
    and transaction id in `transactions`; notifications.yaml `callbacks.transactions` picks the ones that get a
    satisfaction call-back."""

    kind: Literal["transactions"]
    channel: str = Field("transactions", min_length=1, max_length=30)
    # transaction field -> source column ("a|b": the first non-empty); constant values via `defaults`.
    mapping: dict[str, str]
    defaults: dict[str, str] = Field(default_factory=dict)
    not_identifiers: list[Annotated[str, Field(min_length=1, max_length=320)]] = Field(default_factory=list)  # as above
    # Source values (case-insensitive) -> ours, beyond the usual English and Chinese words
    # (complaints.ingest.transactions); a value no table names is `other`.
    type_values: dict[str, TransactionType] = Field(default_factory=dict)
    status_values: dict[str, TransactionStatus] = Field(default_factory=dict)

    @field_validator("mapping", "defaults")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(TRANSACTION_FIELDS))
        if unknown:
            raise ValueError(f"unknown transaction field(s) {unknown}; expected some of {list(TRANSACTION_FIELDS)}")
        return value

    @model_validator(mode="after")
    def _required_mapped(self) -> TransactionSourceSpec:
        missing = [f for f in ("transaction_id", "occurred_at", "type", "amount") if f not in self.mapping]
        if missing:
            raise ValueError(f"mapping must name a column for {missing}")
        return self


class SecretRef(Strict):
    """A secret from a Prefect Secret block (by name) or an environment variable; exactly one."""

    secret_block: str | None = None
    env: str | None = None

    @model_validator(mode="after")
    def _one(self) -> SecretRef:
        if (self.secret_block is None) == (self.env is None):
            raise ValueError("give exactly one of secret_block or env")
        return self


class ApiSourceSpec(SourceSpec):
    """A JSON API read page by page; `since` carries the watermark of the last committed page."""

    kind: Literal["api"]
    url: str = Field(pattern=r"^https?://")
    records_field: str = "items"  # dotted path to the list of records in a response
    pagination: Literal["cursor", "page"] = "cursor"
    cursor_field: str = "next_cursor"  # dotted path in the response; empty/absent ends the pull
    cursor_param: str = "cursor"
    page_param: str = "page"
    page_size_param: str = "page_size"
    page_size: int = Field(100, ge=1, le=10_000)
    since_param: str = "since"
    # The record field holding its files, a list of {filename, content_type, content (base64)}; they are checked
    # and stored as the complaint's evidence (sources.yaml `attachments`), not kept in its raw record.
    attachments_field: str | None = Field(None, pattern=r"^[A-Za-z0-9_\-]+$", max_length=100)
    # The record field that orders records (ISO 8601); its maximum becomes the next run's `since`.
    watermark_field: str = "updated_at"
    params: dict[str, str] = Field(default_factory=dict)
    auth: SecretRef | None = None
    auth_header: str = "Authorization"
    auth_prefix: str = "Bearer "
    timeout_seconds: float = Field(30, gt=0)
    max_retries: int = Field(5, ge=0, le=20)
    backoff_seconds: float = Field(1, ge=0)
    max_backoff_seconds: float = Field(60, ge=0)


class SqlSourceSpec(SourceSpec):
    """Rows of a table or query in another database, read in watermark order."""

    kind: Literal["sql"]
    url: str | None = None
    url_env: str | None = None  # the URL from an environment variable (it often holds a password)
    table: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$")
    query: str | None = None
    watermark_column: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    @model_validator(mode="after")
    def _exactly_one(self) -> SqlSourceSpec:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of url or url_env")
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of table or query")
        return self


# The fields the IMAP connector hands over; its received_at ("date") is ISO 8601, so no date_format is needed.
IMAP_MAPPING = {"external_id": "message_id", "received_at": "date", "title": "subject", "body": "body",
                "contact": "from"}


class ImapSourceSpec(SourceSpec):
    """Unseen messages of one mailbox folder; each is marked \\Seen once its batch is committed."""

    kind: Literal["imap"]
    channel: str = Field("email", min_length=1, max_length=30)
    mapping: dict[str, str] = Field(default_factory=lambda: dict(IMAP_MAPPING))
    host: str = Field(min_length=1)
    port: int | None = Field(None, ge=1, le=65535)  # default 993 with ssl, 143 without
    username: str = Field(min_length=1)
    password: SecretRef
    # Sent quoted; a non-ASCII folder must be written in IMAP's modified UTF-7.
    folder: str = Field("INBOX", pattern=r'^[ -~]+$', max_length=200)
    ssl: bool = True
    timeout_seconds: float = Field(30, gt=0)
    # Messages are held whole in memory per batch.
    batch_size: int = Field(100, ge=1, le=10_000)

    @field_validator("folder")
    @classmethod
    def _quotable(cls, value: str) -> str:
        if '"' in value or "\\" in value:
            raise ValueError("folder name must not contain a double quote or backslash")
        return value


AnySourceSpec = Annotated[
    FileSourceSpec | ApiSourceSpec | SqlSourceSpec | ImapSourceSpec | TransactionSourceSpec, Field(discriminator="kind")
]


class IngestLimits(Strict):
    """What every record must satisfy at the ingest boundary (else it is quarantined with the reason), and when a
    source's run counts as degraded (marked in the flow's state, an artifact and an event)."""

    # Before this, a received_at is a typo or a placeholder (0001-01-01); PostgreSQL would store it BC.
    received_not_before: date = date(2000, 1, 1)
    # Clocks and timezones drift by hours, not by days; 9999-12-31 breaks date arithmetic downstream.
    received_max_future_days: int = Field(7, ge=0, le=3650)
    max_amount: float = Field(1e12, gt=0, le=1e16)  # the column holds 16 integer digits
    max_raw_chars: int = Field(200_000, ge=1_000)  # the whole raw record, as stored
    max_nesting: int = Field(20, ge=1, le=200)
    degraded_quarantine_share: float = Field(0.5, gt=0, le=1)
    degraded_min_records: int = Field(10, ge=1)


ContentType = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*$", max_length=100)]
MIB = 1 << 20


class AttachmentLimits(Strict):
    """Files that come with complaints (mail attachments, an API source's attachments_field): which are stored as
    evidence. The type is the one the content's first bytes show (magic numbers), whatever the sender declared."""

    allowed_types: list[ContentType] = Field(default_factory=lambda: [
        "application/pdf", "image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "image/heif",
        "text/plain"])
    max_file_bytes: int = Field(10 * MIB, ge=1, le=1024 * MIB)
    max_complaint_bytes: int = Field(25 * MIB, ge=1, le=4096 * MIB)
    max_files: int = Field(10, ge=0, le=100)

    @field_validator("allowed_types")
    @classmethod
    def _sniffable(cls, value: list[str]) -> list[str]:
        from complaints.core.evidence import KNOWN_TYPES

        unknown = sorted(set(value) - KNOWN_TYPES)
        if unknown:
            raise ValueError(f"types {unknown} cannot be recognised from a file's content; "
                             f"known: {sorted(KNOWN_TYPES)}")
        return value

    @model_validator(mode="after")
    def _per_complaint(self) -> AttachmentLimits:
        if self.max_file_bytes > self.max_complaint_bytes:
            raise ValueError(f"max_file_bytes {self.max_file_bytes} is over max_complaint_bytes "
                             f"{self.max_complaint_bytes}")
        return self


class SourcesConfig(Strict):
    sources: list[AnySourceSpec]
    limits: IngestLimits = IngestLimits()
    attachments: AttachmentLimits = AttachmentLimits()

    @field_validator("sources")
    @classmethod
    def _unique(cls, value: list[SourceBase]) -> list[SourceBase]:
        names = [s.name for s in value]
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            raise ValueError(f"duplicate source name(s) {dups}")
        return value


# --- taxonomy.yaml ----------------------------------------------------------------------------


class Keywords(Strict):
    zh: list[str] = Field(default_factory=list)
    en: list[str] = Field(default_factory=list)


class Category(Strict):
    label_zh: str
    label_en: str
    keywords: Keywords = Keywords()
    # A keyword hit for this category wins over the trained model (e.g. fraud words).
    rule_overrides: bool = False


class ClassifierSettings(Strict):
    # Below this confidence a complaint goes to the needs-review queue.
    review_threshold: float = Field(0.5, ge=0, le=1)
    # Model label -> taxonomy key, for models trained on another label set; unmapped unknown labels fall back.
    label_map: dict[str, str] = Field(default_factory=dict)
    # Train with sentence-embedding features too (the `embeddings` extra): more accurate, ~100 texts/s.
    embeddings: bool = False
    # No trained model yet: train the bundled bilingual seed set (complaints/process/seed) at first use; off: rules.
    seed_model: bool = True
    # Seed model only: retrain on the seed set plus classifications at least this confident (and reviews) once
    # there are `self_train_from` of them, and at each doubling; 0 switches self-training off.
    self_train_from: int = Field(500, ge=0)
    self_train_confidence: float = Field(0.6, ge=0, le=1)


class KeylessDedupe(Strict):
    """Complaints with no person key (no contact, no customer ref). A duplicate needs evidence of one person: the
    same order / transaction id in the text, or the identical text with identical metadata (same source and UTC day,
    equal `same_fields` and `same_raw_fields`). Close texts otherwise (MinHash LSH inside one source and window,
    verified by ratio) are only recorded as similar: they stay canonical and count as distinct users."""

    enabled: bool = True
    window_hours: int = Field(48, ge=1, le=24 * 14)
    # Metadata that must be equal for an identical text to be the same person's (a record with none proves nothing).
    same_fields: list[Literal["title", "product", "merchant", "region", "amount"]] = Field(
        default_factory=lambda: ["title", "product", "merchant", "region", "amount"])
    # Columns of the source record compared the same way when the record has them (e.g. the CFPB layout's).
    same_raw_fields: list[str] = Field(default_factory=lambda: [
        "Company", "Sub-product", "Sub-issue", "ZIP code", "Tags", "Submitted via", "Consumer consent provided?"])
    # Of those, the columns that point at one person (the CFPB's ZIP code): an identical text is one person's only
    # when one of these is present, not redacted (XXXXX) and equal; a template many people paste on one day is not.
    identifying_raw_fields: list[str] = Field(default_factory=lambda: ["ZIP code"])
    ngram: int = Field(3, ge=1, le=8)
    num_perm: int = Field(64, ge=16, le=512)
    bands: int = Field(16, ge=1)
    # Candidates checked per complaint; an overfull bucket (template texts) is cut to the most recent ones.
    max_bucket: int = Field(50, ge=1)
    # Stricter than the keyed threshold: with no person key only near-verbatim reposts count.
    verify_threshold: float = Field(90, ge=0, le=100)

    @model_validator(mode="after")
    def _identifying(self) -> KeylessDedupe:
        unknown = [f for f in self.identifying_raw_fields if f not in self.same_raw_fields]
        if unknown:
            raise ValueError(f"identifying_raw_fields {unknown} must also be in same_raw_fields")
        return self

    @model_validator(mode="after")
    def _bands(self) -> KeylessDedupe:
        if self.num_perm % self.bands:
            raise ValueError(f"num_perm {self.num_perm} is not a multiple of bands {self.bands}")
        return self


class FollowUpEvidence(Strict):
    """A complaint that says it repeats an earlier one ("second time I report this", 已反馈过, "Repeat caller") is
    linked to its person's only earlier complaint in the window that the problem signature does not contradict, when
    their words (or the pair model) agree at all, not as closely as content_threshold asks, or (same_category) the
    classifier files both under one category. Only in a channel whose
    own recent complaints show such words mean it: of those carrying them (min_count or more), at least min_share
    came after an earlier complaint of the same person in the window, and min_lift times the share of the channel's
    others did. Where people or agents write them into first complaints ("this is the second time!"), they are no
    evidence."""

    enabled: bool = True
    min_count: int = Field(30, ge=1)
    min_share: float = Field(0.5, gt=0, le=1)
    min_lift: float = Field(3.0, ge=1)
    content_floor: float = Field(0.05, ge=0, le=1)
    # ... or classification files both under one category (not the fallback): "second time! 退款进度卡在审核中"
    # repeating "申请退款3天了状态没变过" shares one word, and it is still that refund.
    same_category: bool = True


class DedupeSettings(Strict):
    window_days: int = Field(7, ge=1, le=90)
    # P(same problem) of the pair model (complaints/process/pairs.py) from which one person's two complaints in the
    # window are one; None: the threshold shipped with the model (best dev-half Matthews correlation).
    pair_threshold: float | None = Field(None, ge=0, le=1)
    # ... and the cosine of their words weighted by how rare each word is among the last `background_size`
    # complaints must reach this: the words a channel's template repeats ("Caller states ...; wants ...",
    # 客户反馈：…诉求：) weigh little, so two problems written in one register do not look alike.
    content_threshold: float = Field(0.35, ge=0, le=1)
    background_size: int = Field(20_000, ge=100, le=1_000_000)
    follow_up: FollowUpEvidence = FollowUpEvidence()
    keyless: KeylessDedupe = KeylessDedupe()


class SeverityRules(Strict):
    major_amount: float = Field(1000, ge=0)
    critical_amount: float = Field(10000, ge=0)
    critical_categories: list[str] = Field(default_factory=lambda: ["account_security"])
    regulator_channels: list[str] = Field(default_factory=lambda: ["regulator"])
    # Threats to go to the media, a court or a regulator make a complaint at least major.
    escalation_words: list[str] = Field(default_factory=list)
    vulnerable_words: list[str] = Field(default_factory=list)


class TaxonomyConfig(Strict):
    categories: dict[str, Category]
    fallback: str = "other"
    severity: SeverityRules = SeverityRules()
    classifier: ClassifierSettings = ClassifierSettings()
    dedupe: DedupeSettings = DedupeSettings()

    @model_validator(mode="after")
    def _refs(self) -> TaxonomyConfig:
        if self.fallback not in self.categories:
            raise ValueError(f"fallback {self.fallback!r} is not a category")
        unmapped = sorted({v for v in self.classifier.label_map.values()} - set(self.categories))
        if unmapped:
            raise ValueError(f"classifier.label_map: unknown categories {unmapped}")
        bad = [c for c in self.severity.critical_categories if c not in self.categories]
        if bad:
            raise ValueError(f"severity.critical_categories: unknown categories {bad}")
        return self


# --- detection.yaml ---------------------------------------------------------------------------


class BurstWindow(Strict):
    """One detection window: distinct users in it are tested against the group's own baseline."""

    hours: int = Field(ge=1, le=24 * 14)
    min_users: int = Field(ge=2)
    # One-sided Poisson tail probability P(X >= observed | expected) at or below which it alarms.
    alpha: float = Field(1e-5, gt=0, lt=0.5)


class IncidentSeverityRules(Strict):
    p2_users: int = Field(30, ge=2)
    p1_users: int = Field(100, ge=2)
    # Each condition that holds raises the level from distinct users by one (P3 -> P2 -> P1).
    growth_users_per_hour: int = Field(30, ge=1)
    amount_at_risk: float = Field(100_000, ge=0)
    threat_share: float = Field(0.2, ge=0, le=1)
    security_share: float = Field(0.2, ge=0, le=1)
    security_categories: list[str] = Field(default_factory=lambda: ["account_security"])


class SurgeSettings(Strict):
    """A whole category's surge (entity `any`): the only sign of a crisis whose complaints share no code, merchant
    or wording. A category is one of few large series: it is tested with its own over-dispersion, at the window's
    own alpha, in windows of at least min_window_hours, and must reach min_ratio times its expected besides the
    tail test. Within related_hours of another incident's detection, or while its own incident is active, a
    category's surge needs only related_alpha: an outage is failed payments, stuck withdrawals and angry calls at
    once, and such a surge merges into the incident it began with."""

    min_window_hours: int = Field(3, ge=1)
    min_ratio: float = Field(3.0, ge=1)
    related_alpha: float = Field(1e-4, gt=0, lt=0.5)
    related_hours: int = Field(3, ge=0, le=24)
    # The over-dispersion of a whole category's rate (the detection-wide `dispersion` is one problem's): how much a
    # category's volume varies from day to day beyond chance.
    dispersion: float = Field(0.25, ge=0)


class DetectionConfig(Strict):
    # The long (daily) window and its thresholds; short_windows catch a burst within its first hours.
    window_hours: int = Field(24, ge=1, le=24 * 14)
    min_distinct_users: int = Field(5, ge=2)
    alpha: float = Field(1e-5, gt=0, lt=0.5)
    short_windows: list[BurstWindow] = Field(default_factory=lambda: [BurstWindow(hours=1, min_users=6)])
    # Baseline: the same hour-of-week over this many previous weeks, +- smoothing_hours.
    baseline_weeks: int = Field(4, ge=1, le=52)
    smoothing_hours: int = Field(1, ge=0, le=12)
    # Expected distinct users per hour never below this: sparse series would otherwise alarm on 2 users.
    floor_per_hour: float = Field(0.02, gt=0)
    # The group's overall level (distinct users per hour over the level_hours before the window's day) is the
    # prior the same-hour-of-week samples are shrunk towards, weighted as prior_weeks weekly samples once it
    # covers a week (less before). dispersion: squared coefficient of variation of the rate itself (negative
    # binomial), the day-to-day variation more history does not remove.
    level_hours: int = Field(168, ge=1)
    prior_weeks: float = Field(2.0, gt=0)
    dispersion: float = Field(0.1, ge=0)
    # A window's minimum of distinct users is its min_users, or this share of all complaints received in the
    # window, whichever is larger: a quiet deployment alarms on a handful, a large one needs more.
    min_users_share: float = Field(0.01, ge=0, lt=1)
    # A window's alpha is its alpha, or alpha_volume / (complaints received in the window) up to alpha_max,
    # whichever is larger: a quiet deployment tests few signatures, so it can afford a larger alpha for the same
    # false alarms a week (5 one-star reviews in a day are news there; 5 complaints in a day are noise at 3,000).
    alpha_volume: float = Field(0.01, ge=0)
    alpha_max: float = Field(1e-3, gt=0, lt=0.5)
    # Sources whose received_at carries a day only (stored at midnight of the source's timezone): their
    # complaints count in windows of 24 hours and more, never in the hourly ones.
    date_only_sources: list[str] = Field(default_factory=list)
    # Active incidents whose complaints overlap in time (within merge_hours) and in users or in a problem
    # (a shared entity or a distinctive phrase, held by merge_share of each) are one incident.
    merge_hours: int = Field(24, ge=0)
    merge_share: float = Field(0.3, gt=0, le=1)
    # Signature = category plus one entity; a complaint is tested under each entity it has, strongest first.
    entities: list[Literal["error_code", "app_version", "merchant", "product", "region", "text", "any"]] = Field(
        default_factory=lambda: ["error_code", "app_version", "merchant", "product", "text", "region"]
    )
    # Different users' descriptions at least this similar (rapidfuzz ratio, 0..100) form one text group.
    text_similarity: float = Field(85.0, ge=50, le=100)
    # Texts are compared without the channels' frame at their ends (greetings, sign-offs, agents' formulas): the
    # character 5-grams in at least this share of the week before's complaints, across five categories or more
    # (complaints/detect/frame.py); None: whole texts.
    frame_share: float | None = Field(0.003, gt=0, le=1)
    # Complaints of an incident's signature join it up to join_hours after it opened; later only alarms add
    # members, except for its signatures' error codes that no complaint named in the week before it opened (to 12 h
    # before; a date-only row if its day had ended by then): they join while it is active (an outage's referrals come
    # dated days later). An incident without a new member for quiet_hours takes no more alarms: a recurrence opens a
    # new one.
    join_hours: int = Field(24, ge=1)
    quiet_hours: int = Field(72, ge=1)
    # A complaint of an active incident's categories (any, for an incident across categories) joins it when its text
    # is closer to the incident's complaints than to the categories' everyday ones by this margin (cosines of
    # character n-gram profiles, complaints/detect/profile.py); None: only signatures and alarms add members.
    content_margin: float | None = Field(0.1, ge=0, le=1)
    # ... or when it is closer to the two nearest complaints of the incident's burst (those received before
    # surges.related_hours after its detection) than to the two nearest everyday ones by this margin (a crisis told
    # in a few ways, each by several users); None: the centroids alone.
    neighbour_margin: float | None = Field(0.15, ge=0, le=1)
    # ... up to content_hours after it opened (and from 12 hours before): the tail of one crisis, not the next weeks.
    content_hours: int = Field(48, ge=1)
    # A complaint of a category the incident has no distinctive words of its own for (an outage's stuck withdrawal,
    # classified a transfer delay) joins when its text is closer, by the same margins, to the incident's complaints of
    # its other categories than to the everyday ones of its own category and of each of those (a category with 20 or
    # more everyday complaints in the week before the incident opened).
    content_across_categories: bool = True
    top_phrases: int = Field(5, ge=0, le=20)
    surges: SurgeSettings = SurgeSettings()
    severity: IncidentSeverityRules = IncidentSeverityRules()

    def windows(self) -> list[BurstWindow]:
        """Every window, shortest first."""
        long = BurstWindow(hours=self.window_hours, min_users=self.min_distinct_users, alpha=self.alpha)
        return sorted([*self.short_windows, long], key=lambda w: w.hours)


# --- sla.yaml ---------------------------------------------------------------------------------


class SlaTarget(Strict):
    acknowledge_business_days: int = Field(1, ge=0)
    # Calendar days: regulators count calendar days for answers.
    resolve_days: int = Field(15, ge=1)
    # A first response before the final one (CFPB layout: 15 days response, 60 final); None: not required.
    respond_days: int | None = Field(None, ge=1)
    # The final deadline may be extended this many times by extension_days, each with a recorded reason.
    extension_days: int = Field(15, ge=1)
    max_extensions: int = Field(1, ge=0)


class SlaConfig(Strict):
    timezone: TimeZoneName = "Asia/Shanghai"
    holidays_country: str = "CN"
    # Company closures and make-up working days (调休) the holidays package does not know.
    extra_holidays: list[date] = Field(default_factory=list)
    extra_workdays: list[date] = Field(default_factory=list)
    business_hours: tuple[time, time] = (time(9, 0), time(18, 0))
    default: SlaTarget = SlaTarget()
    by_severity: dict[str, SlaTarget] = Field(default_factory=dict)
    by_channel: dict[str, SlaTarget] = Field(default_factory=dict)

    _tz = field_validator("timezone")(_check_tz)

    @field_validator("holidays_country")
    @classmethod
    def _country(cls, value: str) -> str:
        import holidays

        if value not in holidays.list_supported_countries():
            raise ValueError(f"holidays package has no calendar for country {value!r}")
        return value

    @field_validator("business_hours")
    @classmethod
    def _hours(cls, value: tuple[time, time]) -> tuple[time, time]:
        if value[0] >= value[1]:
            raise ValueError(f"business day must open before it closes, got {value[0]}-{value[1]}")
        return value

    @field_validator("by_severity")
    @classmethod
    def _severities(cls, value: dict[str, SlaTarget]) -> dict[str, SlaTarget]:
        bad = sorted(set(value) - set(SEVERITIES))
        if bad:
            raise ValueError(f"unknown severities {bad}; expected {list(SEVERITIES)}")
        return value


# --- routing.yaml -----------------------------------------------------------------------------


class Team(Strict):
    # On-call roster: the order rotates by one member every ISO week (see planning.roster).
    members: list[str] = Field(min_length=1)
    lead: str
    email: str | None = None


class Route(Strict):
    """Matches when every field it names equals the subject's; the first matching route wins."""

    category: str
    team: str
    severity: str | None = None
    merchant: str | None = None
    region: str | None = None


class RoutingConfig(Strict):
    teams: dict[str, Team]
    routes: list[Route] = Field(default_factory=list)
    default_team: str
    # After the team lead, escalation goes to these people in order.
    escalation_chain: list[str] = Field(default_factory=lambda: ["head_of_service", "compliance"])
    # A step still overdue this many hours after an escalation goes one level further up.
    escalate_every_hours: int = Field(24, ge=1)
    # An open step that has used this share of its time gets one at-risk warning to its owner.
    at_risk_share: float = Field(0.8, gt=0, lt=1)
    # Staff handles become addresses at this domain for escalation emails.
    email_domain: str = "wallet.example"

    @model_validator(mode="after")
    def _teams_exist(self) -> RoutingConfig:
        missing = sorted({r.team for r in self.routes} - set(self.teams) | ({self.default_team} - set(self.teams)))
        if missing:
            raise ValueError(f"unknown team(s) {missing}; defined teams: {sorted(self.teams)}")
        return self


# --- plans.yaml -------------------------------------------------------------------------------


StepUnit = Literal["business_hours", "calendar_hours"]
# Every plan ends with these kinds of step, in this order.
CLOSING_KINDS = ("feedback", "callback", "lessons_learned")


class StepTemplate(Strict):
    title: str
    title_zh: str | None = None  # the Chinese reports show it; PlanStep.title keeps the English one
    role: Literal["owner", "lead"] = "owner"
    kind: Literal["task", "feedback", "callback", "lessons_learned"] = "task"
    # Due `due` hours after the plan's clock starts, counted in `unit` (no default: say which).
    due: float = Field(gt=0)
    unit: StepUnit


class PlansConfig(Strict):
    templates: dict[str, list[StepTemplate]]
    default_template: str = "default"
    plan_severities: list[str] = Field(default_factory=lambda: ["major", "critical"])

    @model_validator(mode="after")
    def _default(self) -> PlansConfig:
        if self.default_template not in self.templates:
            raise ValueError(f"default_template {self.default_template!r} is not in templates")
        for name, steps in self.templates.items():
            kinds = tuple(st.kind for st in steps)
            if kinds[-len(CLOSING_KINDS):] != CLOSING_KINDS or kinds.count("lessons_learned") != 1:
                raise ValueError(f"templates.{name}: must end with steps of kind {list(CLOSING_KINDS)}")
        return self


# --- notifications.yaml -----------------------------------------------------------------------


ACK_KIND_NAME = "acknowledgement"


class StakeholderList(Strict):
    name: str
    language: Literal["zh", "en"] = "zh"
    recipients: list[str] = Field(min_length=1)


class QuietHours(Strict):
    start: time = time(21, 0)
    end: time = time(8, 0)  # may be earlier than start: the quiet period crosses midnight
    # Acknowledgements answer something the user just did; everything else waits for the morning.
    kinds: list[str] = Field(default_factory=lambda: ["progress", "resolution", "callback"])


class FrequencyCap(Strict):
    max_messages: int = Field(2, ge=1)
    days: int = Field(7, ge=1)
    # A user always learns that we received the complaint and how it ended.
    exempt_kinds: list[str] = Field(default_factory=lambda: [ACK_KIND_NAME, "resolution"])


class UserPolicy(Strict):
    """What protects complainants from too many or ill-timed messages."""

    timezone: TimeZoneName = "Asia/Shanghai"
    # complaint.region -> timezone, for users outside the default zone.
    region_timezones: dict[str, TimeZoneName] = Field(default_factory=dict)
    quiet_hours: QuietHours = QuietHours()
    cap: FrequencyCap = FrequencyCap()

    _tz = field_validator("timezone")(_check_tz)

    @field_validator("region_timezones")
    @classmethod
    def _region_tz(cls, value: dict[str, str]) -> dict[str, str]:
        for tz in value.values():
            _check_tz(tz)
        return value


class StatusNote(Strict):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class IncidentUpdates(Strict):
    # Incident status -> the progress note every affected user gets once when the incident reaches it.
    progress: dict[str, StatusNote] = Field(default_factory=dict)
    resolution: StatusNote = StatusNote(zh="问题已处理完毕。", en="The problem has been resolved.")
    # A complaint of a team's queue whose answer deadline passed without an outcome: one progress message.
    late: StatusNote = StatusNote(zh="您的投诉仍在处理中，答复将晚于我们此前告知的时间，对此深表歉意。",
                                  en="Your complaint is still being worked on, and our answer will come later than "
                                     "we told you. We apologise for the delay.")
    # Incidents resolved or plans closed longer ago than this are not announced (e.g. on first deployment).
    lookback_days: int = Field(30, ge=1)


class PeriodicCallbacks(Strict):
    """Satisfaction call-backs to a sample of recent complainants once a calendar month (ops timezone)."""

    enabled: bool = False
    share: float = Field(0.05, gt=0, le=1)  # of the people with a complaint closed in the last lookback_days
    lookback_days: int = Field(90, ge=1)
    # Nobody who had a call-back of any kind in the last rest_days is asked again.
    rest_days: int = Field(30, ge=0)


class TransactionCallbacks(Strict):
    """Satisfaction call-backs after important transactions of a transaction feed (sources.yaml kind transactions):
    one per transaction, through the outbox, under the per-person cap, quiet hours and opt-outs of every call-back."""

    enabled: bool = False
    delay_hours: float = Field(24, ge=0, le=24 * 30)  # after the transaction: time for the money to arrive
    # Older transactions are never called back (a feed's history loaded on its first day).
    lookback_days: int = Field(7, ge=1, le=90)
    # Currency -> the amount from which a transfer is large; a currency not listed has no large transfers.
    large_transfer: dict[str, Decimal] = Field(default_factory=dict)
    first_withdrawal: bool = True
    failed_payment: bool = True
    language: Literal["zh", "en"] = "zh"  # a feed does not say which language its customers read

    @field_validator("large_transfer")
    @classmethod
    def _currencies(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        bad = sorted(c for c, amount in value.items() if not re.fullmatch(r"[A-Z]{3}", c) or amount <= 0)
        if bad:
            raise ValueError(f"expected ISO currency codes (CNY, USD) with a positive amount; check {bad}")
        return value


class Callbacks(Strict):
    enabled: bool = True
    default_days: int = Field(3, ge=0)
    by_category: dict[str, int] = Field(default_factory=dict)
    periodic: PeriodicCallbacks = PeriodicCallbacks()
    transactions: TransactionCallbacks = TransactionCallbacks()


Bilingual = StatusNote  # any text a message or report shows in both languages


class SignOff(Strict):
    """Who writes to the complainant: closes every message (and sits in the footer of its HTML part)."""

    company: Bilingual = Bilingual(zh="数字钱包", en="Digital Wallet")
    team: Bilingual = Bilingual(zh="客户投诉处理中心", en="Customer Complaints Team")
    hotline: str = "95000"
    hours: Bilingual = Bilingual(zh="每日 9:00–21:00，北京时间", en="daily 9:00-21:00, China time")
    handler: Bilingual = Bilingual(zh="投诉处理专员", en="Complaints officer")


class NotificationsConfig(Strict):
    acknowledge: bool = True
    signoff: SignOff = SignOff()
    acknowledge_channels: list[str] | None = None  # None: every channel
    max_attempts: int = Field(5, ge=1)
    stakeholders: list[StakeholderList] = Field(default_factory=list)
    policy: UserPolicy = UserPolicy()
    incident_updates: IncidentUpdates = IncidentUpdates()
    callbacks: Callbacks = Callbacks()


# --- clocks.yaml ------------------------------------------------------------------------------


ClockUnit = Literal["calendar_days", "business_days"]


class Jurisdiction(Strict):
    """Where a clock counts its days: the holiday calendar and the zone whose midnight ends a day."""

    timezone: TimeZoneName
    holidays_country: str
    extra_holidays: list[date] = Field(default_factory=list)
    extra_workdays: list[date] = Field(default_factory=list)
    name: str = ""  # shown in clock listings

    _tz = field_validator("timezone")(_check_tz)


class JurisdictionMatch(Strict):
    """Complaint fields -> jurisdiction; every field named must match (values: any of the list)."""

    jurisdiction: str
    source: list[str] = Field(default_factory=list)
    channel: list[str] = Field(default_factory=list)
    currency: list[str] = Field(default_factory=list)
    language: list[str] = Field(default_factory=list)
    region: list[str] = Field(default_factory=list)


class ClockExtension(Strict):
    """One further extension: the new deadline counts `total_days` from the start, in `unit`."""

    total_days: int = Field(ge=1)
    unit: ClockUnit
    # A role of clocks.yaml approvers whose member must approve; None: any named approver.
    approver_role: str | None = None
    condition: str = ""  # what must hold, e.g. "provisional credit given" (recorded, shown to ops)


class ClockRule(Strict):
    id: str = Field(pattern=r"^[a-z0-9_]+$", max_length=60)
    jurisdiction: str
    citation: str = Field(min_length=1)  # the legal source, article and year
    description: str = ""
    days: int = Field(ge=1)
    unit: ClockUnit
    # Which complaints: empty lists match everything; product_contains is case-insensitive.
    channels: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    product_contains: list[str] = Field(default_factory=list)
    exclude_product_contains: list[str] = Field(default_factory=list)
    # closure: the final decision stops it; response: the first message to the complainant after the ack does too.
    stops_on: Literal["closure", "response"] = "closure"
    # breach: a missed deadline is a breach; lapse: a target whose miss only changes the procedure (DISP 1.5).
    on_miss: Literal["breach", "lapse"] = "breach"
    extensions: list[ClockExtension] = Field(default_factory=list)

    @model_validator(mode="after")
    def _increasing(self) -> ClockRule:
        totals = [self.days, *(e.total_days for e in self.extensions)]
        if totals != sorted(set(totals)):  # strictly increasing
            raise ValueError(f"extension totals must grow beyond {self.days} days, got {totals[1:]}")
        return self


class ClocksConfig(Strict):
    version: str = Field(min_length=1, max_length=20)
    default_jurisdiction: str
    jurisdictions: dict[str, Jurisdiction]
    infer: list[JurisdictionMatch] = Field(default_factory=list)
    # Notification kinds that count as a response to the complainant (stops_on: response).
    response_kinds: list[str] = Field(default_factory=lambda: ["progress", "resolution", "extension"])
    approvers: dict[str, list[str]] = Field(default_factory=dict)
    rules: list[ClockRule] = Field(min_length=1)

    @field_validator("jurisdictions")
    @classmethod
    def _countries(cls, value: dict[str, Jurisdiction]) -> dict[str, Jurisdiction]:
        import holidays

        supported = holidays.list_supported_countries()
        bad = sorted(f"{k}: {j.holidays_country}" for k, j in value.items() if j.holidays_country not in supported)
        if bad:
            raise ValueError(f"holidays package has no calendar for {bad}")
        return value

    @model_validator(mode="after")
    def _refs(self) -> ClocksConfig:
        known = set(self.jurisdictions)
        used = {self.default_jurisdiction} | {m.jurisdiction for m in self.infer} | {r.jurisdiction for r in self.rules}
        if used - known:
            raise ValueError(f"unknown jurisdiction(s) {sorted(used - known)}; defined: {sorted(known)}")
        ids = [r.id for r in self.rules]
        dups = sorted({i for i in ids if ids.count(i) > 1})
        if dups:
            raise ValueError(f"duplicate rule id(s) {dups}")
        roles = {e.approver_role for r in self.rules for e in r.extensions if e.approver_role} - set(self.approvers)
        if roles:
            raise ValueError(f"approver role(s) {sorted(roles)} not listed under approvers")
        return self

    def rule(self, rule_id: str) -> ClockRule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


# --- escalation.yaml --------------------------------------------------------------------------


class EscalationRoute(Strict):
    """Where a complainant can take the complaint next in one jurisdiction, and the text that says so."""

    body: str  # who: e.g. Financial Ombudsman Service
    citation: str  # the rule that requires or expects the wording
    kinds: list[str] = Field(min_length=1)  # the message kinds that carry it
    text: Bilingual
    # The final response's wording (resolution), when the rule asks for more there (a time limit).
    final: Bilingual | None = None


class EscalationConfig(Strict):
    version: str
    routes: dict[str, EscalationRoute]  # jurisdiction code of clocks.yaml -> route


# --- major_events.yaml ------------------------------------------------------------------------


class MajorEventClass(Strict):
    """A class applies when any of its triggers holds; classes are tried from 1 (most serious) down."""

    phone_hours: float = Field(gt=0)
    written_business_days: int = Field(ge=1)
    min_users: int | None = Field(None, ge=1)
    min_amount: float | None = Field(None, ge=0)
    severities: list[Literal["P1", "P2", "P3"]] = Field(default_factory=list)
    # Outage and data-leak thresholds: category -> distinct users from which it applies.
    category_users: dict[str, int] = Field(default_factory=dict)


class MajorEventsConfig(Strict):
    classes: dict[Literal[1, 2], MajorEventClass]
    # Step owners: "lead" (the plan team's lead) or a staff handle from routing.yaml.
    phone_owner: str = "lead"
    written_owner: str = "compliance"
    language: Literal["zh", "en"] = "zh"
    sample_complaints: int = Field(5, ge=0, le=50)


# --- retention.yaml ---------------------------------------------------------------------------


class RetentionConfig(Strict):
    # Kept at least this long after the complaint was closed (or last seen when never closed).
    keep_years: int = Field(3, ge=1, le=30)
    # Ids per statement: SQLite takes at most 32,766 parameters in one statement.
    batch_size: int = Field(1000, ge=1, le=30_000)
    purged_marker: str = "[purged]"


# --- loading ----------------------------------------------------------------------------------

class RootCause(Strict):
    en: str = Field(min_length=1)
    zh: str = Field(min_length=1)


class OutcomesConfig(Strict):
    """config/outcomes.yaml: the controlled list of root causes an outcome is recorded with."""

    root_causes: dict[str, RootCause] = Field(min_length=1)


FILES: dict[str, type[BaseModel]] = {
    "sources.yaml": SourcesConfig,
    "taxonomy.yaml": TaxonomyConfig,
    "detection.yaml": DetectionConfig,
    "sla.yaml": SlaConfig,
    "routing.yaml": RoutingConfig,
    "plans.yaml": PlansConfig,
    "notifications.yaml": NotificationsConfig,
    "clocks.yaml": ClocksConfig,
    "escalation.yaml": EscalationConfig,
    "major_events.yaml": MajorEventsConfig,
    "retention.yaml": RetentionConfig,
    "outcomes.yaml": OutcomesConfig,
}

M = TypeVar("M", bound=BaseModel)


def _format_errors(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: {exc.error_count()} problem(s)"]
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"  - field {field}: {err['msg']}")
    return "\n".join(lines)


def load_file(path: Path, model: type[M]) -> M:
    """One YAML file validated as `model`; a missing, unparsable or invalid file raises ConfigError."""
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, exc)) from exc


class AppConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    directory: Path
    sources: SourcesConfig
    taxonomy: TaxonomyConfig
    detection: DetectionConfig
    sla: SlaConfig
    routing: RoutingConfig
    plans: PlansConfig
    notifications: NotificationsConfig
    clocks: ClocksConfig
    escalation: EscalationConfig
    major_events: MajorEventsConfig
    retention: RetentionConfig
    outcomes: OutcomesConfig

    def source(self, name: str) -> SourceSpec | TransactionSourceSpec:
        for spec in self.sources.sources:
            if spec.name == name:
                return spec
        raise ConfigError(f"{self.directory / 'sources.yaml'}: no source named {name!r}")

    def resolve(self, relative: str) -> Path:
        return (self.directory / relative).resolve()


def load_config(directory: Path) -> AppConfig:
    """Load and cross-check every file; collects all file errors into one message."""
    loaded: dict[str, BaseModel] = {}
    problems: list[str] = []
    for filename, model in FILES.items():
        try:
            loaded[filename.removesuffix(".yaml")] = load_file(directory / filename, model)
        except ConfigError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError("\n".join(problems))
    cfg = AppConfig(directory=directory.resolve(), **loaded)
    _cross_check(cfg)
    return cfg


def _cross_check(cfg: AppConfig) -> None:
    # The CFPB layout carries a day, not a time: such a source is date-only whatever its name.
    cfpb = [s.name for s in cfg.sources.sources if s.kind == "cfpb" and s.name not in cfg.detection.date_only_sources]
    cfg.detection.date_only_sources.extend(cfpb)
    cats = set(cfg.taxonomy.categories)
    problems = [
        f"{cfg.directory / 'routing.yaml'}: field routes.{i}.category: unknown category {r.category!r}"
        for i, r in enumerate(cfg.routing.routes)
        if r.category not in cats
    ]
    problems += [
        f"{cfg.directory / 'plans.yaml'}: field templates.{name}: no such taxonomy category"
        for name in cfg.plans.templates
        if name != cfg.plans.default_template and name not in cats
    ]
    problems += [
        f"{cfg.directory / 'notifications.yaml'}: field callbacks.by_category.{name}: no such taxonomy category"
        for name in cfg.notifications.callbacks.by_category
        if name not in cats
    ]
    problems += [
        f"{cfg.directory / 'clocks.yaml'}: field rules.{i}.categories: unknown category {name!r}"
        for i, r in enumerate(cfg.clocks.rules) for name in r.categories if name not in cats
    ]
    problems += [
        f"{cfg.directory / 'escalation.yaml'}: field routes.{code}: no such jurisdiction in clocks.yaml"
        for code in cfg.escalation.routes
        if code not in cfg.clocks.jurisdictions
    ]
    problems += [
        f"{cfg.directory / 'major_events.yaml'}: field classes.{k}.category_users: unknown category {name!r}"
        for k, c in cfg.major_events.classes.items() for name in c.category_users if name not in cats
    ]
    if problems:
        raise ConfigError("\n".join(problems))


@lru_cache(maxsize=4)
def cached_config(directory: Path) -> AppConfig:
    """load_config of a directory, loaded once per process."""
    return load_config(directory)
