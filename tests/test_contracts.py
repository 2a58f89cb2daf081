"""Contracts (issue 15): an award creates a pending contract; its buyer signs it once the
standstill has ended (409 before) and every eligible trust hears ``contract.signed``;
variations are numbered and carry the value before them; termination ends it early.
Only the parties read a contract; only the buyer ICB (its successor after a merger) acts.

Choices the tests pin down: another ICB's buyer acting on a contract gets 404, as it
does reading it (it is not a party, so the contract does not exist for it); a party that
is not the acting buyer (a merged-away ICB's buyer) gets 403 saying who acts.
"""
from __future__ import annotations

import re
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from marketplace.contracts import service as contracts
from marketplace.contracts.lifecycle import (
    MACHINE,
    TRANSITIONS,
    add_months,
    proposed_start,
    term_end,
)
from marketplace.contracts.models import ContractVariation
from marketplace.http.wiring import marketplace_of
from marketplace.kernel.actor import Actor
from marketplace.kernel.audit_log import AuditEvent
from marketplace.kernel.errors import Conflict, InvalidInput
from marketplace.kernel.state_machine import TransitionForbidden
from marketplace.organisations.suppliers import supplier_party
from schemas.events import registry
from schemas.events.tenders import ContractSigned, ContractTerminated, ContractVaried
from tests.adapter_support import Stream, apply_all, direct_adapter, rows
from tests.catalogue_support import INNOVATOR, ce
from tests.contracts_support import (  # noqa: F401  (fixtures)
    ICB,
    OTHER_ICB,
    OTHER_TRUST,
    SUCCESSOR,
    TRUST_A,
    TRUST_B,
    VALUE,
    ContractWorld,
    contract_world_fixture,
)

SECOND = timedelta(seconds=1)
STANDSTILL_ENDS = datetime(2026, 12, 3, 0, 0, tzinfo=UTC)  # Thursday, London midnight (GMT)
BUYER, OTHER_BUYER = f"buyer:{ICB}", f"buyer:{OTHER_ICB}"


# --- the rules (pure) --------------------------------------------------------------------
def test_the_table_covers_the_documented_lifecycle() -> None:
    assert sorted(TRANSITIONS) == [("active", "terminate"), ("active", "vary"),
                                   ("pending", "cancel"), ("pending", "sign")]
    assert MACHINE.actions_from("terminated") == MACHINE.actions_from("cancelled") == []
    with pytest.raises(TransitionForbidden) as caught:
        MACHINE.target("active", "sign")
    assert caught.value.detail == ("The contract is active; only a contract that is "
                                   "pending can be signed.")


def test_calendar_months_clamp_and_a_term_ends_the_day_before() -> None:
    assert add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert add_months(date(2026, 12, 15), 14) == date(2028, 2, 15)
    assert term_end(date(2026, 7, 1), 24) == date(2028, 6, 30)
    assert term_end(date(2027, 1, 31), 1) == date(2027, 2, 27)
    # The standstill ends at London midnight, so its London date is the first day after.
    assert proposed_start(datetime(2026, 6, 22, 23, 0, tzinfo=UTC)) == date(2026, 6, 23)
    assert proposed_start(STANDSTILL_ENDS) == date(2026, 12, 3)


