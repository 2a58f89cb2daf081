"""Framework awards: only a live central approval of the listing's current version earns a
place on a lot; the operator withdraws with a reason; an approval revoked or expired
withdraws its awards in its own transaction, each with its event; a suspension pauses
them; an award ends at its ``ends_at`` by the tick; ``award_in_force`` says when a
call-off or competition may rest on an award."""
from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from marketplace.approvals import service as approvals
from marketplace.approvals.models import Approval
from marketplace.frameworks import service as frameworks_service
from marketplace.kernel.actor import Actor
from marketplace.kernel.audit_log import AuditEvent
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.organisations.models import Organisation
from tests.catalogue_support import (
    REASON,
    REINSTATE,
    World,
    ce,
    outbox_events,
)
from tests.frameworks_support import (  # noqa: F401  (fixtures)
    AWARD_ENDS,
    ENDS,
    LINES,
    STARTS,
    WITHDRAW,
    Frameworks,
    award_body,
    frameworks_fixture,
    world_fixture,
)

SECOND = timedelta(seconds=1)


def _public_id(world: World, code: str) -> str:
    with world.uow_factory() as uow:
        return uow.session.scalar(select(Organisation.public_id).where(
            Organisation.code == code))


def _in_force(world: World, award_id: str, at: datetime | None = None) -> bool:
    with world.uow_factory() as uow:
        return frameworks_service.award_in_force(uow, award_id, at or world.clock.now)


def _blockers(world: World, award_id: str, at: datetime) -> list[str]:
    from marketplace.kernel.errors import Conflict

    with world.uow_factory() as uow:
        try:
            frameworks_service.check_award_in_force(uow, award_id, at)
        except Conflict as exc:
            return list(exc.extra["reasons"])
    return []


def test_an_approved_listing_is_awarded_with_its_price_ceilings(
        world: World, frameworks: Frameworks) -> None:
    framework = frameworks.live()
    approval = world.approval_in("approved")
    response = world.call("POST", f"/frameworks/{framework['id']}/awards", "admin", 201,
                          json=award_body(framework["lots"][0]["id"], approval["innovation_id"]),
                          headers={"Idempotency-Key": "award-1"})
    award = response.get_json()
    assert response.headers["Location"].endswith(
        f"/frameworks/{framework['id']}/awards/{award['id']}")
    assert response.headers["ETag"] == '"1"'
    assert (award["status"], award["period"], award["lot_number"]) == ("active", "upcoming", "1")
    assert (award["approval_id"], award["product_version"]) == (approval["id"], "3.2")
    assert award["supplier"]["code"] == "09876543" and award["currency"] == "GBP"
    assert award["lines"] == LINES
    assert frameworks.get_award(award) == award
    assert frameworks.get(framework)["awards"] == [award]
    replay = world.call("POST", f"/frameworks/{framework['id']}/awards", "admin", 201,
                        json=award_body(framework["lots"][0]["id"], approval["innovation_id"]),
                        headers={"Idempotency-Key": "award-1"})
    assert replay.headers["Idempotent-Replayed"] == "true"

    (event,) = outbox_events(world.uow_factory, "framework.award")
    assert event["ce_type"] == ce("framework.award.granted")
    assert event["record_key"] == framework["id"] and event["sequence"] == 2
    data = event["data"]
    assert data["supplier"] == {
        "org_id": _public_id(world, "09876543"), "companies_house_number": "09876543",
        "legal_name": "Test innovator 09876543", "vat_number": None, "country_code": "GB",
        "peppol_participant_id": None}
    assert data["innovation_ids"] == [approval["innovation_id"]]
    assert data["price_ceilings"] == LINES and data["currency"] == "GBP"
    assert (data["award_id"], data["lot_id"], data["lot_number"]) == (
        award["id"], framework["lots"][0]["id"], "1")
    assert (data["starts_at"], data["ends_at"]) == (STARTS, AWARD_ENDS)
    assert data["framework_reference"] == framework["reference"]
    with world.uow_factory() as uow:
        audit = uow.session.scalar(select(AuditEvent).where(
            AuditEvent.object_id == award["id"]))
        assert audit.action == "framework_award.granted"

    # In force from its start, while the approval is live.
    assert not _in_force(world, award["id"])
    assert _blockers(world, award["id"], world.clock.now) == [
        f"the award runs from {STARTS} to {AWARD_ENDS}",
        f"the framework runs from {STARTS} to {ENDS}"]
    start = datetime.fromisoformat(STARTS)
    assert _in_force(world, award["id"], start)
    world.clock.now = start
    assert frameworks.get_award(award)["period"] == "current"
    # One active award per lot and innovation.
    clash = frameworks.award(framework, {"id": approval["innovation_id"]}, expect=409)
    assert clash["award_id"] == award["id"]


