"""Business-time arithmetic for SLA deadlines: working days of a country's holiday calendar
(public holidays skipped, make-up working days 调休 counted) and daily business hours."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays

from complaints.core.config import SlaConfig

# No calendar has this many closed days in a row; reaching it means the configuration is broken.
_MAX_SCAN_DAYS = 3660


class BusinessCalendar:
    def __init__(self, sla: SlaConfig) -> None:
        self.tz = ZoneInfo(sla.timezone)
        self.opens, self.closes = sla.business_hours
        self._holidays = holidays.country_holidays(sla.holidays_country)
        self._extra_holidays = set(sla.extra_holidays)
        self._extra_workdays = set(sla.extra_workdays)
        self._workdays: dict[date, bool] = {}  # planning asks about the same few hundred days a million times

    def is_workday(self, day: date) -> bool:
        known = self._workdays.get(day)
        if known is None:
            known = self._workdays[day] = self._is_workday(day)
        return known

    def _is_workday(self, day: date) -> bool:
        if day in self._extra_workdays:
            return True
        if day in self._extra_holidays:
            return False
        # The package knows weekends, public holidays and the weekend days that are worked instead.
        return bool(self._holidays.is_working_day(day))

    def _window(self, day: date) -> tuple[datetime, datetime]:
        return (datetime.combine(day, self.opens, tzinfo=self.tz), datetime.combine(day, self.closes, tzinfo=self.tz))

    def add_business_hours(self, start: datetime, hours: float) -> datetime:
        """The instant `hours` of business time after `start` (a start outside business hours
        counts from the next opening). Returned in UTC."""
        remaining = timedelta(hours=hours)
        cursor = start.astimezone(self.tz)
        day = cursor.date()
        for _ in range(_MAX_SCAN_DAYS):
            if self.is_workday(day):
                opens, closes = self._window(day)
                cursor = max(cursor, opens)
                if cursor < closes:
                    if remaining <= closes - cursor:
                        return (cursor + remaining).astimezone(start.tzinfo)
                    remaining -= closes - cursor
            day += timedelta(days=1)
            cursor = datetime.combine(day, datetime.min.time(), tzinfo=self.tz)
        raise ValueError(f"no business hours within {_MAX_SCAN_DAYS} days of {start.isoformat()}")

    def add_business_days(self, start: datetime, days: int) -> datetime:
        """`days` full business days of working time after `start` (Friday 15:00 + 1 -> Monday 15:00)."""
        day = datetime.combine(date.min, self.closes) - datetime.combine(date.min, self.opens)
        return self.add_business_hours(start, days * day / timedelta(hours=1))

    def business_hours_between(self, start: datetime, end: datetime) -> float:
        total = timedelta()
        day = start.astimezone(self.tz).date()
        last = end.astimezone(self.tz).date()
        while day <= last:
            if self.is_workday(day):
                opens, closes = self._window(day)
                lo, hi = max(opens, start), min(closes, end)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total / timedelta(hours=1)

    def due(self, start: datetime, amount: float, unit: str) -> datetime:
        """`amount` hours after `start` in `unit` (business_hours | calendar_hours)."""
        if unit == "business_hours":
            return self.add_business_hours(start, amount)
        return start + timedelta(hours=amount)

    def share_point(self, start: datetime, end: datetime, share: float, unit: str) -> datetime:
        """The instant at which `share` of the window start..end is used, measured in `unit`."""
        if unit == "business_hours":
            return self.add_business_hours(start, share * self.business_hours_between(start, end))
        return start + (end - start) * share
