"""Weekly reports: figures -> Jinja2 HTML -> WeasyPrint PDF, written atomically and recorded in `reports`."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import mimetypes
import os
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from weasyprint import HTML
from weasyprint.document import Document
from weasyprint.urls import URLFetcher, URLFetcherResponse

from complaints.core.config import AppConfig
from complaints.core.models import Report, utcnow
from complaints.core.settings import Settings
from complaints.core.templating import environment
from complaints.reports import charts, narrative
from complaints.reports.data import MIN_HISTORY_WEEKS, TREND_WEEKS, WeeklyData, parse_week, weekly_report_data
from complaints.reports.i18n import (
    BASELINES,
    CHANNELS,
    LANGUAGES,
    REASON_KEYS,
    SENTENCES,
    SEVERITIES,
    STATUSES,
    TEXT,
    fmt_amount,
    fmt_dt,
    fmt_int,
    fmt_money,
    fmt_pct,
    label,
    severity_reason,
)

log = logging.getLogger(__name__)

KINDS = ("crisis", "lessons")
TREND_SERIES_MAX = 6
REST_LABEL = {"zh": "其余类别", "en": "All other categories"}


class TemplatesOnlyFetcher(URLFetcher):
    """Fetches data: URLs and files under one directory; refuses everything else before any I/O.

    WeasyPrint's default fetcher follows http(s), ftp and any file:// URL found in the document, so
    a complaint that slipped markup into a report could probe the network or embed a system file.
    """

    def __init__(self, root: Path) -> None:
        super().__init__(timeout=1, allowed_protocols=("data", "file"), allow_redirects=False)
        self.root = root.resolve()

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        scheme = url.split(":", 1)[0].lower()
        if scheme == "data":
            return super().fetch(url, headers)
        if scheme == "file":
            parts = urlsplit(url)
            path = Path(url2pathname(parts.path)).resolve()  # resolve: no ../ or symlink escapes
            if parts.netloc in ("", "localhost") and path.is_relative_to(self.root) and path.is_file():
                mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": mime})
        raise ValueError(f"refused to fetch {url[:100]!r}: only data: URLs and files under {self.root}")


def _document(html: str, base_dir: Path) -> Document:
    base = base_dir.resolve()
    return HTML(string=html, base_url=base.as_uri() + "/", url_fetcher=TemplatesOnlyFetcher(base)).render()


def render_pdf(html: str, base_dir: Path) -> bytes:
    """PDF bytes of an HTML page whose relative links resolve inside base_dir (the templates folder)."""
    return _document(html, base_dir).write_pdf()


def write_atomic(path: Path, payload: bytes) -> None:
    """Write via a temp file in the same folder and rename: readers never see half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a crash
    finally:
        os.close(dir_fd)


def _period_label(data: WeeklyData, lang: str) -> str:
    monday = parse_week(data.week)
    sunday = monday + timedelta(days=6)
    year, num, _ = monday.isocalendar()
    if lang == "zh":
        start, end = (f"{d.month}月{d.day}日" for d in (monday, sunday))
    else:
        start, end = (d.strftime(TEXT[lang]["date_fmt"]) for d in (monday, sunday))
    return TEXT[lang]["week_fmt"].format(year=year, week=num, start=start, end=end)


def _trend_series(data: WeeklyData, lang: str) -> list[tuple[str, list[int]]]:
    ranked = sorted(data.by_category, key=lambda c: -sum(c.trend))
    series = [(c.label[lang], c.trend) for c in ranked[:TREND_SERIES_MAX] if sum(c.trend)]
    rest = ranked[TREND_SERIES_MAX:]
    if rest:
        series.append((REST_LABEL[lang], [sum(col) for col in zip(*(c.trend for c in rest), strict=True)]))
    return series


