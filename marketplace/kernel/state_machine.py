"""A small, table-driven state machine: the table is the single source of what may happen.

Each lifecycle (a listing, an approval) declares its transitions as data; services ask
:meth:`StateMachine.target` before changing anything, so a forbidden step fails before a
row, an audit entry or an event is written.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from marketplace.kernel.errors import Conflict
from marketplace.kernel.wording import a_or_an


class TransitionForbidden(Conflict):
    """A lifecycle step that the transition table does not allow (HTTP 409)."""

    title = "Transition not allowed"


@dataclass(frozen=True)
class StateMachine:
    """``transitions`` maps ``(from_state, action)`` to the state the action leads to."""

    subject: str
    transitions: Mapping[tuple[str, str], str]
    terminal: frozenset[str]
    #: Past-tense wording of each action, for messages ("approved", "suspended").
    done: Mapping[str, str]

    def allowed_from(self, action: str) -> list[str]:
        return sorted(state for state, act in self.transitions if act == action)

    def actions_from(self, state: str) -> list[str]:
        return sorted(act for st, act in self.transitions if st == state)

    def target(self, state: str, action: str) -> str:
        """The state ``action`` leads to from ``state``; TransitionForbidden saying why not."""
        try:
            return self.transitions[(state, action)]
        except KeyError:
            raise TransitionForbidden(self.why_forbidden(state, action),
                                      current_status=state, action=action,
                                      allowed_actions=self.actions_from(state)) from None

    def why_forbidden(self, state: str, action: str) -> str:
        verb = self.done.get(action, action)
        allowed = self.allowed_from(action)
        if state in self.terminal:
            reason = f"The {self.subject} is {state}, which is final"
        else:
            reason = f"The {self.subject} is {state}"
        if allowed:
            return (f"{reason}; only {a_or_an(self.subject)} that is {_either(allowed)} can "
                    f"be {verb}.")
        return f"{reason}; {a_or_an(self.subject)} cannot be {verb}."


def _either(states: list[str]) -> str:
    return states[0] if len(states) == 1 else ", ".join(states[:-1]) + " or " + states[-1]