def test_an_award_needs_a_live_approval_of_the_current_version(
        world: World, frameworks: Frameworks) -> None:
    framework = frameworks.live()
    never = world.published()
    problem = frameworks.award(framework, never, expect=409)
    assert "no central approval" in problem["detail"] and problem["approval_status"] is None
    for status in ("submitted", "under_review", "suspended", "rejected", "revoked"):
        approval = world.approval_in(status)
        problem = frameworks.award(framework, {"id": approval["innovation_id"]}, expect=409)
        assert f"is {status}" in problem["detail"] and problem["approval_status"] == status
    # A new product version is not approved by the old version's approval.
    approval = world.approval_in("approved")
    listing = world.call("GET", f"/innovations/{approval['innovation_id']}", "innovator",
                         200).get_json()
    world.patch(listing, product_version="3.3")
    problem = frameworks.award(framework, listing, expect=409)
    assert "version 3.3" in problem["detail"]
    # Lapsed but not yet expired by the tick.
    lapsing = world.approval_in("approved")
    world.clock.now = datetime.fromisoformat(lapsing["expires_at"])
    problem = frameworks.award(framework, {"id": lapsing["innovation_id"]}, expect=409,
                               ends_at=AWARD_ENDS)
    assert problem["approval_status"] == "lapsed"
    assert outbox_events(world.uow_factory, "framework.award") == []


def test_a_draft_or_withdrawn_listing_is_not_awarded(world: World,
                                                     frameworks: Frameworks) -> None:
    framework = frameworks.live()
    draft = world.create_listing()
    assert "is draft" in frameworks.award(framework, draft, expect=409)["detail"]
    approval = world.approval_in("approved")
    listing = world.call("GET", f"/innovations/{approval['innovation_id']}", "innovator",
                         200).get_json()
    world.patch(listing, status="withdrawn", withdrawal_reason="Superseded.")
    assert "is withdrawn" in frameworks.award(framework, listing, expect=409)["detail"]


@pytest.mark.parametrize(("overrides", "field"), [
    ({"starts_at": "2026-11-30T23:59:59+00:00"}, "starts_at"),
    ({"ends_at": "2030-12-01T00:00:00+00:00"}, "ends_at"),
    ({"ends_at": STARTS}, "ends_at"),
    ({"lines": []}, "lines"),
    ({"lines": [LINES[0], LINES[0]]}, "lines"),
    ({"lines": [{**LINES[0], "ceiling_unit_price_pence": -1}]}, "lines"),
    ({"lines": [{**LINES[0], "ceiling_unit_price_pence": 2**63}]}, "lines"),
    ({"lines": [{**LINES[0], "ceiling_unit_price_pence": 1.5}]}, "lines"),
    ({"lines": [{**LINES[0], "unit_code": "one"}]}, "lines"),
    ({"lines": [{**LINES[0], "description": " "}]}, "lines"),
    ({"currency": "EUR"}, "currency"),
    ({"lot_id": "no-such-lot"}, "lot_id"),
    ({"innovation_id": "no-such-listing"}, "innovation_id"),
])
def test_invalid_award_is_422(world: World, frameworks: Frameworks,
                              overrides: dict[str, Any], field: str) -> None:
    framework = frameworks.live()
    approval = world.approval_in("approved")
    problem = frameworks.award(framework, {"id": approval["innovation_id"]}, expect=422,
                               **overrides)
    assert field in problem["errors"], problem


