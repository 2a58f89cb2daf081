"""The lifecycle of a demand signal: open (edited any number of times) -> closed.

Closing is final and says how the need ended (``schemas.events.demand.CLOSE_OUTCOMES``):
a tender was published for it, an existing contract meets it, the ICB withdrew it, or it
lapsed. A need that comes back is a new signal, so national demand never counts a
reopened one twice.
"""
from __future__ import annotations

import enum

from marketplace.kernel.state_machine import StateMachine
from schemas.statuses import SignalStatus


class SignalAction(enum.StrEnum):
    EDIT = "edit"
    CLOSE = "close"


S, A = SignalStatus, SignalAction

TRANSITIONS: dict[tuple[str, str], str] = {
    (S.OPEN, A.EDIT): S.OPEN,
    (S.OPEN, A.CLOSE): S.CLOSED,
}

MACHINE = StateMachine(
    subject="demand signal",
    transitions=TRANSITIONS,
    terminal=frozenset({S.CLOSED}),
    done={A.EDIT: "updated", A.CLOSE: "closed"},
)
