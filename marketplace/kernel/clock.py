"""The one clock: every "now" of the marketplace comes from here (tests pass their own).

Instants are UTC; days are Europe/London days (the contract's deadlines and dates are
read in London), so every area turns an instant into a day the same way.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")

#: What the bootstrap hands to units of work: a function returning an aware UTC instant.
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def london_day(at: datetime) -> date:
    """The Europe/London calendar date of the instant ``at``."""
    return at.astimezone(LONDON).date()