def render_html(
    kind: str, lang: str, data: WeeklyData, settings: Settings, chart_uris: dict[str, Any]
) -> str:
    """The HTML of a report in a language, with its formatting helpers and labels for the template."""
    t = TEXT[lang]
    template = environment(settings.templates_dir).get_template(f"reports/{kind}.html")
    return template.render(
        kind=kind,
        lang=lang,
        t=t,
        d=data,
        charts=chart_uris,
        trend_weeks=TREND_WEEKS,
        doc_title=t[f"{kind}_title"],
        period=_period_label(data, lang),
        generated=fmt_dt(data.generated_at, data.tz, True, lang),
        dt=lambda value, with_time=True: fmt_dt(value, data.tz, with_time, lang),
        dt_iso=lambda text: fmt_dt(datetime.fromisoformat(text), data.tz, True, lang),
        num=fmt_int,
        money=fmt_amount,
        moneys=lambda amounts: fmt_money(amounts, lang),
        pct=fmt_pct,
        lead=narrative.lead_sentence(data, lang),
        stories={i.id: narrative.incident_story(i, data, lang) for i in data.incidents},
        next_update=narrative.next_update(data, lang),
        history_note=SENTENCES[lang]["not_enough_history"].format(n=data.history_weeks, min=MIN_HISTORY_WEEKS),
        event_text=lambda e: narrative.event_text(e, lang),
        detection=lambda i: narrative.detection_sentence(i, lang),
        sev_reason=lambda text: severity_reason(text, lang),
        baseline=lambda code: label(BASELINES, code, lang),
        week_label=lambda w: charts.week_label(w, lang),
        category_label=lambda key: data.category_label(key, lang),
        channel=lambda code: label(CHANNELS, code, lang),
        severity=lambda code: label(SEVERITIES, code, lang),
        status=lambda code: label(STATUSES, code, lang),
        reason_key=lambda code: label(REASON_KEYS, code, lang),
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def content_hash(data: WeeklyData, settings: Settings, lang: str) -> str:
    """What a report shows: its figures (not when they were gathered) and the templates and wording that draw
    them. The same hash means the same PDF, so re-running an unchanged week renders nothing."""
    figures = dataclasses.asdict(data)
    figures.pop("generated_at")
    figures.pop("as_of")
    digest = hashlib.sha256(json.dumps(figures, sort_keys=True, default=_jsonable, ensure_ascii=False).encode())
    digest.update(lang.encode())
    for path in sorted((settings.templates_dir / "reports").glob("*")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for module in (charts, narrative):
        digest.update(Path(module.__file__ or "").read_bytes())
    digest.update(Path(__file__).with_name("i18n.py").read_bytes())
    return digest.hexdigest()


def _upsert_report(
    session: Session, kind: str, period: str, language: str, path: Path, summary: dict[str, Any]
) -> Report:
    """One row per kind+period+language, replaced on re-render (race-free: ON CONFLICT in the database)."""
    dialect = session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    if insert is None:
        raise NotImplementedError(f"report upsert is not implemented for {dialect}")
    stmt = insert(Report).values(
        kind=kind, period=period, language=language, path=str(path), summary=summary, rendered_at=utcnow()
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["kind", "period", "language"],
        set_={"path": stmt.excluded.path, "summary": stmt.excluded.summary, "rendered_at": stmt.excluded.rendered_at},
    ).returning(Report)
    return session.scalars(stmt, execution_options={"populate_existing": True}).one()


def render_weekly_reports(
    session: Session,
    cfg: AppConfig,
    settings: Settings,
    week: str,
    languages: Sequence[str] = ("zh", "en"),
    as_of: datetime | None = None,
) -> list[Report]:
    """Render the crisis and lessons reports of a week in each language; returns their Report rows.

    A report whose content hash (figures, templates, wording) equals its row's is not rendered again: its row
    is returned as it was. as_of: the run's clock (weekly_report_data).

    Rows are flushed, not committed: the caller's transaction (session_scope) commits them.
    """
    unknown = sorted(set(languages) - set(LANGUAGES))
    if unknown:
        raise ValueError(f"unsupported report language(s) {unknown}; expected some of {list(LANGUAGES)}")
    started = time.perf_counter()
    data = weekly_report_data(session, cfg, week, settings.timezone, as_of)
    out_dir = settings.reports_path / week
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = data.summary()
    existing = {(r.kind, r.language): r for r in session.execute(
        select(Report).where(Report.period == week)).scalars()}
    reports: list[Report] = []
    rendered = 0
    for lang in languages:
        digest = content_hash(data, settings, lang)
        chart_uris: dict[str, Any] | None = None
        for kind in KINDS:
            path = out_dir / f"{kind}-{lang}.pdf"
            old = existing.get((kind, lang))
            if old is not None and old.summary.get("content_hash") == digest and Path(old.path).is_file():
                reports.append(old)  # same figures, same templates: the PDF on disk is this one
                continue
            if chart_uris is None:
                chart_uris = {
                    "timeline": {i.id: charts.timeline_chart(i.hourly, data.tz, lang) for i in data.incidents},
                    "trend": charts.trend_chart(data.trend_weeks, _trend_series(data, lang), lang),
                }
            doc = _document(render_html(kind, lang, data, settings, chart_uris), settings.templates_dir)
            write_atomic(path, doc.write_pdf())
            rendered += 1
            reports.append(_upsert_report(session, kind, week, lang, path,
                                          {**summary, "pages": len(doc.pages), "content_hash": digest}))
    log.info("weekly reports for %s: %d rendered, %d unchanged, in %.1fs", week, rendered,
             len(reports) - rendered, time.perf_counter() - started)
    return reports
