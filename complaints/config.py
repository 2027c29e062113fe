"""Declarative configuration: YAML files in the config directory, validated with pydantic.

Every error names the file, the field and the problem, so ops can fix a file without reading code.
"""

from __future__ import annotations

from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

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


class SourceSpec(Strict):
    name: str = Field(pattern=r"^[a-z0-9_\-]+$", max_length=100)
    kind: Literal["file", "cfpb"]
    channel: str = Field(min_length=1, max_length=30)
    path: str = Field(min_length=1, description="file, folder or glob; relative to the config directory")
    format: Literal["auto", "csv", "jsonl", "xlsx"] = "auto"
    encoding: str = "auto"
    timezone: TimeZoneName = "Asia/Shanghai"
    date_format: str | None = None
    # canonical field -> source column; constant values via `defaults`.
    mapping: dict[str, str] = Field(default_factory=dict)
    defaults: dict[str, str] = Field(default_factory=dict)
    enabled: bool = True

    _tz = field_validator("timezone")(_check_tz)

    @field_validator("mapping", "defaults")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(CANONICAL_FIELDS))
        if unknown:
            raise ValueError(f"unknown canonical field(s) {unknown}; expected some of {list(CANONICAL_FIELDS)}")
        return value

    @model_validator(mode="after")
    def _required_mapped(self) -> SourceSpec:
        if self.kind == "file":
            missing = [f for f in ("external_id", "received_at", "body") if f not in self.mapping]
            if missing:
                raise ValueError(f"mapping must name a column for {missing}")
        return self


class SourcesConfig(Strict):
    sources: list[SourceSpec]

    @field_validator("sources")
    @classmethod
    def _unique(cls, value: list[SourceSpec]) -> list[SourceSpec]:
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

    @model_validator(mode="after")
    def _refs(self) -> TaxonomyConfig:
        if self.fallback not in self.categories:
            raise ValueError(f"fallback {self.fallback!r} is not a category")
        bad = [c for c in self.severity.critical_categories if c not in self.categories]
        if bad:
            raise ValueError(f"severity.critical_categories: unknown categories {bad}")
        return self


# --- detection.yaml ---------------------------------------------------------------------------


class DetectionConfig(Strict):
    window_hours: int = Field(24, ge=1, le=24 * 14)
    min_distinct_users: int = Field(10, ge=2)
    # Incident severity from distinct users affected.
    p1_users: int = Field(100, ge=2)
    p2_users: int = Field(30, ge=2)
    group_by: list[Literal["category", "merchant", "product", "region"]] = Field(
        default_factory=lambda: ["category", "merchant"]
    )


# --- sla.yaml ---------------------------------------------------------------------------------


class SlaTarget(Strict):
    acknowledge_business_days: int = Field(1, ge=0)
    resolve_days: int = Field(15, ge=1)


class SlaConfig(Strict):
    holidays_country: str = "CN"
    business_hours: tuple[time, time] = (time(9, 0), time(18, 0))
    default: SlaTarget = SlaTarget()
    by_severity: dict[str, SlaTarget] = Field(default_factory=dict)
    by_channel: dict[str, SlaTarget] = Field(default_factory=dict)

    @field_validator("by_severity")
    @classmethod
    def _severities(cls, value: dict[str, SlaTarget]) -> dict[str, SlaTarget]:
        bad = sorted(set(value) - set(SEVERITIES))
        if bad:
            raise ValueError(f"unknown severities {bad}; expected {list(SEVERITIES)}")
        return value


# --- routing.yaml -----------------------------------------------------------------------------


class Team(Strict):
    members: list[str] = Field(min_length=1)
    lead: str
    email: str | None = None


class Route(Strict):
    category: str
    team: str
    severity: str | None = None


class RoutingConfig(Strict):
    teams: dict[str, Team]
    routes: list[Route] = Field(default_factory=list)
    default_team: str
    # After the team lead, escalation goes to these people in order.
    escalation_chain: list[str] = Field(default_factory=lambda: ["head_of_service", "compliance"])
    # A step still overdue this many hours after an escalation goes one level further up.
    escalate_every_hours: int = Field(24, ge=1)
    # Staff handles become addresses at this domain for escalation emails.
    email_domain: str = "wallet.example"

    @model_validator(mode="after")
    def _teams_exist(self) -> RoutingConfig:
        missing = sorted({r.team for r in self.routes} - set(self.teams) | ({self.default_team} - set(self.teams)))
        if missing:
            raise ValueError(f"unknown team(s) {missing}; defined teams: {sorted(self.teams)}")
        return self


# --- plans.yaml -------------------------------------------------------------------------------


class StepTemplate(Strict):
    title: str
    role: Literal["owner", "lead"] = "owner"
    due_hours: int = Field(ge=1)


class PlansConfig(Strict):
    templates: dict[str, list[StepTemplate]]
    default_template: str = "default"
    plan_severities: list[str] = Field(default_factory=lambda: ["major", "critical"])

    @model_validator(mode="after")
    def _default(self) -> PlansConfig:
        if self.default_template not in self.templates:
            raise ValueError(f"default_template {self.default_template!r} is not in templates")
        return self


# --- notifications.yaml -----------------------------------------------------------------------


class StakeholderList(Strict):
    name: str
    language: Literal["zh", "en"] = "zh"
    recipients: list[str] = Field(min_length=1)


class NotificationsConfig(Strict):
    acknowledge: bool = True
    acknowledge_channels: list[str] | None = None  # None: every channel
    max_attempts: int = Field(5, ge=1)
    stakeholders: list[StakeholderList] = Field(default_factory=list)


# --- loading ----------------------------------------------------------------------------------

FILES: dict[str, type[BaseModel]] = {
    "sources.yaml": SourcesConfig,
    "taxonomy.yaml": TaxonomyConfig,
    "detection.yaml": DetectionConfig,
    "sla.yaml": SlaConfig,
    "routing.yaml": RoutingConfig,
    "plans.yaml": PlansConfig,
    "notifications.yaml": NotificationsConfig,
}

M = TypeVar("M", bound=BaseModel)


def _format_errors(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: {exc.error_count()} problem(s)"]
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"  - field {field}: {err['msg']}")
    return "\n".join(lines)


def load_file(path: Path, model: type[M]) -> M:
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

    def source(self, name: str) -> SourceSpec:
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
    if problems:
        raise ConfigError("\n".join(problems))


@lru_cache(maxsize=4)
def cached_config(directory: Path) -> AppConfig:
    return load_config(directory)