def test_a_lot_of_another_framework_or_category_is_422(world: World,
                                                       frameworks: Frameworks) -> None:
    framework, other = frameworks.live(), frameworks.live()
    approval = world.approval_in("approved")
    listing = {"id": approval["innovation_id"]}
    problem = frameworks.award(framework, listing, expect=422, lot=other["lots"][0])
    assert problem["errors"] == {"lot_id": ["no such lot on this framework"]}
    draft = frameworks.create()
    frameworks.add_lot(draft, title="Diagnostics", categories=["cancer.diagnostics"])
    # The parent category takes every listing below it.
    frameworks.add_lot(draft, title="All cancer", categories=["cancer"])
    diagnostics = frameworks.publish(draft)
    problem = frameworks.award(diagnostics, listing, expect=422)
    assert "cancer.triage" in problem["errors"]["innovation_id"][0]
    frameworks.award(diagnostics, listing, lot=diagnostics["lots"][1])


def test_the_operator_withdraws_an_award_with_a_reason(world: World,
                                                      frameworks: Frameworks) -> None:
    award, _ = frameworks.approved_award()
    withdrawn = frameworks.withdraw(award)
    assert (withdrawn["status"], withdrawn["reason_code"], withdrawn["reason"]) == (
        "withdrawn", "performance", WITHDRAW["reason"])
    assert withdrawn["withdrawn_at"] == world.clock.now.isoformat()
    assert withdrawn["version"] == award["version"] + 1
    event = outbox_events(world.uow_factory, "framework.award")[-1]
    assert event["ce_type"] == ce("framework.award.withdrawn") and event["sequence"] == 3
    assert event["data"] == {
        "framework_id": award["framework_id"], "award_id": award["id"],
        "lot_id": award["lot_id"], "supplier_org_id": _public_id(world, "09876543"),
        "reason_code": "performance", "reason": WITHDRAW["reason"],
        "withdrawn_at": world.clock.now.isoformat()}
    assert _blockers(world, award["id"], datetime.fromisoformat(STARTS)) == [
        "the award is withdrawn"]
    again = frameworks.withdraw(award, expect=409)
    assert (again["current_status"], again["allowed_actions"]) == ("withdrawn", [])
    assert "The framework award is withdrawn, which is final" in again["detail"]
    bad = frameworks.withdraw(award, expect=422, body={"reason_code": "bored", "reason": "x"})
    assert "reason_code" in bad["errors"]
    blank = frameworks.withdraw(award, expect=422, body={**WITHDRAW, "reason": "  "})
    assert blank["errors"] == {"reason": ["blank"]}
    world.call("POST", f"/frameworks/{award['framework_id']}/awards/nope/withdraw", "admin",
               404, json=WITHDRAW)
    other = frameworks.live()
    world.call("POST", f"/frameworks/{other['id']}/awards/{award['id']}/withdraw", "admin",
               404, json=WITHDRAW)
    # The innovator sees the audit rows about its own award.
    audit = world.call("GET", f"/audit?object_id={award['id']}", "innovator", 200).get_json()
    assert [row["action"] for row in audit["items"]] == [
        "framework_award.withdrawn", "framework_award.granted"]


def _withdrawn_after(world: World, before: int) -> list[dict[str, Any]]:
    return outbox_events(world.uow_factory)[before:]


