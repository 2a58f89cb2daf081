"""Submitting for approval and deciding: evidence rules, who may act, one open approval
per product version, the full decision event, and concurrent decisions."""
from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from marketplace.approvals import service as approvals
from marketplace.approvals.models import Approval
from marketplace.kernel.actor import Actor
from marketplace.kernel.errors import Conflict, Forbidden
from marketplace.organisations.models import Organisation
from tests.catalogue_support import (
    APPROVE,
    ASSESSOR,
    CONDITIONAL,
    INNOVATOR,
    PASS,
    REASON,
    REJECT,
    World,
    ce,
    outbox_events,
    world_fixture,  # noqa: F401  (the `world` fixture)
)


def _org_id(world: World, code: str) -> int:
    with world.uow_factory() as uow:
        return uow.session.scalar(select(Organisation.id).where(Organisation.code == code))


def _public_id(world: World, code: str) -> str:
    """What events name an organisation by: its stable UUID, never its row number."""
    with world.uow_factory() as uow:
        return uow.session.scalar(select(Organisation.public_id)
                                  .where(Organisation.code == code))


def test_granted_event_carries_the_whole_assessment(world: World) -> None:
    listing = world.published()
    approval = world.submit(listing["id"])
    assert approval["status"] == "submitted" and approval["product_version"] == "3.2"
    # expires_at is the earliest evidence expiry: the pen test (2026-06-01 + 1 year),
    # end of day in London (BST, so 22:59:59 UTC).
    assert approval["expires_at"] == "2027-06-01T22:59:59+00:00"
    assert set(approval["evidence_expiries"]) == {"dspt", "cyber_essentials",
                                                  "penetration_test", "device_certificate"}
    world.act(approval["id"], "start-review")
    decided = world.act(approval["id"], "decision", APPROVE).get_json()
    assert decided["status"] == "approved" and decided["assessor"]["code"] == ASSESSOR
    assert decided["dtac"] == PASS
    assert "dtac_review" in decided["evidence_expiries"]

    (event,) = outbox_events(world.uow_factory, "approval.")
    assert event["ce_type"] == ce("approval.granted") and event["sequence"] == 1
    assert event["data"] == {
        "approval_id": approval["id"], "innovation_id": listing["id"],
        "innovator_org_id": _public_id(world, INNOVATOR), "product_version": "3.2",
        "status": "approved", "innovator_companies_house_number": INNOVATOR,
        "assessor_org_id": _public_id(world, ASSESSOR), "dtac": PASS,
        "dspt_status": "standards_met", "dspt_year": "2025-26",
        "cyber_essentials_level": "cyber_essentials_plus",
        "cyber_essentials_expires_on": "2027-10-31", "penetration_test_on": "2026-06-01",
        "device_class": "IIa", "device_mark": "UKCA",
        "device_certificate_expires_on": "2029-06-30", "nice_esf_tier": "C",
        "nice_route": "early_value_assessment", "conditions": [],
        "decided_at": "2026-11-21T09:00:00+00:00",
        "expires_at": "2027-06-01T22:59:59+00:00", "reinstated": False}
    # Evidence files and the clinical safety officer (a person) never travel in events.
    assert "Priya" not in str(event["data"]) and "safety_case" not in str(event["data"])


def test_conditional_approval_expires_at_its_condition_deadline(world: World) -> None:
    approval = world.approval_in("conditional")
    assert approval["conditions"][0]["condition_id"] == "1"
    assert approval["evidence_expiries"]["condition_deadline"] == "2027-09-30T22:59:59+00:00"
    assert approval["expires_at"] == "2027-06-01T22:59:59+00:00"  # the pen test is earlier
    (event,) = outbox_events(world.uow_factory, "approval.")
    assert event["ce_type"] == ce("approval.conditional")
    assert event["data"]["dtac"]["c4"] == "conditional"


def test_rejection_emits_nothing_and_a_new_submission_is_allowed(world: World) -> None:
    rejected = world.approval_in("rejected")
    assert rejected["decision_notes"] == REJECT["notes"]
    assert outbox_events(world.uow_factory, "approval.") == []
    again = world.submit(rejected["innovation_id"])
    assert again["status"] == "submitted" and again["id"] != rejected["id"]


