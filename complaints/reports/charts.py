"""Report charts as SVG data URIs (matplotlib, no pyplot: no global figure state, safe in workers).

Text is drawn as glyph paths with a CJK font found through matplotlib's font manager, so Chinese
labels never depend on which fonts the PDF renderer has, and never become boxes.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from matplotlib import dates as mdates
from matplotlib import font_manager, rc_context
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

log = logging.getLogger(__name__)

CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC", "WenQuanYi Zen Hei")
PALETTE = ("#1f5fa8", "#d9822b", "#2e8b57", "#c23b3b", "#7a4fa3", "#8c6d31", "#3a9fb5", "#6b6b6b")
INK = "#1d232a"
GRID = "#d9dde3"


@lru_cache(maxsize=1)
def font_family() -> list[str]:
    """Installed CJK families first, then DejaVu for anything they lack (matplotlib falls back per glyph)."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    found = [name for name in CJK_FAMILIES if name in installed]
    if not found:
        log.warning("no CJK font for charts (install fonts-noto-cjk): Chinese labels will show as boxes")
    return [*found, "DejaVu Sans"]


def _rc() -> dict[str, Any]:
    return {
        "svg.fonttype": "path",
        "svg.hashsalt": "weekly-report",  # stable element ids: same data, same SVG
        "font.family": font_family(),
        "font.size": 8,
        "axes.unicode_minus": False,
        "axes.edgecolor": GRID,
        "axes.labelcolor": INK,
        "xtick.color": INK,
        "ytick.color": INK,
    }


def _svg_uri(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _style(ax: Any) -> None:
    ax.grid(axis="y", color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _day(value: datetime, lang: str) -> str:
    return f"{value.month}月{value.day}日" if lang == "zh" else f"{value.day} {value:%b}"


def _tick_formatter(zone: ZoneInfo, lang: str, with_hours: bool) -> Any:
    """Dates as the report's language writes them (11月19日 / 19 Nov), the hour under a tick's first of the day."""
    seen: set[str] = set()

    def fmt(x: float, _pos: Any = None) -> str:
        at = mdates.num2date(x, tz=zone)
        day = _day(at, lang)
        if not with_hours:
            return day
        first = day not in seen
        seen.add(day)
        return f"{at:%H:%M}\n{day}" if first else f"{at:%H:%M}"

    return FuncFormatter(fmt)


def timeline_chart(hourly: Sequence[tuple[datetime, int]], tz: str, lang: str = "en") -> str | None:
    """Complaints per hour of one incident, gaps filled with zeros; None when there is nothing to draw.

    Dates on the axis are in the ops timezone, written in the report's language."""
    if not hourly:
        return None
    zone = ZoneInfo(tz)
    counts = dict(hourly)
    first, last = min(counts), max(counts)
    hours = [first + timedelta(hours=i) for i in range(int((last - first).total_seconds() // 3600) + 1)]
    with rc_context(_rc()):
        fig = Figure(figsize=(4.2, 1.9))
        ax = fig.add_subplot()
        edges = mdates.date2num([h.astimezone(zone) for h in [*hours, last + timedelta(hours=1)]])
        # One filled step path instead of a bar per hour: a fraction of the SVG to draw in the PDF.
        ax.stairs([counts.get(h, 0) for h in hours], edges, fill=True, color=PALETTE[3], linewidth=0)
        ax.xaxis_date(zone)
        # At most ~8 ticks on whole hours or days: matplotlib's AutoDateLocator finds no interval for some spans.
        step = next((h for h in (1, 2, 3, 4, 6, 12, 24, 48, 72, 168) if len(hours) / h <= 8), 336)
        locator = mdates.HourLocator(interval=step, tz=zone) if step < 24 else mdates.DayLocator(
            interval=step // 24, tz=zone)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(_tick_formatter(zone, lang, with_hours=step < 24))
        ax.yaxis.get_major_locator().set_params(integer=True)
        _style(ax)
        return _svg_uri(fig)


def week_label(week: str, lang: str) -> str:
    """2026-W47 as a column or tick label: 第47周 / W47."""
    num = week.split("-W")[1]
    return f"第{int(num)}周" if lang == "zh" else f"W{num}"


def trend_chart(weeks: Sequence[str], series: Sequence[tuple[str, Sequence[int]]], lang: str = "en") -> str | None:
    """One line per category over the trend weeks (labels already in the report's language)."""
    if not series:
        return None
    ticks = [week_label(w, lang) for w in weeks]
    with rc_context(_rc()):
        fig = Figure(figsize=(7.0, 3.0))
        ax = fig.add_subplot()
        for i, (name, values) in enumerate(series):
            ax.plot(ticks, list(values), marker="o", markersize=3, linewidth=1.6,
                    color=PALETTE[i % len(PALETTE)], label=name)
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.set_ylim(bottom=0)
        _style(ax)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        return _svg_uri(fig)