# --- the award ---------------------------------------------------------------------------
def test_an_award_creates_a_pending_contract_and_no_event(
        contract_world: ContractWorld) -> None:
    world = contract_world
    contract = world.award()
    assert re.fullmatch(r"QOP-C-2026-[0-9A-F]{8}", contract["reference"])
    assert (contract["status"], contract["buyer"], contract["version"]) == ("pending", ICB, 1)
    assert (contract["starts_on"], contract["ends_on"]) == ("2026-12-03", "2028-12-02")
    assert contract["standstill_ends_at"] == STANDSTILL_ENDS.isoformat()
    assert contract["eligible_trusts"] == [TRUST_A, TRUST_B]  # not the other ICB's R1F
    assert (contract["value_pence"], contract["term_months"],
            contract["payment_terms_days"]) == (VALUE, 24, 30)
    supplier = world.org(INNOVATOR)
    assert contract["supplier"] == {"org_id": supplier.public_id, "name": supplier.name,
                                    "companies_house_number": INNOVATOR}
    line_ids = [line["line_id"] for line in contract["lines"]]
    assert len(set(line_ids)) == 2 and all(re.fullmatch(r"[0-9a-f-]{36}", i) for i in line_ids)
    assert [line["item_id"] for line in contract["lines"]] == ["OFT-TRIAGE-LIC", "OFT-ONBOARD"]
    assert world.contract_events() == []
    response = world.call("GET", f"/contracts/{contract['id']}", BUYER, 200)
    assert response.headers["ETag"] == '"1"'
    buyer = world.org(ICB)
    with world.uow_factory() as uow:
        assert contracts.get_for_tender(uow, contract["tender_id"]).id == contract["id"]
        assert contracts.get_for_tender(uow, "no-such-tender") is None
        actions = uow.session.scalars(select(AuditEvent.action).where(
            AuditEvent.object_id == contract["id"])).all()
        assert actions == ["contract.created"]
        # One contract per tender.
        with pytest.raises(Conflict, match="already led to contract"):
            contracts.create_for_award(
                uow, tender_id=contract["tender_id"], award_id="a2", framework_id=None,
                buyer_icb_id=buyer.id, supplier_organisation_id=supplier.id,
                innovation_id=contract["innovation_id"], value_pence=1, currency="GBP",
                term_months=1, lines=[], standstill_ends_at=STANDSTILL_ENDS)


def test_award_lines_are_checked_as_events_carry_them(contract_world: ContractWorld) -> None:
    world = contract_world
    bad = [{"item_id": "X", "description": "x", "unit_code": "C62", "unit_price_pence": 1,
            "vat_category": "Z", "vat_rate": "20", "max_quantity": None}]
    with pytest.raises(InvalidInput) as caught:
        world.award(lines=bad)
    assert caught.value.extra["errors"] == {
        "lines": {"0": {"vat_rate": ["Must be 0 for this VAT category."]}}}
    with pytest.raises(InvalidInput):
        world.award(lines=[])


# --- signing -----------------------------------------------------------------------------
def test_signing_is_409_until_the_standstill_ends_then_every_trust_hears(
        contract_world: ContractWorld) -> None:
    world = contract_world
    contract = world.award()
    world.clock.now = STANDSTILL_ENDS - SECOND
    problem = world.sign(contract, expect=409)
    assert problem["detail"] == ("The standstill runs until 2026-12-03T00:00:00+00:00; the "
                                 "contract can be signed from then.")
    assert problem["standstill_ends_at"] == "2026-12-03T00:00:00+00:00"
    assert world.contract(contract["id"])["status"] == "pending"

    world.clock.now = STANDSTILL_ENDS
    response = world.call("POST", f"/contracts/{contract['id']}/sign", BUYER, 200,
                          headers={"Idempotency-Key": "sign-1"})
    signed = response.get_json()
    assert response.headers["ETag"] == f'"{signed["version"]}"' and signed["version"] == 2
    assert (signed["status"], signed["signed_at"]) == ("active", STANDSTILL_ENDS.isoformat())
    assert (signed["starts_on"], signed["ends_on"]) == ("2026-12-03", "2028-12-02")
    again = world.call("POST", f"/contracts/{contract['id']}/sign", BUYER, 200,
                       headers={"Idempotency-Key": "sign-1"})
    assert again.headers["Idempotent-Replayed"] == "true" and again.get_json() == signed

    (event,) = world.contract_events()
    assert (event["ce_type"], event["topic"]) == (ce("contract.signed"), "marketplace.tenders")
    assert (event["record_key"], event["sequence"]) == (contract["id"], 1)
    data = event["data"]
    assert ContractSigned().validate(data) == {}
    supplier = world.org(INNOVATOR)
    assert data["supplier"] == supplier_party(supplier)
    assert data["buyer_icb_ods"] == ICB and data["eligible_trusts"] == [TRUST_A, TRUST_B]
    assert {k: data[k] for k in ("reference", "tender_id", "award_id", "value_pence",
                                 "starts_on", "ends_on", "signed_at")} == {
        k: signed[k] for k in ("reference", "tender_id", "award_id", "value_pence",
                               "starts_on", "ends_on", "signed_at")}
    assert data["lines"] == signed["lines"]

    problem = world.sign(signed, expect=409)  # signing twice
    assert (problem["current_status"], problem["allowed_actions"]) == (
        "active", ["terminate", "vary"])
    assert len(world.contract_events()) == 1