def test_revoking_the_approval_withdraws_its_awards_in_its_transaction(
        world: World, frameworks: Frameworks) -> None:
    first, second = frameworks.live(), frameworks.live()
    award, approval = frameworks.approved_award(first)
    other_award = frameworks.award(second, {"id": approval["innovation_id"]})
    unrelated, _ = frameworks.approved_award(first)
    before = len(outbox_events(world.uow_factory))

    world.act(approval["id"], "revoke", REASON)
    revoked, *withdrawn = _withdrawn_after(world, before)
    assert revoked["ce_type"] == ce("approval.revoked")
    assert [e["ce_type"] for e in withdrawn] == [ce("framework.award.withdrawn")] * 2
    assert sorted(e["data"]["award_id"] for e in withdrawn) == sorted(
        [award["id"], other_award["id"]])
    for event in withdrawn:
        assert event["data"]["reason_code"] == "approval_revoked"
        assert event["data"]["reason"] == ("The central approval of product version 3.2 was "
                                           "revoked (safety_concern).")
        assert event["data"]["withdrawn_at"] == world.clock.now.isoformat()
    for ended in (award, other_award):
        shown = frameworks.get_award(ended)
        assert (shown["status"], shown["reason_code"]) == ("withdrawn", "approval_revoked")
    assert frameworks.get_award(unrelated)["status"] == "active"
    with world.uow_factory() as uow:
        actions = uow.session.scalars(select(AuditEvent.action).where(
            AuditEvent.object_id.in_([award["id"], other_award["id"]]))).all()
    assert sorted(actions).count("framework_award.withdrawn") == 2


def test_a_revocation_rolled_back_withdraws_nothing(world: World,
                                                    frameworks: Frameworks) -> None:
    award, approval = frameworks.approved_award()
    before = len(outbox_events(world.uow_factory))
    with world.uow_factory() as uow:
        org = uow.session.get(Approval, approval["id"]).assessor_organisation_id
        uow.actor = Actor(id="t", role="assessor", organisation_id=org)
        approvals.revoke(uow, approval["id"], **REASON)
        shown = frameworks_service.get_award(uow, award["framework_id"], award["id"])
        assert shown.status == "withdrawn"  # written in the revocation's transaction...
        # ...and leaving the block without a commit rolls all of it back
    assert len(outbox_events(world.uow_factory)) == before
    assert frameworks.get_award(award)["status"] == "active"


def test_an_expired_approval_withdraws_its_awards_at_the_tick(
        world: World, frameworks: Frameworks) -> None:
    award, approval = frameworks.approved_award()
    world.clock.now = datetime.fromisoformat(approval["expires_at"])
    assert not _in_force(world, award["id"])  # lapsed: no call-off even before the tick
    before = len(outbox_events(world.uow_factory))
    lines = frameworks.tick()
    assert "expired 1 approval" in lines
    expired, withdrawn = _withdrawn_after(world, before)
    assert expired["ce_type"] == ce("approval.expired")
    assert withdrawn["ce_type"] == ce("framework.award.withdrawn")
    assert (withdrawn["data"]["reason_code"], withdrawn["data"]["reason"]) == (
        "other", "The central approval of product version 3.2 expired: penetration_test "
                 "lapsed.")
    assert frameworks.get_award(award)["status"] == "withdrawn"
    assert "expired 0 approvals" in frameworks.tick()
    assert len(outbox_events(world.uow_factory)) == before + 2


def test_a_suspension_pauses_an_award_without_withdrawing_it(
        world: World, frameworks: Frameworks) -> None:
    award, approval = frameworks.approved_award()
    start = datetime.fromisoformat(STARTS)
    before = len(outbox_events(world.uow_factory))
    world.act(approval["id"], "suspend", REASON)
    (suspended,) = _withdrawn_after(world, before)
    assert suspended["ce_type"] == ce("approval.suspended")
    assert frameworks.get_award(award)["status"] == "active"
    assert _blockers(world, award["id"], start) == [
        "the central approval of version 3.2 is suspended"]
    world.act(approval["id"], "reinstate", REINSTATE)
    assert _in_force(world, award["id"], start)


