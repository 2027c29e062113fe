"""Weekly crisis and lessons-learned reports (PDF, zh/en). Plain functions: no Prefect here."""

from complaints.reports.data import WeeklyData, iso_week_bounds, last_complete_week, weekly_report_data
from complaints.reports.render import KINDS, TemplatesOnlyFetcher, render_pdf, render_weekly_reports

__all__ = [
    "KINDS",
    "TemplatesOnlyFetcher",
    "WeeklyData",
    "iso_week_bounds",
    "last_complete_week",
    "render_pdf",
    "render_weekly_reports",
    "weekly_report_data",
]
