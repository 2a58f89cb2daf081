"""Event-time arithmetic: every time a rule compares is an event time, never the clock.

Instants are normalised to UTC text for the register; business days are Europe/London
days, as trusts account for them.
"""
from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


def utc(value: str | None) -> str | None:
    """An RFC 3339 instant normalised to UTC (``2026-07-06T10:20:00+00:00``)."""
    if value is None:
        return None
    return instant(value).astimezone(UTC).isoformat()


def london_day(value: str) -> date:
    return instant(value).astimezone(LONDON).date()