@pytest.mark.parametrize(("body", "field"), [
    ({**APPROVE, "dtac": {**PASS, "c3": "fail"}}, "dtac"),
    ({**APPROVE, "dtac": {**PASS, "c2": "conditional"}}, "dtac"),
    ({**APPROVE, "conditions": CONDITIONAL["conditions"]}, "conditions"),
    ({**CONDITIONAL, "conditions": []}, "conditions"),
    ({**CONDITIONAL, "dtac": {**PASS, "c1": "fail"}}, "dtac"),
    ({**REJECT, "notes": None}, "notes"),
    ({**CONDITIONAL, "conditions": [{"text": "x", "due_on": "2026-01-01"}]}, "conditions"),
    ({**APPROVE, "dtac": {**PASS, "d_score": 101}}, "dtac"),
    ({"outcome": "maybe", "dtac": PASS}, "outcome"),
])
def test_decisions_must_agree_with_their_section_results(world: World, body: dict[str, Any],
                                                        field: str) -> None:
    approval = world.approval_in("under_review")
    problem = world.act(approval["id"], "decision", body, expect=422).get_json()
    assert field in problem["errors"]
    assert world.call("GET", f"/approvals/{approval['id']}", "assessor",
                      200).get_json()["status"] == "under_review"
    assert outbox_events(world.uow_factory, "approval.") == []


def test_submission_needs_a_published_listing_and_valid_evidence(world: World) -> None:
    draft = world.create_listing()
    problem = world.call("POST", f"/innovations/{draft['id']}/approvals", "innovator", 409,
                         json=world.submission(draft["id"])).get_json()
    assert "draft" in problem["detail"]

    listing = world.published()
    foreign = world.published("other", name="Other product")
    other_doc = world.upload(foreign["id"], "dpia", who="other")["id"]
    hazard = world.upload(listing["id"], "hazard_log")["id"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"c2_data_protection": {"dpia_evidence_id": other_doc}}, "dpia_evidence_id"),
        ({"c1_clinical_safety": {"safety_case_evidence_id": hazard}},
         "safety_case_evidence_id"),
        ({"c3_technical_security": {"cyber_essentials_expires_on": "2026-11-20"}},
         "cyber_essentials"),
        ({"c2_data_protection": {"dspt_year": "2025-27"}}, "dspt_year"),
        ({"c2_data_protection": {"dspt_year": "2023-24"}}, "dspt"),  # lapsed 30 June 2025
        ({"device": {"device_certificate_expires_on": None}},
         "device_certificate_expires_on"),
        ({"device": {"device_mark": "none"}}, "device_mark"),
        ({"c2_data_protection": {"ico_registration": "12345"}}, "c2_data_protection"),
    ]
    for sections, field in cases:
        body = world.submission(listing["id"], **sections)
        problem = world.call("POST", f"/innovations/{listing['id']}/approvals", "innovator",
                             422, json=body).get_json()
        assert field in problem["errors"], (sections, problem)
    assert world.call("GET", "/approvals", "assessor", 200).get_json()["total"] == 0


def test_one_open_approval_per_product_version(world: World) -> None:
    listing = world.published()
    first = world.submit(listing["id"])
    problem = world.submit(listing["id"], expect=409)
    assert first["id"] in problem["detail"] and problem["approval_id"] == first["id"]
    # The database enforces it too, whatever the service checks.
    with world.uow_factory() as uow:
        row = uow.session.get(Approval, first["id"])
        clone = Approval(**{c.key: getattr(row, c.key) for c in Approval.__table__.columns
                            if c.key not in ("id", "version")}, id="clone")
        uow.session.add(clone)
        with pytest.raises(IntegrityError):
            uow.session.flush()


def test_a_new_product_version_needs_a_new_approval(world: World) -> None:
    listing = world.published()
    old = world.approval_in("approved", listing)
    listing = world.call("GET", f"/innovations/{listing['id']}", None, 200).get_json()
    assert listing["current_approval"]["id"] == old["id"]
    assert world.call("GET", "/innovations?approved=true", None, 200).get_json()["total"] == 1

    listing = world.patch(listing, product_version="4.0")
    assert listing["current_approval"] is None
    assert world.call("GET", "/innovations?approved=true", None, 200).get_json()["total"] == 0
    # The old approval stays valid for version 3.2 until it lapses.
    assert world.call("GET", f"/approvals/{old['id']}", "assessor",
                      200).get_json()["status"] == "approved"
    new = world.submit(listing["id"])
    assert new["product_version"] == "4.0"
    world.act(new["id"], "start-review")
    world.act(new["id"], "decision", APPROVE)
    found = world.call("GET", "/innovations?approved=true", None, 200).get_json()
    assert [i["current_approval"]["id"] for i in found["items"]] == [new["id"]]


