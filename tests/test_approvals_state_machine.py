"""The approval lifecycle, driven from the transition table: every allowed step moves the
status and emits its event; every other step is a 409 that says why and changes nothing
(no row, no audit entry, no outbox event)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from marketplace.approvals import deadlines as approval_expiry
from marketplace.approvals import lifecycle as approval_state
from marketplace.approvals import service as approvals
from marketplace.approvals.lifecycle import (
    BEFORE_SUSPENSION,
    MACHINE,
    TRANSITIONS,
    ApprovalAction,
    ApprovalStatus,
    next_status,
)
from marketplace.approvals.models import Approval
from marketplace.kernel.actor import Actor
from marketplace.kernel.audit_log import AuditEvent
from marketplace.kernel.outbox import outbox
from marketplace.kernel.state_machine import TransitionForbidden
from tests.catalogue_support import (
    APPROVE,
    CONDITIONAL,
    REASON,
    REINSTATE,
    REJECT,
    World,
    ce,
    outbox_events,
    world_fixture,  # noqa: F401  (the `world` fixture)
)

STATUSES = [s.value for s in ApprovalStatus]
ACTIONS = [a.value for a in ApprovalAction]
#: How each action is requested over HTTP (``expire`` only happens through the tick).
HTTP: dict[str, tuple[str, dict[str, Any] | None]] = {
    "start_review": ("start-review", None),
    "approve": ("decision", APPROVE),
    "approve_with_conditions": ("decision", CONDITIONAL),
    "reject": ("decision", REJECT),
    "suspend": ("suspend", REASON),
    "reinstate": ("reinstate", REINSTATE),
    "revoke": ("revoke", REASON),
}
#: The event each allowed action emits (None: the contract has none for it).
EVENTS = {"start_review": None, "approve": "approval.granted",
          "approve_with_conditions": "approval.conditional", "reject": None,
          "suspend": "approval.suspended", "reinstate": "approval.granted",
          "revoke": "approval.revoked", "expire": "approval.expired"}

FORBIDDEN = [(s, a) for s in STATUSES for a in ACTIONS if (s, a) not in TRANSITIONS]
ALLOWED = sorted(TRANSITIONS)


# --- the table itself (pure) -------------------------------------------------------------
def test_table_covers_the_documented_lifecycle() -> None:
    documented = sorted([
        ("submitted", "start_review"), ("under_review", "approve"),
        ("under_review", "approve_with_conditions"), ("under_review", "reject"),
        ("approved", "suspend"), ("conditional", "suspend"), ("suspended", "reinstate"),
        ("approved", "revoke"), ("conditional", "revoke"), ("suspended", "revoke"),
        ("approved", "expire"), ("conditional", "expire"), ("suspended", "expire"),
    ])
    assert documented == ALLOWED
    for status in approval_state.TERMINAL:
        assert MACHINE.actions_from(status) == []
    open_statuses = {"submitted", "under_review", "approved", "conditional", "suspended"}
    assert open_statuses == approval_state.OPEN


@pytest.mark.parametrize("previous", ["approved", "conditional"])
def test_reinstate_returns_to_the_status_before_the_suspension(previous: str) -> None:
    assert TRANSITIONS[("suspended", "reinstate")] == BEFORE_SUSPENSION
    assert next_status("suspended", "reinstate", previous) == previous


@pytest.mark.parametrize(("status", "action"), FORBIDDEN)
def test_forbidden_transition_says_why(status: str, action: str) -> None:
    with pytest.raises(TransitionForbidden) as caught:
        next_status(status, action)
    assert f"is {status}" in caught.value.detail
    assert caught.value.extra["allowed_actions"] == MACHINE.actions_from(status)


# --- over HTTP and the database ----------------------------------------------------------
def _counts(world: World, approval_id: str) -> tuple[int, int, int]:
    with world.uow_factory() as uow:
        audit = uow.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.object_id == approval_id))
        version = uow.session.get(Approval, approval_id).version
    return len(outbox_events(world.uow_factory)), audit, version


@pytest.mark.parametrize("status", STATUSES)
def test_forbidden_transitions_are_409_and_change_nothing(world: World, status: str) -> None:
    """From one approval in ``status``, try every action the table forbids from there."""
    approval = world.approval_in(status)
    before = _counts(world, approval["id"])
    forbidden = [a for s, a in FORBIDDEN if s == status]
    assert forbidden
    for action in forbidden:
        if action == "expire":  # only the tick expires; the service refuses it all the same
            with world.uow_factory() as uow:
                row = uow.session.get(Approval, approval["id"])
                with pytest.raises(TransitionForbidden):
                    approvals.expire(uow, row)
                uow.commit()
            continue
        endpoint, body = HTTP[action]
        response = world.act(approval["id"], endpoint, body, expect=409)
        problem = response.get_json()
        assert response.mimetype == "application/problem+json", action
        assert f"is {status}" in problem["detail"], (action, problem)
        assert (problem["current_status"], problem["action"]) == (status, action)
        after = world.call("GET", f"/approvals/{approval['id']}", "assessor", 200).get_json()
        assert after == approval, action
        assert _counts(world, approval["id"]) == before, action
    assert _counts(world, approval["id"]) == before


def _do(world: World, approval: dict[str, Any], action: str) -> None:
    if action == "expire":
        world.clock.now = datetime.fromisoformat(approval["expires_at"]) + timedelta(seconds=1)
        with world.uow_factory() as uow:
            assert [a.id for a in approval_expiry.expire_due(uow)] == [approval["id"]]
            uow.commit()
    else:
        endpoint, body = HTTP[action]
        world.act(approval["id"], endpoint, body)


@pytest.mark.parametrize(("status", "action"), ALLOWED)
def test_allowed_transition_moves_and_emits_its_event(world: World, status: str,
                                                      action: str) -> None:
    approval = world.approval_in(status)
    before = outbox_events(world.uow_factory, "approval.")
    last_seq = max((e["sequence"] for e in before if e["record_key"] == approval["id"]),
                   default=0)
    _do(world, approval, action)
    after = world.call("GET", f"/approvals/{approval['id']}", "assessor", 200).get_json()
    target = next_status(status, action, approval["previous_status"])
    assert after["status"] == target and after["version"] == approval["version"] + 1

    new = outbox_events(world.uow_factory, "approval.")[len(before):]
    expected = EVENTS[action]
    if expected is None:
        assert new == []
        return
    (event,) = new
    assert event["ce_type"] == ce(expected) and event["topic"] == "marketplace.approvals"
    assert event["record_key"] == approval["id"] and event["sequence"] == last_seq + 1
    assert event["aggregate_key"] == f"approval/{approval['id']}"
    data = event["data"]
    assert data["approval_id"] == approval["id"]
    assert data["innovation_id"] == approval["innovation_id"]
    assert data["product_version"] == approval["product_version"] == "3.2"
    assert data["status"] == target
    if action == "suspend":
        assert data["previous_status"] == status and data["reason_code"] == "safety_concern"
    if action == "reinstate":
        assert data["reinstated"] is True and data["decided_at"] == after["status_changed_at"]
    if action == "expire":
        assert data["expires_at"] == approval["expires_at"]
        assert data["lapsed_evidence"] == ["penetration_test"]


def test_reinstating_a_conditional_approval_emits_conditional(world: World) -> None:
    approval = world.approval_in("conditional")
    world.act(approval["id"], "suspend", REASON)
    suspended = world.call("GET", f"/approvals/{approval['id']}", "assessor", 200).get_json()
    assert suspended["previous_status"] == "conditional"
    world.act(approval["id"], "reinstate", REINSTATE)
    event = outbox_events(world.uow_factory, "approval.")[-1]
    assert event["ce_type"] == ce("approval.conditional") and event["sequence"] == 3
    assert event["data"]["reinstated"] is True
    assert event["data"]["conditions"] == [{
        "condition_id": "1", "text": "Publish a FHIR UK Core ServiceRequest interface.",
        "due_on": "2027-09-30"}]


def test_a_transition_rolled_back_emits_nothing(world: World) -> None:
    approval = world.approval_in("under_review")
    before = len(outbox_events(world.uow_factory))
    with world.uow_factory() as uow:
        org = uow.session.get(Approval, approval["id"]).assessor_organisation_id
        uow.actor = Actor(id="t", role="assessor", organisation_id=org)
        approvals.decide(uow, approval["id"], outcome="approved", dtac=APPROVE["dtac"],
                         conditions=[])
        pending = uow.session.scalar(select(func.count()).select_from(outbox))
        assert pending == before + 1  # written in the transaction...
        # ...and leaving the block without a commit rolls the change and its event back
    assert len(outbox_events(world.uow_factory)) == before
    again = world.call("GET", f"/approvals/{approval['id']}", "assessor", 200).get_json()
    assert again["status"] == "under_review"
