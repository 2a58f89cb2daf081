"""The lifecycle of a tender, one table for every procedure, with each procedure's guards.

    draft --publish--> published --close--> closed --score (all scored)--> evaluated
    published --close (no responses)--> unsuccessful                     (marketplace tick)
    evaluated --award--> awarded
    draft | published | closed | evaluated | awarded --cancel--> cancelled
                                                    (awarded: only while unsigned)

Within ``published``, what a caller may do follows from the server's clock against the
enforced deadlines, never from a stored status: questions until the clarification
deadline, responses (submit, replace, withdraw) until the submission deadline. The
scheduler closes the tender at that deadline (:mod:`marketplace.tenders.deadlines`).

Procedures differ in who may respond (:class:`Procedure`): an open procedure admits any
published listing meeting the evidence bar; a framework competition admits only a
listing whose supplier holds an award in force on the competition's lot.
"""
from __future__ import annotations

import enum
from datetime import datetime

from marketplace.kernel.errors import Conflict
from marketplace.kernel.state_machine import StateMachine
from schemas.statuses import TenderProcedure, TenderStatus


class TenderAction(enum.StrEnum):
    PUBLISH = "publish"
    CLOSE = "close"
    CLOSE_EMPTY = "close_empty"
    SCORE = "score"
    COMPLETE_EVALUATION = "complete_evaluation"
    AWARD = "award"
    CANCEL = "cancel"


T, A = TenderStatus, TenderAction

TRANSITIONS: dict[tuple[str, str], str] = {
    (T.DRAFT, A.PUBLISH): T.PUBLISHED,
    (T.PUBLISHED, A.CLOSE): T.CLOSED,
    (T.PUBLISHED, A.CLOSE_EMPTY): T.UNSUCCESSFUL,
    (T.CLOSED, A.SCORE): T.CLOSED,
    (T.CLOSED, A.COMPLETE_EVALUATION): T.EVALUATED,
    (T.EVALUATED, A.SCORE): T.EVALUATED,
    (T.EVALUATED, A.AWARD): T.AWARDED,
    **{(state, A.CANCEL): T.CANCELLED
       for state in (T.DRAFT, T.PUBLISHED, T.CLOSED, T.EVALUATED, T.AWARDED)},
}

MACHINE = StateMachine(
    subject="tender",
    transitions=TRANSITIONS,
    terminal=frozenset({T.UNSUCCESSFUL, T.CANCELLED}),
    done={A.PUBLISH: "published", A.CLOSE: "closed", A.CLOSE_EMPTY: "closed",
          A.SCORE: "scored", A.COMPLETE_EVALUATION: "evaluated", A.AWARD: "awarded",
          A.CANCEL: "cancelled"},
)

#: Statuses in which the responses are open to the buyer (the deadline has passed).
OPENED: frozenset[str] = frozenset({T.CLOSED, T.EVALUATED, T.AWARDED})


def close_due(status: str, submission_closes_at: datetime | None, now: datetime) -> bool:
    """Whether a tender in ``status`` closes ``now`` (its enforced deadline has passed)."""
    return (status == T.PUBLISHED and submission_closes_at is not None
            and submission_closes_at <= now)


def require_open_for(what: str, status: str, closes_at: datetime | None,
                     now: datetime) -> None:
    """409 unless the tender is published and ``now`` is before ``closes_at``: the
    server's clock decides, whatever time a client sends."""
    if status != T.PUBLISHED or closes_at is None:
        raise Conflict(f"The tender is {status}; {what} only while it is published.",
                       current_status=status)
    if now >= closes_at:
        raise Conflict(f"The deadline for {what} passed at {closes_at.isoformat()} "
                       f"(server time {now.isoformat()}).", deadline=closes_at.isoformat())


class Procedure:
    """What every procedure shares; subclasses add their own admission rule."""

    name: str
    #: Whether the tender names a framework and a lot.
    under_framework = False


class OpenProcedure(Procedure):
    """Any published listing that meets the evidence bar may respond."""

    name = TenderProcedure.OPEN


class FrameworkCompetition(Procedure):
    """A further competition: only suppliers with an award in force on the lot respond."""

    name = TenderProcedure.FRAMEWORK_COMPETITION
    under_framework = True


PROCEDURES: dict[str, Procedure] = {p.name: p for p in (OpenProcedure(), FrameworkCompetition())}
