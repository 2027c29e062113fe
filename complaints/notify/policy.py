"""Rules protecting complainants: their timezone, quiet hours, and opt-outs.

Opt-outs are stored by the keyed contact hash (complaints.core.pii.contact_key), like dedupe, so the
table never holds a raw address and matches every channel the same person used.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from complaints.core.config import QuietHours, UserPolicy
from complaints.core.db import insert_ignore
from complaints.core.models import OptOut
from complaints.core.pii import contact_key, no_one


def user_timezone(policy: UserPolicy, region: str | None) -> str:
    """The timezone of the user's region, else the policy's default."""
    return policy.region_timezones.get(region or "", policy.timezone)


def _is_quiet(local: time, quiet: QuietHours) -> bool:
    if quiet.start <= quiet.end:
        return quiet.start <= local < quiet.end
    return local >= quiet.start or local < quiet.end  # crosses midnight


def quiet_until(at: datetime, tz: str, quiet: QuietHours) -> datetime | None:
    """The end of the quiet period `at` falls in (UTC), or None when `at` is outside quiet hours."""
    local = at.astimezone(ZoneInfo(tz))
    if not _is_quiet(local.time(), quiet):
        return None
    end = local.replace(hour=quiet.end.hour, minute=quiet.end.minute, second=0, microsecond=0)
    if end <= local:
        end += timedelta(days=1)
    return end.astimezone(UTC)


def earliest_send(at: datetime, tz: str, quiet: QuietHours) -> datetime:
    """`at`, or the end of the quiet hours it falls in."""
    return quiet_until(at, tz, quiet) or at


def _key(contact: str, pii_key: str) -> str:
    key = contact_key(contact, pii_key)
    if key is None:
        raise ValueError("what people type for none (a placeholder), no one's address or number" if no_one(contact)
                         else "not an email address or phone number")
    return key


def opt_out(session: Session, contact: str, pii_key: str) -> bool:
    """Record the opt-out; True if it is new."""
    return bool(insert_ignore(session, OptOut, [{"contact_key": _key(contact, pii_key)}], returning=[OptOut.id]))


def opt_in(session: Session, contact: str, pii_key: str) -> bool:
    """Remove the opt-out; True if there was one."""
    result = session.execute(delete(OptOut).where(OptOut.contact_key == _key(contact, pii_key)))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def opted_out(session: Session, keys: set[str]) -> set[str]:
    """Those of the contact keys that have opted out."""
    if not keys:
        return set()
    return set(session.scalars(select(OptOut.contact_key).where(OptOut.contact_key.in_(keys))))
