"""The lifecycle of a central approval (one per product version), as a transition table.

    submitted --start_review--> under_review --approve--> approved
                                             --approve_with_conditions--> conditional
                                             --reject--> rejected
    approved | conditional --suspend--> suspended --reinstate--> (the status it had)
    approved | conditional | suspended --revoke--> revoked
    approved | conditional | suspended --expire--> expired   (marketplace tick)

Suspended approvals can still be revoked or expire: a suspension is a pause while the
assessor investigates, and evidence keeps lapsing meanwhile. ``rejected``, ``revoked`` and
``expired`` are final; the innovator submits again (a new approval record).

Expiry is the one transition driven by time: :func:`expiry_due` is the rule the
scheduler checks (``marketplace.approvals.deadlines``).
"""
from __future__ import annotations

import enum
from datetime import datetime

from marketplace.kernel.state_machine import StateMachine
from schemas.events.approvals import PRE_APPROVED_STATUSES
from schemas.statuses import ApprovalStatus, DecisionOutcome


class ApprovalAction(enum.StrEnum):
    START_REVIEW = "start_review"
    APPROVE = "approve"
    APPROVE_WITH_CONDITIONS = "approve_with_conditions"
    REJECT = "reject"
    SUSPEND = "suspend"
    REINSTATE = "reinstate"
    REVOKE = "revoke"
    EXPIRE = "expire"


S, A = ApprovalStatus, ApprovalAction

#: Pseudo-state: reinstating returns to the status held before the suspension
#: (approved or conditional); :func:`next_status` resolves it.
BEFORE_SUSPENSION = "status_before_suspension"

TRANSITIONS: dict[tuple[str, str], str] = {
    (S.SUBMITTED, A.START_REVIEW): S.UNDER_REVIEW,
    (S.UNDER_REVIEW, A.APPROVE): S.APPROVED,
    (S.UNDER_REVIEW, A.APPROVE_WITH_CONDITIONS): S.CONDITIONAL,
    (S.UNDER_REVIEW, A.REJECT): S.REJECTED,
    (S.APPROVED, A.SUSPEND): S.SUSPENDED,
    (S.CONDITIONAL, A.SUSPEND): S.SUSPENDED,
    (S.SUSPENDED, A.REINSTATE): BEFORE_SUSPENSION,
    (S.APPROVED, A.REVOKE): S.REVOKED,
    (S.CONDITIONAL, A.REVOKE): S.REVOKED,
    (S.SUSPENDED, A.REVOKE): S.REVOKED,
    (S.APPROVED, A.EXPIRE): S.EXPIRED,
    (S.CONDITIONAL, A.EXPIRE): S.EXPIRED,
    (S.SUSPENDED, A.EXPIRE): S.EXPIRED,
}

TERMINAL: frozenset[str] = frozenset({S.REJECTED, S.REVOKED, S.EXPIRED})
#: Not final: at most one such approval per innovation and product version (a DB index).
OPEN: frozenset[str] = frozenset(set(S) - TERMINAL)
#: Statuses in which the product version counts as pre-approved (until ``expires_at``).
PRE_APPROVED: frozenset[str] = frozenset(PRE_APPROVED_STATUSES)
#: Outcome of an assessor's decision -> the action it takes.
DECISIONS: dict[str, ApprovalAction] = {
    DecisionOutcome.APPROVED: A.APPROVE,
    DecisionOutcome.CONDITIONAL: A.APPROVE_WITH_CONDITIONS,
    DecisionOutcome.REJECTED: A.REJECT,
}

MACHINE = StateMachine(
    subject="approval",
    transitions=TRANSITIONS,
    terminal=TERMINAL,
    done={A.START_REVIEW: "taken into review", A.APPROVE: "approved",
          A.APPROVE_WITH_CONDITIONS: "approved with conditions", A.REJECT: "rejected",
          A.SUSPEND: "suspended", A.REINSTATE: "reinstated", A.REVOKE: "revoked",
          A.EXPIRE: "expired"},
)


#: Statuses an approval can expire from (its evidence keeps lapsing while suspended).
EXPIRABLE: tuple[str, ...] = tuple(MACHINE.allowed_from(A.EXPIRE))


def expiry_due(status: str, expires_at: datetime, now: datetime) -> bool:
    """Whether an approval in ``status`` whose evidence lapses at ``expires_at`` expires now."""
    return status in EXPIRABLE and expires_at <= now


def next_status(status: str, action: str, previous_status: str | None = None) -> ApprovalStatus:
    """The status after ``action``, or TransitionForbidden (a 409 that says why)."""
    target = MACHINE.target(status, action)
    if target == BEFORE_SUSPENSION:
        if previous_status not in PRE_APPROVED:
            raise AssertionError("a suspended approval remembers what it was suspended from")
        return ApprovalStatus(previous_status)
    return ApprovalStatus(target)