def test_an_award_ends_at_its_end_by_the_tick(world: World, frameworks: Frameworks,
                                              uow_factory: Callable[..., UnitOfWork]
                                              ) -> None:
    framework = frameworks.live()
    approval = world.approval_in("approved")
    short = frameworks.award(framework, {"id": approval["innovation_id"]},
                             ends_at="2027-01-31T23:59:59+00:00")
    end = datetime.fromisoformat(short["ends_at"])
    assert _in_force(world, short["id"], end - SECOND)
    world.clock.now = end
    assert frameworks.get_award(short)["period"] == "ended"
    before = len(outbox_events(world.uow_factory))
    lines = frameworks.tick()
    assert f"framework award {short['id']} (framework {framework['id']}) ended at " \
           f"{end.isoformat()}" in lines and "ended 1 framework award" in lines
    assert len(outbox_events(world.uow_factory)) == before  # trusts hold the end date
    ended = frameworks.get_award(short)
    assert (ended["status"], ended["status_changed_at"]) == ("expired", end.isoformat())
    assert "ended 0 framework awards" in frameworks.tick()
    assert frameworks.withdraw(short, expect=409)["current_status"] == "expired"
    # The innovation may be awarded the lot again (one *active* award per lot).
    again = frameworks.award(framework, {"id": approval["innovation_id"]})
    assert again["status"] == "active"


def test_a_framework_expiry_ends_its_awards(world: World, frameworks: Frameworks) -> None:
    end = "2027-03-31T23:59:59+00:00"
    framework = frameworks.live(ends_at=end)
    approval = world.approval_in("approved")
    award = frameworks.award(framework, {"id": approval["innovation_id"]}, ends_at=end)
    world.clock.now = datetime.fromisoformat(end)
    lines = frameworks.tick()
    assert "expired 1 framework" in lines and "ended 1 framework award" in lines
    assert frameworks.get(framework)["status"] == "expired"
    assert frameworks.get_award(award)["status"] == "expired"
    assert [e["ce_type"] for e in outbox_events(world.uow_factory, "framework.")][-1] == ce(
        "framework.expired")
    assert "the framework is expired" in _blockers(world, award["id"], world.clock.now)


def _at_once(*calls: Callable[[], int]) -> list[int]:
    """Run ``calls`` in threads released together; their statuses, in call order."""
    barrier, results = threading.Barrier(len(calls)), [0] * len(calls)

    def run(n: int) -> None:
        barrier.wait(10)
        results[n] = calls[n]()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_racing_awards_and_revocation_leave_no_award_on_a_revoked_approval(
        world: World, frameworks: Frameworks) -> None:
    framework = frameworks.live()
    approval = world.approval_in("approved")
    headers = {**world.headers("admin")}
    body = award_body(framework["lots"][0]["id"], approval["innovation_id"])
    path = f"/api/v1/frameworks/{framework['id']}/awards"
    app = world.client.application

    def award() -> int:
        return app.test_client().post(path, json=body, headers=headers).status_code

    def revoke() -> int:
        return app.test_client().post(f"/api/v1/approvals/{approval['id']}/revoke",
                                      json=REASON, headers=world.headers("assessor")
                                      ).status_code

    # Two identical awards at once: the unique index lets exactly one in.
    assert sorted(_at_once(award, award)) == [201, 409]
    awarded = frameworks.get(framework)["awards"]
    assert [a["status"] for a in awarded] == ["active"]
    frameworks.withdraw(awarded[0])
    # An award racing the revocation: either it waited and was refused, or the
    # revocation saw it and withdrew it. Never an active award on a revoked approval.
    statuses = _at_once(award, revoke)
    assert statuses[1] == 200 and statuses[0] in (201, 409)
    shown = frameworks.get(framework)["awards"]
    assert [a["status"] for a in shown] == ["withdrawn"] * len(shown)
    assert len(shown) == (2 if statuses[0] == 201 else 1)
