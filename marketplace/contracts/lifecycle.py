"""The lifecycle of a contract and the rules of its period.

    pending --sign--> active             (the buyer, once the standstill has ended)
    pending --cancel--> cancelled        (its tender was cancelled before signature)
    active --vary--> active              (the buyer: value, end date or lines)
    active --terminate--> terminated     (the buyer, effective on a day not in the past)

``terminated`` and ``cancelled`` are final. The period is proposed at the award (from
the first London day after the standstill, for the tender's term) and fixed at
signature: a contract signed later starts on the day it is signed and keeps its term.
A contract runs to the day before the same date ``term_months`` later: 1 July + 24
months ends on 30 June, and a start on 31 January + 1 month clamps to the end of
February first (so ends on 27 or 28 February), as calendar months do.
"""
from __future__ import annotations

import calendar
import enum
from datetime import date, datetime, timedelta

from marketplace.kernel.clock import london_day
from marketplace.kernel.state_machine import StateMachine
from schemas.statuses import ContractStatus


class ContractAction(enum.StrEnum):
    SIGN = "sign"
    CANCEL = "cancel"
    VARY = "vary"
    TERMINATE = "terminate"


C, CA = ContractStatus, ContractAction

TRANSITIONS: dict[tuple[str, str], str] = {
    (C.PENDING, CA.SIGN): C.ACTIVE,
    (C.PENDING, CA.CANCEL): C.CANCELLED,
    (C.ACTIVE, CA.VARY): C.ACTIVE,
    (C.ACTIVE, CA.TERMINATE): C.TERMINATED,
}

MACHINE = StateMachine(
    subject="contract",
    transitions=TRANSITIONS,
    terminal=frozenset({C.TERMINATED, C.CANCELLED}),
    done={CA.SIGN: "signed", CA.CANCEL: "cancelled", CA.VARY: "varied",
          CA.TERMINATE: "terminated"},
)

#: Statuses in which a trust may call off, so the statuses trusts were told of (signed).
SIGNED: tuple[str, ...] = (C.ACTIVE, C.TERMINATED)



def add_months(day: date, months: int) -> date:
    """``day`` moved by whole calendar months, clamped to the end of a shorter month."""
    years, month_index = divmod(day.month - 1 + months, 12)
    year, month = day.year + years, month_index + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def term_end(starts_on: date, term_months: int) -> date:
    """The last day of a term of ``term_months`` starting on ``starts_on``."""
    return add_months(starts_on, term_months) - timedelta(days=1)


def proposed_start(standstill_ends_at: datetime) -> date:
    """The first day after the standstill: it ends at London midnight, so that day."""
    return london_day(standstill_ends_at)


def standstill_running(standstill_ends_at: datetime | None, now: datetime) -> bool:
    """Whether the contract may not be entered into yet (Procurement Act 2023)."""
    return standstill_ends_at is not None and now < standstill_ends_at
