"""The standstill after an award decision (Procurement Act 2023): 8 working days.

A contract may not be entered into until the standstill ends, so the end is an exact
instant: midnight Europe/London at the end of the 8th working day after the award day,
as an aware UTC datetime. Working days skip weekends and England and Wales bank
holidays (Wales keeps England's). The award day never counts; an award on a weekend
or holiday starts counting at the next working day.

Pure: no clock, no database. :func:`accelerated` compresses any period for sandbox
rehearsals, as Prozorro's sandbox does.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache

import holidays

from marketplace.kernel.clock import LONDON, london_day

STANDSTILL_WORKING_DAYS = 8

_SATURDAY = 5


@cache
def _bank_holidays(year: int) -> frozenset[date]:
    """England and Wales bank holidays of one year, built once per year on first use.

    Without ``subdiv`` the package gives only UK-wide days (no Easter Monday, no
    summer bank holiday), so England is asked for explicitly. The package has data
    only for a range of years and returns nothing outside it; a silent "no holidays"
    would shorten a standstill, so such a year is refused.
    """
    calendar = holidays.country_holidays("GB", subdiv="ENG", years=year)
    if not calendar.start_year <= year <= calendar.end_year:
        raise ValueError(f"no England and Wales bank holiday data for {year} "
                         f"(the holidays package covers {calendar.start_year}-"
                         f"{calendar.end_year})")
    return frozenset(calendar)


def is_working_day(day: date) -> bool:
    """Whether ``day`` is a weekday that is not an England and Wales bank holiday."""
    holidays_of_year = _bank_holidays(day.year)  # first: an unsupported year always fails
    return day.weekday() < _SATURDAY and day not in holidays_of_year


def add_working_days(day: date, n: int) -> date:
    """The ``n``-th working day after ``day``; ``day`` itself never counts."""
    if n < 1:
        raise ValueError(f"n must be at least 1, not {n}")
    remaining = n
    while remaining:
        day += timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return day


def _require_aware(value: datetime, name: str) -> None:
    """A naive datetime has no instant, and a standstill end must be one."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, not naive ({value.isoformat()})")


def standstill_ends(awarded_at: datetime,
                    working_days: int = STANDSTILL_WORKING_DAYS) -> datetime:
    """The UTC instant of the London midnight ending the standstill after ``awarded_at``.

    The award day is the London calendar date (an award at 23:30 London belongs to that
    day whatever offset it was given in). The period ends at the start of the day after
    the last working day, so the offset is that date's own: GMT or BST. London midnight
    is never in a clock-change gap or fold (the clocks move at 01:00 UTC).
    """
    _require_aware(awarded_at, "awarded_at")
    if working_days < 1:
        raise ValueError(f"working_days must be at least 1, not {working_days}")
    award_day = london_day(awarded_at)
    last_day = add_working_days(award_day, working_days)
    midnight = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=LONDON)
    return midnight.astimezone(UTC)


def accelerated(start: datetime, nominal_end: datetime, accelerator: int) -> datetime:
    """``start + (nominal_end - start) / accelerator``, in UTC (sandbox time acceleration).

    A sandbox runs a real period faster so a whole procedure can be rehearsed in minutes;
    accelerator 1 is real time and returns ``nominal_end`` exactly. Both ends go to UTC
    first: Python subtracts and adds wall-clock time when two datetimes share a tzinfo,
    which would lose or gain the clock-change hour. Rounded to the microsecond.
    """
    _require_aware(start, "start")
    _require_aware(nominal_end, "nominal_end")
    if accelerator < 1:
        raise ValueError(f"accelerator must be at least 1, not {accelerator}")
    end = nominal_end.astimezone(UTC)
    if accelerator == 1:
        return end
    begin = start.astimezone(UTC)
    return begin + (end - begin) / accelerator