def test_two_signatures_at_once_sign_once(contract_world: ContractWorld) -> None:
    """The row lock: the second signature waits, then sees an active contract (409)."""
    world = contract_world
    contract = world.award()
    world.clock.now = STANDSTILL_ENDS
    headers = world.headers(BUYER)
    world.contract(contract["id"])  # the token's first use is not part of the race
    barrier, statuses = threading.Barrier(3), []

    def sign() -> None:
        client = world.client.application.test_client()
        barrier.wait()
        response = client.post(f"/api/v1/contracts/{contract['id']}/sign", headers=headers)
        statuses.append(response.status_code)

    threads = [threading.Thread(target=sign) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 409, 409]
    assert len(world.contract_events()) == 1


def test_signed_after_the_proposed_start_it_starts_that_day_and_keeps_its_term(
        contract_world: ContractWorld) -> None:
    world = contract_world
    contract = world.award(term_months=1)
    assert (contract["starts_on"], contract["ends_on"]) == ("2026-12-03", "2027-01-02")
    world.clock.now = datetime(2027, 1, 31, 23, 30, tzinfo=UTC)  # 23:30 London, GMT
    signed = world.sign(contract)
    assert (signed["starts_on"], signed["ends_on"]) == ("2027-01-31", "2027-02-27")
    summer = world.award()
    world.clock.now = datetime(2027, 6, 30, 23, 30, tzinfo=UTC)  # 1 July 00:30 London, BST
    assert world.sign(summer)["starts_on"] == "2027-07-01"


def test_only_the_buyer_icb_signs(contract_world: ContractWorld) -> None:
    world = contract_world
    contract = world.award()
    world.clock.now = STANDSTILL_ENDS
    # Another ICB's buyer is no party: the contract does not exist for it.
    assert "No contract" in world.sign(contract, who=OTHER_BUYER, expect=404)["detail"]
    for who in ("innovator", f"trust:{TRUST_A}", "admin"):  # parties, but not the buyer
        world.sign(contract, who=who, expect=403)
    world.sign(contract, who="buyer:QZZ", expect=404)  # an ICB with no contracts at all
    assert world.contract(contract["id"])["status"] == "pending"
    assert world.contract_events() == []
    world.call("POST", "/contracts/nope/sign", BUYER, 404)


def test_after_a_merger_the_successors_buyers_sign(contract_world: ContractWorld) -> None:
    world = contract_world
    contract = world.award()
    world.token(BUYER)  # a token of QOP issued before the merger
    world.merge(ICB, SUCCESSOR)
    world.clock.now = STANDSTILL_ENDS
    assert world.contract(contract["id"], BUYER)["buyer"] == SUCCESSOR
    problem = world.sign(contract, who=BUYER, expect=403)
    assert "QOP was merged into Q9W" in problem["detail"]
    assert world.listed(f"buyer:{SUCCESSOR}") == [contract["id"]]

    signed = world.sign(contract, who=f"buyer:{SUCCESSOR}")
    assert (signed["status"], signed["buyer"]) == ("active", SUCCESSOR)
    assert signed["eligible_trusts"] == [TRUST_A, TRUST_B]  # the merged ICB's trusts
    (event,) = world.contract_events()
    assert event["data"]["buyer_icb_ods"] == SUCCESSOR
    varied = world.vary(signed, who=f"buyer:{SUCCESSOR}", value_pence=VALUE + 1)
    assert varied["variation_number"] == 1


