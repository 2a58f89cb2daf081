"""Rules of an approval's content: when its evidence lapses, and what a decision may say.

``expires_at`` is the earliest expiry of the evidence the approval rests on; a day-based
expiry (a certificate's "valid until" date) lasts to the end of that day in Europe/London,
where deadlines are interpreted (CONTRACT.md).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, time
from typing import Any

from marketplace.kernel.clock import LONDON, london_day
from marketplace.kernel.errors import InvalidInput
from schemas.events.approvals import EVIDENCE_KINDS, decision_problems
from schemas.statuses import DecisionOutcome

#: A DTAC assessment is reviewed yearly (or on a significant change: a new version).
DTAC_REVIEW_YEARS = 1
#: Penetration tests are expected yearly.
PENETRATION_TEST_VALID_YEARS = 1
#: A DSPT publication for ``YYYY-YY`` stands until the next year's 30 June deadline.
DSPT_DEADLINE = (6, 30)


def end_of_day(day: date) -> datetime:
    """The last second of ``day`` in Europe/London, as an aware datetime."""
    return datetime.combine(day, time(23, 59, 59), LONDON)


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def dspt_expires_on(year: str) -> date:
    """``2025-26`` is published by 30 June 2026 and stands until the 30 June 2027 deadline."""
    return date(int(year[:4]) + 2, *DSPT_DEADLINE)


def evidence_expiries(*, dspt_year: str, cyber_essentials_expires_on: date,
                      penetration_test_on: date | None,
                      device_certificate_expires_on: date | None,
                      decided_at: datetime | None = None,
                      conditions: Iterable[Mapping[str, Any]] = ()) -> dict[str, datetime]:
    """When each piece of evidence lapses, keyed by the contract's evidence kinds."""
    days: dict[str, date] = {
        "dspt": dspt_expires_on(dspt_year),
        "cyber_essentials": cyber_essentials_expires_on,
    }
    if penetration_test_on is not None:
        days["penetration_test"] = add_years(penetration_test_on,
                                             PENETRATION_TEST_VALID_YEARS)
    if device_certificate_expires_on is not None:
        days["device_certificate"] = device_certificate_expires_on
    if decided_at is not None:
        days["dtac_review"] = add_years(london_day(decided_at), DTAC_REVIEW_YEARS)
    due = [c["due_on"] for c in conditions if c.get("due_on") is not None]
    if due:
        days["condition_deadline"] = min(due)
    return {kind: end_of_day(days[kind]) for kind in EVIDENCE_KINDS if kind in days}


def earliest(expiries: Mapping[str, datetime]) -> datetime:
    return min(expiries.values())


def lapsed(expiries: Mapping[str, datetime], now: datetime) -> list[str]:
    """The evidence kinds whose expiry has been reached at ``now``."""
    return [kind for kind, at in expiries.items() if at <= now]


#: What the assessor is told, per outcome and failing field of the contract's rule.
DECISION_MESSAGES: dict[tuple[str, str], str] = {
    (DecisionOutcome.APPROVED, "dtac"):
        "An approval needs every DTAC section passed (or not applicable); use conditional "
        "or rejected.",
    (DecisionOutcome.APPROVED, "conditions"): "An unconditional approval has no conditions.",
    (DecisionOutcome.CONDITIONAL, "dtac"):
        "A failed DTAC section cannot be approved, even with conditions.",
    (DecisionOutcome.CONDITIONAL, "conditions"): "A conditional approval lists its conditions.",
    (DecisionOutcome.REJECTED, "notes"): "Say why the approval is rejected.",
}


def check_decision(outcome: str, dtac: Mapping[str, Any], conditions: list[Any],
                   notes: str | None) -> None:
    """A decision must agree with its DTAC section results: the contract's rule
    (:func:`schemas.events.approvals.decision_problems`), which the approval events
    enforce too; the first problem is a 422 naming its field."""
    problems = decision_problems(outcome, dtac, conditions, notes)
    if problems:
        field, problem = next(iter(problems.items()))
        raise InvalidInput(DECISION_MESSAGES[(outcome, field)], {field: [problem]})


def check_not_lapsed(expiries: Mapping[str, datetime], now: datetime) -> None:
    """Evidence that has already lapsed cannot support an approval (422 naming it)."""
    gone = lapsed(expiries, now)
    if gone:
        raise InvalidInput("Some evidence has already lapsed.",
                           {kind: [f"lapsed at {expiries[kind].isoformat()}"] for kind in gone})
