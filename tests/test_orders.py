"""Call-off orders on the standard route and invoices against them (issue 16).

A trust places an order under a signed contract; every check of the route runs before
acceptance, a refusal lists every failed check, is stored and announced; funding named
by the order is drawn down in the same transaction. The supplier invoices what was
ordered and not yet invoiced.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from marketplace.funding.models import FundingAllocation
from marketplace.orders.models import Order
from schemas.events import registry
from tests.catalogue_support import INNOVATOR, REASON
from tests.contracts_support import OTHER_TRUST, TRUST_B, VALUE
from tests.frameworks_support import Frameworks
from tests.orders_support import (
    LICENCE,
    ONBOARDING,
    PROBLEM_JSON,
    SUPPLIER_VAT,
    TRUST_A,
    OrderWorld,
    order_body,
    order_world_fixture,  # noqa: F401
)

GROSS = (2 * 1_850_000 + 3 * 95_000) * 12 // 10  # two licences, three days, VAT at 20%


def _rows(world: OrderWorld) -> list[Order]:
    with world.uow_factory() as uow:
        return list(uow.session.scalars(select(Order).order_by(Order.placed_at)))


def test_a_trust_places_an_order_at_the_contracts_prices(order_world: OrderWorld) -> None:
    contract = order_world.signed()
    order = order_world.place(contract)
    assert order["status"] == "placed" and order["trust"] == TRUST_A
    assert [(line["item_id"], line["quantity"], line["unit_price_pence"])
            for line in order["lines"]] == [(LICENCE, 2, 1_850_000), (ONBOARDING, 3, 95_000)]
    assert (order["net_pence"], order["gross_pence"]) == (3_985_000, GROSS)
    [event] = order_world.events("order.placed")
    data = event["data"]
    assert event["record_key"] == order["id"]
    assert (data["trust_ods"], data["icb_ods"], data["contract_id"]) == (
        TRUST_A, "QOP", contract["id"])
    assert data["supplier"]["vat_number"] == SUPPLIER_VAT
    assert data["totals"]["gross_pence"] == GROSS
    registry.validate(event["ce_type"], data)  # the payload is valid against the contract
    # Its trust, its supplier and the ICB holding the contract read it; no one else does.
    for who in (f"trust:{TRUST_A}", "innovator", "buyer:QOP", "admin"):
        assert order_world.order(order["id"], who)["id"] == order["id"]
    for who in (f"trust:{TRUST_B}", "buyer:QMJ", "assessor", "funder"):
        order_world.order(order["id"], who, expect=404)
    order_world.order(order["id"], None, expect=401)
    assert [o["id"] for o in order_world.orders()] == [order["id"]]
    assert order_world.orders(f"trust:{TRUST_B}") == []


def test_only_a_trust_system_places_orders_for_its_own_trust(order_world: OrderWorld
                                                             ) -> None:
    contract = order_world.signed()
    for who in ("buyer:QOP", "innovator", "admin", "funder"):
        body = order_world.place(contract, who=who, expect=403)
        assert body["status"] == 403
    order_world.place(contract, who=None, expect=401)
    assert _rows(order_world) == []


def test_a_pending_or_unknown_contract_is_not_there_to_call_off(order_world: OrderWorld
                                                                 ) -> None:
    pending = order_world.award()
    order_world.place(pending, expect=404)
    order_world.place({"id": "no-such-contract"}, expect=404)
    assert _rows(order_world) == [] and order_world.events("order.") == []


def _refused(world: OrderWorld, contract: dict[str, Any], who: str = f"trust:{TRUST_A}",
             **body: Any) -> dict[str, Any]:
    response = world.call("POST", "/orders", who, 422, json=order_body(contract["id"], **body))
    assert response.mimetype == PROBLEM_JSON
    return response.get_json()


def _codes(problem: dict[str, Any]) -> list[str]:
    return [check["code"] for check in problem["checks"]]


def test_every_failed_check_is_listed_stored_and_announced(order_world: OrderWorld) -> None:
    contract = order_world.signed()
    problem = _refused(order_world, contract, lines=[
        {"item_id": "NOT-ON-IT", "quantity": 1}, {"item_id": LICENCE, "quantity": 13},
        {"item_id": ONBOARDING, "quantity": 300}])
    assert problem["title"] == "Order refused" and problem["status"] == 422
    assert _codes(problem) == ["item_not_on_contract", "over_contract_quantity",
                               "over_contract_value"]
    assert "13 would be ordered, the contract allows 12" in problem["checks"][1]["reason"]
    stored = order_world.order(problem["order_id"])
    assert stored["status"] == "rejected" and stored["failed_checks"] == problem["checks"]
    [event] = order_world.events("order.rejected")
    assert event["data"]["reason_code"] == "item_not_on_contract"
    assert all(c["reason"] in event["data"]["reason"] for c in problem["checks"])
    assert order_world.events("order.placed") == []
    # The supplier never sees a refused order; the trust lists it by status.
    order_world.order(problem["order_id"], "innovator", expect=404)
    assert [o["id"] for o in order_world.orders(query="status=rejected")] == [
        problem["order_id"]]
    # The number was not used up: the corrected order takes it.
    assert order_world.place(contract)["order_number"] == "R0A-PO-0001"


def test_a_trust_the_contract_does_not_name_is_refused(order_world: OrderWorld) -> None:
    contract = order_world.signed()
    problem = _refused(order_world, contract, who=f"trust:{OTHER_TRUST}")
    assert _codes(problem) == ["trust_not_eligible"]


def test_an_order_needs_a_live_approval_at_its_time(order_world: OrderWorld) -> None:
    contract = order_world.signed()
    order_world.act(order_world.approval["id"], "suspend", REASON)
    problem = _refused(order_world, contract)
    assert _codes(problem) == ["approval_not_current"]


def test_no_orders_after_a_termination_takes_effect(order_world: OrderWorld) -> None:
    contract = order_world.signed()
    today = order_world.clock.now.date()
    order_world.terminate(contract, effective_on=(today + timedelta(days=5)).isoformat())
    order_world.place(contract, number="R0A-PO-0002")
    order_world.clock.now += timedelta(days=6)
    problem = _refused(order_world, contract, number="R0A-PO-0003")
    assert _codes(problem) == ["contract_not_active"]
    assert "takes orders from" in problem["checks"][0]["reason"]


def test_a_contract_price_above_the_frameworks_ceiling_is_refused(order_world: OrderWorld
                                                                   ) -> None:
    frameworks = Frameworks(order_world)
    framework = frameworks.live()
    frameworks.award(framework, {"id": order_world.listing_id()}, lines=[
        {"item_id": LICENCE, "description": "Site licence", "unit_code": "C62",
         "ceiling_unit_price_pence": 1_800_000}])
    contract = order_world.signed(framework_id=framework["id"])
    problem = _refused(order_world, contract)
    assert _codes(problem) == ["price_mismatch"]
    assert "above the framework ceiling 1800000" in problem["checks"][0]["reason"]


def test_quantity_and_value_count_every_trusts_orders(order_world: OrderWorld) -> None:
    contract = order_world.signed()
    order_world.place(contract, lines=[{"item_id": LICENCE, "quantity": 7}])
    problem = _refused(order_world, contract, who=f"trust:{TRUST_B}", number="RBV-1",
                       lines=[{"item_id": LICENCE, "quantity": 6}])
    assert _codes(problem) == ["over_contract_quantity", "over_contract_value"]
    left = VALUE - 7 * 1_850_000
    days = left // 95_000 + 1
    problem = _refused(order_world, contract, who=f"trust:{TRUST_B}", number="RBV-2",
                       lines=[{"item_id": ONBOARDING, "quantity": days}])
    assert _codes(problem) == ["over_contract_value"]
    order_world.place(contract, who=f"trust:{TRUST_B}", number="RBV-3",
                      lines=[{"item_id": ONBOARDING, "quantity": days - 1}])


def test_a_placed_order_number_is_used_once_per_trust(order_world: OrderWorld) -> None:
    contract = order_world.signed()
    order_world.place(contract)
    assert order_world.place(contract, expect=409)["status"] == 409
    order_world.place(contract, who=f"trust:{TRUST_B}")  # another trust's numbering


def test_a_refusal_replayed_with_its_key_is_one_refusal(order_world: OrderWorld) -> None:
    contract = order_world.signed()
    body = order_body(contract["id"], lines=[{"item_id": "NOT-ON-IT", "quantity": 1}])
    answers = [order_world.call("POST", "/orders", f"trust:{TRUST_A}", 422, json=body,
                                headers={"Idempotency-Key": "order-1"}) for _ in range(2)]
    assert answers[0].get_json() == answers[1].get_json()
    assert answers[1].headers["Idempotent-Replayed"] == "true"
    assert answers[1].mimetype == PROBLEM_JSON
    assert len(_rows(order_world)) == 1 and len(order_world.events("order.rejected")) == 1


def test_bad_order_bodies_are_refused_and_change_nothing(order_world: OrderWorld) -> None:
    contract = order_world.signed()
    bad = [
        {"lines": []},
        {"lines": [{"item_id": LICENCE, "quantity": 0}]},
        {"lines": [{"item_id": LICENCE, "quantity": 1}, {"item_id": LICENCE, "quantity": 1}]},
        {"lines": [{"item_id": LICENCE, "quantity": "2"}]},
        {"order_number": "has spaces in it"},
        {"buyer_reference": ""},
        {"funding_allocation_id": "not an id!"},
        {"requested_delivery_on": "tomorrow"},
    ]
    for overrides in bad:
        response = order_world.call("POST", "/orders", f"trust:{TRUST_A}", 422,
                                    json=order_body(contract["id"], **overrides))
        assert response.mimetype == PROBLEM_JSON and response.get_json()["errors"]
    assert _rows(order_world) == [] and order_world.events("order.") == []


# --- funding ------------------------------------------------------------------------------
def _allocation(world: OrderWorld, amount: int, recipient: str = TRUST_A) -> str:
    """A pot of NHS England money and an allocation from it to ``recipient``."""
    pot = world.call("POST", "/funding", "funder", 201, json={
        "title": "Cancer Programme innovation fund", "funder_type": "nhs_england",
        "amount_pence": 100_000_000, "financial_year": "2026/27",
        "period_start": "2026-04-01", "period_end": "2027-03-31", "recurrent": False,
        "conditions": "For pre-approved cancer pathway innovations."}).get_json()
    allocation = world.call("POST", f"/funding/{pot['id']}/allocations", "funder", 201, json={
        "recipient_ods": recipient, "amount_pence": amount,
        "purpose": "Licences for AI triage."}).get_json()
    return str(allocation["id"])


def _drawn(world: OrderWorld, allocation_id: str) -> int:
    with world.uow_factory() as uow:
        row = uow.session.get(FundingAllocation, allocation_id)
        assert row is not None
        return int(row.drawn_pence)


def test_an_order_draws_down_its_funding_in_the_same_transaction(order_world: OrderWorld
                                                                  ) -> None:
    contract = order_world.signed()
    allocation = _allocation(order_world, GROSS + 1000)
    order = order_world.place(contract, funding_allocation_id=allocation)
    assert order["funding_allocation_id"] == allocation
    assert _drawn(order_world, allocation) == GROSS
    [event] = order_world.events("order.placed")
    assert event["data"]["funding_allocation_id"] == allocation
    # What is left (1000 pence) does not cover another order: refused, nothing drawn.
    problem = _refused(order_world, contract, number="R0A-PO-0002",
                       funding_allocation_id=allocation)
    assert _codes(problem) == ["funding_insufficient"]
    assert _drawn(order_world, allocation) == GROSS


def test_funding_of_another_organisation_cannot_pay_for_the_order(order_world: OrderWorld
                                                                   ) -> None:
    contract = order_world.signed()
    problem = _refused(order_world, contract,
                       funding_allocation_id=_allocation(order_world, GROSS, TRUST_B))
    assert _codes(problem) == ["funding_insufficient"]
    problem = _refused(order_world, contract, funding_allocation_id="no-such-allocation")
    assert _codes(problem) == ["funding_insufficient"]


# --- invoices -----------------------------------------------------------------------------
def test_the_supplier_invoices_what_was_ordered_and_not_yet_invoiced(order_world: OrderWorld
                                                                      ) -> None:
    contract = order_world.signed()
    order = order_world.place(contract)
    first = order_world.invoice(order)
    assert (first["net_pence"], first["vat_pence"]) == (3_700_000, 740_000)
    assert first["due_date"] == (order_world.clock.now.date() + timedelta(days=30)).isoformat()
    assert first["order_number"] == order["order_number"] and first["status"] == "issued"
    [event] = order_world.events("invoice.issued")
    data = event["data"]
    registry.validate(event["ce_type"], data)
    assert event["record_key"] == order["id"]
    assert (data["order_number"], data["buyer_reference"], data["trust_ods"]) == (
        order["order_number"], "CC-ONC-7720", TRUST_A)
    assert data["lines"][0]["order_line_id"] == order["lines"][0]["line_id"]
    assert data["totals"]["vat_breakdown"] == [
        {"vat_category": "S", "vat_rate": "20", "taxable_pence": 3_700_000,
         "vat_pence": 740_000}]
    # Billing more than is left is refused, naming the line; the rest may be billed.
    problem = order_world.invoice(order, "OFD-INV-0002", expect=422,
                                  lines=[{"item_id": LICENCE, "quantity": 1}])
    assert "0 of 2 left to invoice" in str(problem["errors"])
    order_world.invoice(order, "OFD-INV-0002", lines=[{"item_id": ONBOARDING, "quantity": 3}])
    assert order_world.order(order["id"])["invoiced_gross_pence"] == GROSS
    # One number per supplier.
    order_world.invoice(order, "OFD-INV-0002", expect=409,
                        lines=[{"item_id": ONBOARDING, "quantity": 1}])
    # The invoiced trust and the supplier read an invoice; another trust does not.
    assert order_world.get_invoice(first["id"])["id"] == first["id"]
    assert order_world.get_invoice(first["id"], "innovator")["id"] == first["id"]
    order_world.get_invoice(first["id"], f"trust:{TRUST_B}", expect=404)


def test_only_the_supplier_invoices_and_only_a_placed_order(order_world: OrderWorld) -> None:
    contract = order_world.signed()
    order = order_world.place(contract)
    for who in (f"trust:{TRUST_A}", "buyer:QOP", "admin"):
        order_world.invoice(order, who=who, expect=403)
    refused = _refused(order_world, contract, number="R0A-PO-0009",
                       lines=[{"item_id": "NOT-ON-IT", "quantity": 1}])
    order_world.invoice({"id": refused["order_id"]}, expect=404)  # the supplier never saw it
    assert order_world.events("invoice.") == []


def test_an_invoice_that_charges_vat_needs_the_suppliers_vat_number(order_world: OrderWorld
                                                                     ) -> None:
    contract = order_world.signed()
    order = order_world.place(contract)
    org = order_world.call("GET", f"/organisations/{INNOVATOR}", "admin", 200)
    with order_world.uow_factory() as uow:
        from marketplace.organisations.models import Organisation
        supplier = uow.session.scalar(select(Organisation).where(
            Organisation.code == INNOVATOR))
        assert supplier is not None and org.get_json()["vat_number"] == SUPPLIER_VAT
        supplier.vat_number = None
        uow.commit()
    problem = order_world.invoice(order, expect=422)
    assert "VAT number" in problem["detail"]
    assert order_world.events("invoice.") == []


def test_invoice_dates_lie_between_the_order_and_today(order_world: OrderWorld) -> None:
    contract = order_world.signed()
    order = order_world.place(contract)
    today = order_world.clock.now.date()
    for day in (today + timedelta(days=1), today - timedelta(days=1)):
        problem = order_world.invoice(order, issue_date=day.isoformat(), expect=422)
        assert "issue_date" in problem["errors"]
    order_world.clock.now = datetime.fromisoformat(order["placed_at"]) + timedelta(days=2)
    order_world.invoice(order, issue_date=(today + timedelta(days=1)).isoformat())


def test_without_stripe_settings_payments_answer_503_and_the_rest_works(
        order_world: OrderWorld) -> None:
    contract = order_world.signed()
    invoice = order_world.invoice(order_world.place(contract))  # these work either way
    response = order_world.call("POST", f"/invoices/{invoice['id']}/payments",
                                f"trust:{TRUST_A}", 503, json={"payment_method": "pm_card_visa"})
    problem = response.get_json()
    assert response.mimetype == PROBLEM_JSON
    assert "STRIPE_API_KEY" in problem["detail"] and "STRIPE_WEBHOOK_SECRET" in problem["detail"]
    response = order_world.client.post("/api/v1/stripe/webhook", data=b"{}")
    assert response.status_code == 503 and response.mimetype == PROBLEM_JSON
    ready = order_world.client.get("/readyz").get_json()
    assert ready["checks"]["payments"] == {
        "ok": True, "enabled": False,
        "detail": "Payments are disabled: set STRIPE_API_KEY, STRIPE_WEBHOOK_SECRET."}
    assert order_world.get_invoice(invoice["id"])["payments"] == []


# --- direct award under a framework ---------------------------------------------------------
def _direct_award(world: OrderWorld, direct: bool = True) -> tuple[Frameworks, dict, dict]:
    world.clock.now = datetime.fromisoformat("2026-12-03T10:00:00+00:00")
    frameworks = Frameworks(world)
    framework = frameworks.live(direct_award=direct)
    assert framework["direct_award"] is direct
    award = frameworks.award(framework, {"id": world.listing_id()})
    return frameworks, framework, award


def _direct_body(award: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    body = order_body("unused", **overrides)
    del body["contract_id"]
    return {**body, "framework_award_id": award["id"]}


def test_a_trust_calls_off_a_framework_award_directly(order_world: OrderWorld) -> None:
    _, _, award = _direct_award(order_world)
    response = order_world.call("POST", "/orders", f"trust:{TRUST_A}", 201,
                                json=_direct_body(award))
    order = response.get_json()
    assert [(line["item_id"], line["unit_price_pence"]) for line in order["lines"]] == [
        (LICENCE, 2_000_000), (ONBOARDING, 95_000)]  # the award's ceilings
    contract = order_world.contract(order["contract_id"], f"trust:{TRUST_A}")
    assert (contract["status"], contract["eligible_trusts"], contract["tender_id"],
            contract["award_id"], contract["value_pence"]) == (
        "active", [TRUST_A], None, award["id"], order["net_pence"])
    assert contract["buyer"] == "QOP" and contract["reference"].startswith("QOP-DA-")
    # Trusts hear of the contract before the order under it (same transaction).
    names = [e["ce_type"] for e in order_world.events("uk.nhs.marketplace.")
             if "contract." in e["ce_type"] or "order." in e["ce_type"]]
    assert names == ["uk.nhs.marketplace.contract.signed.v1",
                     "uk.nhs.marketplace.order.placed.v1"]
    # Another trust of the ICB has no part in this trust's direct award.
    order_world.contract(order["contract_id"], f"trust:{TRUST_B}", expect=404)


def test_a_direct_award_needs_a_framework_that_allows_it_and_a_live_award(
        order_world: OrderWorld) -> None:
    _, _, award = _direct_award(order_world, direct=False)
    problem = order_world.call("POST", "/orders", f"trust:{TRUST_A}", 409,
                               json=_direct_body(award)).get_json()
    assert "does not allow direct award" in problem["detail"]
    frameworks, _, award = _direct_award(order_world)
    problem = order_world.call("POST", "/orders", f"trust:{TRUST_A}", 422, json=_direct_body(
        award, lines=[{"item_id": "NOT-ON-IT", "quantity": 1}])).get_json()
    assert "not on the framework award" in str(problem["errors"])
    both = {**_direct_body(award), "contract_id": "c-1"}
    order_world.call("POST", "/orders", f"trust:{TRUST_A}", 422, json=both)
    frameworks.withdraw(award)
    problem = order_world.call("POST", "/orders", f"trust:{TRUST_A}", 409,
                               json=_direct_body(award)).get_json()
    assert "not in force" in problem["detail"] and problem["reasons"]
    assert _rows(order_world) == [] and order_world.events("contract.") == []