def test_an_icb_without_trusts_cannot_sign_until_it_has_one(
        contract_world: ContractWorld) -> None:
    world = contract_world
    contract = world.award(icb="QWE")
    assert contract["eligible_trusts"] == []
    world.clock.now = STANDSTILL_ENDS
    problem = world.sign(contract, who="buyer:QWE", expect=409)
    assert problem["detail"] == ("QWE has no trusts to call off the contract; add its "
                                 "trusts, then sign.")
    world.add_trust("RQW", "QWE")
    signed = world.sign(contract, who="buyer:QWE")
    assert signed["eligible_trusts"] == ["RQW"]  # the trusts at signature


# --- variations and termination -----------------------------------------------------------
def test_variations_are_numbered_and_carry_the_value_before(
        contract_world: ContractWorld) -> None:
    world = contract_world
    signed = world.signed()
    path = f"/contracts/{signed['id']}/vary"
    assert world.vary(signed, if_match=None, expect=428, value_pence=1)["status"] == 428
    stale = world.vary(signed, if_match=f'"{signed["version"] - 1}"', expect=412,
                       value_pence=1)
    assert "changed since you read it" in stale["detail"]
    assert "_schema" in world.vary(signed, expect=422)["errors"]  # nothing to change
    same = world.vary(signed, expect=422, value_pence=VALUE, ends_on=signed["ends_on"])
    assert same["detail"] == "The variation changes nothing."
    early = world.vary(signed, expect=422, ends_on="2026-12-02")
    assert early["errors"]["ends_on"] == [
        "before 2026-12-03 (to end it early, terminate it)"]
    world.vary(signed, expect=422, reason="   ", value_pence=1)

    response = world.call("POST", path, BUYER, 200, json={
        "value_pence": 24_100_000, "ends_on": "2029-06-30",
        "reason": "Six-month extension to align with the ICB merger."},
        headers={"If-Match": f'"{signed["version"]}"', "Idempotency-Key": "vary-1"})
    first = response.get_json()
    assert response.headers["ETag"] == f'"{first["version"]}"'
    assert (first["variation_number"], first["value_pence"], first["ends_on"]) == (
        1, 24_100_000, "2029-06-30")
    assert first["variations"] == [{
        "number": 1, "previous_value_pence": VALUE, "value_pence": 24_100_000,
        "changed_fields": ["ends_on", "value_pence"],
        "reason": "Six-month extension to align with the ICB merger.",
        "varied_at": world.clock.now.isoformat()}]
    world.vary(signed, expect=412, value_pence=1)  # the ETag moved on

    world.clock.advance(days=30)
    licence, onboarding = first["lines"]
    lines = [{**{k: v for k, v in licence.items() if k != "line_id"},
              "unit_price_pence": 1_800_000},
             {"item_id": "OFT-SUPPORT", "description": "Premium support, per month",
              "unit_code": "MON", "unit_price_pence": 40_000, "vat_category": "S",
              "vat_rate": "20", "max_quantity": None}]
    second = world.vary(first, lines=lines, reason="Support replaces onboarding days.")
    assert (second["variation_number"], second["value_pence"]) == (2, 24_100_000)
    assert [line["item_id"] for line in second["lines"]] == ["OFT-TRIAGE-LIC", "OFT-SUPPORT"]
    assert second["lines"][0]["line_id"] == licence["line_id"]  # the same item keeps its id
    assert second["lines"][1]["line_id"] not in (licence["line_id"], onboarding["line_id"])
    assert second["variations"][1]["changed_fields"] == ["lines"]
    assert world.vary(second, expect=422, lines=lines)["detail"] == (
        "The variation changes nothing.")
    duplicate = world.vary(second, expect=422, lines=[lines[0], lines[0]])
    assert duplicate["errors"] == {"lines": ["Item ids must be unique."]}

    events = world.contract_events(signed["id"])
    assert [(e["ce_type"], e["sequence"]) for e in events] == [
        (ce("contract.signed"), 1), (ce("contract.varied"), 2), (ce("contract.varied"), 3)]
    for event in events[1:]:
        assert ContractVaried().validate(event["data"]) == {}
    one, two = events[1]["data"], events[2]["data"]
    assert (one["variation_number"], one["previous_value_pence"], one["value_pence"],
            one["changed_fields"], one["ends_on"]) == (
        1, VALUE, 24_100_000, ["ends_on", "value_pence"], "2029-06-30")
    assert (two["variation_number"], two["previous_value_pence"], two["changed_fields"]) == (
        2, 24_100_000, ["lines"])
    assert two["lines"] == second["lines"]
    with world.uow_factory() as uow:
        stored = uow.session.scalars(select(ContractVariation).where(
            ContractVariation.contract_id == signed["id"]).order_by(
            ContractVariation.number)).all()
        assert stored[0].before["value_pence"] == VALUE
        assert stored[0].after["ends_on"] == "2029-06-30"
        assert [line["item_id"] for line in stored[1].before["lines"]] == [
            "OFT-TRIAGE-LIC", "OFT-ONBOARD"]