def test_only_assessors_decide_and_innovators_see_only_their_own(world: World) -> None:
    mine = world.submit(world.published()["id"])
    theirs = world.submit(world.published("other", name="Other product")["id"], who="other")
    for who in ("innovator", "admin", "icb_buyer"):
        world.act(mine["id"], "start-review", who=who, expect=403)
    assert world.call("GET", f"/approvals/{theirs['id']}", "innovator", 404)
    queue = world.call("GET", "/approvals", "innovator", 200).get_json()
    assert [a["id"] for a in queue["items"]] == [mine["id"]]
    everything = world.call("GET", "/approvals?status=submitted", "assessor", 200).get_json()
    assert {a["id"] for a in everything["items"]} == {mine["id"], theirs["id"]}
    # An innovator cannot submit for another organisation's listing.
    other_listing = theirs["innovation_id"]
    world.call("POST", f"/innovations/{other_listing}/approvals", "innovator", 403,
               json=world.submission(other_listing, who="other"))


def test_nobody_decides_on_their_own_organisations_product(world: World) -> None:
    approval = world.approval_in("submitted")
    insider = Actor(id="insider", role="assessor", organisation_id=_org_id(world, INNOVATOR))
    with world.uow_factory(insider) as uow, pytest.raises(Forbidden, match="own organisation"):
        approvals.start_review(uow, approval["id"])
    world.act(approval["id"], "start-review")
    for action, kwargs in (("decide", {"outcome": "approved", "dtac": PASS,
                                       "conditions": []}),
                           ("suspend", REASON), ("revoke", REASON)):
        with world.uow_factory(insider) as uow, pytest.raises(Forbidden):
            getattr(approvals, action)(uow, approval["id"], **kwargs)
    assert outbox_events(world.uow_factory, "approval.") == []


def test_evidence_that_lapsed_during_review_blocks_approval(world: World) -> None:
    approval = world.approval_in("under_review")
    world.clock.now = datetime(2027, 6, 15, tzinfo=UTC)  # the pen test lapsed on 1 June
    problem = world.act(approval["id"], "decision", APPROVE, expect=409).get_json()
    assert problem["lapsed_evidence"] == ["penetration_test"]
    world.act(approval["id"], "decision", REJECT)  # rejecting is still possible


def test_a_suspension_cannot_be_lifted_once_the_evidence_lapsed(world: World) -> None:
    approval = world.approval_in("suspended")
    world.clock.now = datetime(2027, 7, 1, tzinfo=UTC)
    problem = world.act(approval["id"], "reinstate", {"reason": "x"}, expect=409).get_json()
    assert "lapsed" in problem["detail"]


def test_concurrent_decisions_cannot_both_win(world: World) -> None:
    """The first decision holds the approval's row lock until it commits; the second waits,
    then sees the new status and is refused (409), so exactly one event is emitted."""
    approval = world.approval_in("under_review")
    assessor = Actor(id="a", role="assessor", organisation_id=_org_id(world, ASSESSOR))
    locked, release, results = threading.Event(), threading.Event(), {}

    def first() -> None:
        with world.uow_factory(assessor) as uow:
            approvals.decide(uow, approval["id"], outcome="approved", dtac=PASS, conditions=[])
            locked.set()
            release.wait(10)
            uow.commit()
            results["first"] = "won"

    def second() -> None:
        locked.wait(10)
        try:
            with world.uow_factory(assessor) as uow:
                approvals.decide(uow, approval["id"], outcome="rejected", dtac=PASS,
                                 conditions=[], notes="too late")
                uow.commit()
                results["second"] = "won"
        except Conflict as exc:
            results["second"] = exc.detail

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    locked.wait(10)
    threads[1].join(0.5)
    assert threads[1].is_alive(), "the second decision must wait for the row lock"
    release.set()
    for thread in threads:
        thread.join(20)
    assert results["first"] == "won"
    assert "is approved" in results["second"]
    events = outbox_events(world.uow_factory, "approval.")
    assert [e["ce_type"] for e in events] == [ce("approval.granted")]