def test_termination_ends_an_active_contract(contract_world: ContractWorld) -> None:
    world = contract_world
    signed = world.signed()
    world.clock.now = datetime(2027, 3, 1, 10, tzinfo=UTC)
    assert world.terminate(signed, if_match=None, expect=428)["status"] == 428
    past = world.terminate(signed, expect=422, effective_on="2027-02-28")
    assert past["errors"]["effective_on"] == ["before today (2027-03-01)"]
    late = world.terminate(signed, expect=422, effective_on="2028-12-03")
    assert late["errors"]["effective_on"] == ["after the contract ends (2028-12-02)"]
    world.terminate(signed, expect=422, reason_code="bored")

    ended = world.terminate(signed)
    assert (ended["status"], ended["effective_on"], ended["reason_code"]) == (
        "terminated", "2027-03-31", "convenience")
    assert ended["terminated_at"] == world.clock.now.isoformat()
    event = world.contract_events(signed["id"])[-1]
    assert (event["ce_type"], event["sequence"]) == (ce("contract.terminated"), 2)
    assert ContractTerminated().validate(event["data"]) == {}
    assert event["data"]["supplier_org_id"] == world.org(INNOVATOR).public_id
    assert event["data"]["effective_on"] == "2027-03-31"

    problem = world.terminate(ended, expect=409)
    assert problem["allowed_actions"] == [] and "which is final" in problem["detail"]
    assert world.vary(ended, expect=409, value_pence=1)["allowed_actions"] == []


def test_a_pending_contract_is_neither_varied_nor_terminated(
        contract_world: ContractWorld) -> None:
    world = contract_world
    contract = world.award()
    for problem in (world.vary(contract, expect=409, value_pence=1),
                    world.terminate(contract, expect=409, effective_on="2027-01-31")):
        assert (problem["current_status"], problem["allowed_actions"]) == (
            "pending", ["cancel", "sign"])
    assert world.contract(contract["id"])["version"] == 1
    assert world.contract_events() == []


# --- the tender's cancellation ------------------------------------------------------------
def test_cancelling_the_tender_cancels_its_pending_contract_only(
        contract_world: ContractWorld) -> None:
    world = contract_world
    pending, signed = world.award(), world.signed()
    before = len(world.contract_events())
    buyer = world.org(ICB)
    actor = Actor(id="cancel", role="icb_buyer", organisation_id=buyer.id,
                  organisation_code=ICB)
    marketplace = marketplace_of(world.client.application)
    with marketplace.committed(actor) as uow:
        cancelled = contracts.cancel_for_tender(uow, pending["tender_id"],
                                                " Requirement merged into the programme. ")
        assert cancelled is not None and cancelled.status == "cancelled"
        assert contracts.cancel_for_tender(uow, "no-such-tender", "x") is None
    with marketplace.committed(actor) as uow, pytest.raises(TransitionForbidden) as caught:
        contracts.cancel_for_tender(uow, signed["tender_id"], "Too late.")
    assert caught.value.extra["current_status"] == "active"
    assert isinstance(caught.value, Conflict)

    shown = world.contract(pending["id"])
    assert (shown["status"], shown["reason"]) == (
        "cancelled", "Requirement merged into the programme.")
    assert shown["cancelled_at"] == world.clock.now.isoformat()
    assert world.contract(signed["id"])["status"] == "active"
    assert len(world.contract_events()) == before  # trusts never heard of it
    world.sign(pending, expect=409)
    world.contract(pending["id"], f"trust:{TRUST_A}", expect=404)


# --- who reads ----------------------------------------------------------------------------
def test_only_the_parties_read_a_contract(contract_world: ContractWorld) -> None:
    world = contract_world
    contract = world.award()
    cid = contract["id"]
    readers = (BUYER, "innovator", "admin")
    strangers = (f"trust:{TRUST_A}", f"trust:{OTHER_TRUST}", "other", OTHER_BUYER,
                 "assessor", "funder")
    for who in readers:
        assert world.contract(cid, who)["id"] == cid and world.listed(who) == [cid]
    for who in strangers:  # eligible trusts too: nothing to call off until it is signed
        assert world.contract(cid, who, expect=404)["detail"] == (
            f"No contract has the id {cid!r}.")
        assert world.listed(who) == []
    world.call("GET", f"/contracts/{cid}", None, 401)
    world.call("GET", "/contracts", None, 401)

    world.clock.now = STANDSTILL_ENDS
    signed = world.sign(contract)
    for who in (*readers, f"trust:{TRUST_A}", f"trust:{TRUST_B}"):
        assert world.contract(cid, who)["status"] == "active"
        assert world.listed(who) == [cid]
    for who in strangers[1:]:
        world.contract(cid, who, expect=404)
        assert world.listed(who) == []
    world.terminate(signed, effective_on="2027-01-31")
    assert world.contract(cid, f"trust:{TRUST_A}")["status"] == "terminated"

    # Filters, newest first.
    world.clock.advance(days=1)
    newer = world.award()
    assert world.listed(BUYER) == [newer["id"], cid]
    assert world.listed(BUYER, "status=pending") == [newer["id"]]
    assert world.listed(BUYER, f"tender_id={contract['tender_id']}") == [cid]
    assert world.listed(f"trust:{TRUST_A}") == [cid]
    world.call("GET", "/contracts?status=signed", BUYER, 422)


def test_the_audit_trail_names_the_supplier(contract_world: ContractWorld) -> None:
    world = contract_world
    signed = world.signed()
    with world.uow_factory() as uow:
        rows_ = uow.session.execute(select(AuditEvent.action, AuditEvent.subject_organisation_id)
                                    .where(AuditEvent.object_id == signed["id"])
                                    .order_by(AuditEvent.id)).all()
        count = uow.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.object_type == "contract"))
    supplier = world.org(INNOVATOR).id
    assert rows_ == [("contract.created", supplier), ("contract.signed", supplier)]
    assert count == 2


# --- a trust's register -------------------------------------------------------------------
def test_a_trust_adapter_applies_the_signed_then_the_varied_contract(
        contract_world: ContractWorld, tmp_path: Path) -> None:
    world = contract_world
    signed = world.signed()
    world.vary(signed, value_pence=24_100_000, ends_on="2029-06-30")
    stream = Stream()
    for event in world.contract_events(signed["id"]):
        stream.add(registry.get(event["ce_type"]).name, event["data"])
    adapter = direct_adapter(tmp_path, trust=TRUST_A)
    apply_all(adapter, stream)
    row = rows(adapter, "contract")[signed["id"]]
    assert (row["status"], row["variation_number"], row["value_pence"], row["ends_on"]) == (
        "active", 1, 24_100_000, "2029-06-30")
    assert (row["starts_on"], row["eligible_trusts"], row["buyer_icb_ods"]) == (
        "2026-12-03", [TRUST_A, TRUST_B], ICB)
    assert [line["line_id"] for line in row["lines"]] == [
        line["line_id"] for line in signed["lines"]]
    supplier = rows(adapter, "supplier")[f"contract:{signed['id']}"]
    assert supplier["status"] == "active"
