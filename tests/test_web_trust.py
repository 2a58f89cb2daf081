"""A trust's pages in a real browser, as its finance system's person (``trust_system`` of
RAL, which may call off the demo's signed contract): its orders and the demo order's
page; placing an order through the form (a bad quantity first: the error summary with
the values kept), checked through the API; a refused order showing every failed check;
the demo invoice with its VAT and the pay form (503 without Stripe, naming what to set);
and the route conformance page. axe-core on every page."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from marketplace.conformance.models import TrustConformance
from marketplace.demo import seed
from marketplace.kernel.unit_of_work import UnitOfWork
from tests.browser_support import Page, add_person, browser, live, sign_in, tab  # noqa: F401

pytestmark = pytest.mark.browser

DEMO_ORDER = "RAL-PO-2026-000417"
DEMO_INVOICE = "CNS-INV-2026-0031"


@pytest.fixture
def demo(uow_factory: Callable[..., UnitOfWork], tmp_path: Path) -> None:
    with uow_factory() as uow:
        list(seed(uow, tmp_path / "evidence"))
        uow.commit()


@pytest.fixture
def trust(demo: None, tab: Page, uow_factory: Callable[..., UnitOfWork]) -> Page:  # noqa: F811
    sign_in(tab, add_person(uow_factory, "trust_system", "RAL"))
    return tab


def _h1(tab: Page) -> str:  # noqa: F811
    return str(tab.page.locator("h1").inner_text())


def _submit(tab: Page, name: str) -> Any:  # noqa: F811
    with tab.page.expect_navigation() as navigation:
        tab.page.get_by_role("button", name=name).click()
    return navigation.value


def _orders(client: FlaskClient, token: str) -> dict[str, dict[str, Any]]:
    answer = client.get("/api/v1/orders?per_page=100",
                        headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.get_json()
    return {o["order_number"]: o for o in answer.get_json()["items"]}


def _order_form(tab: Page) -> None:  # noqa: F811
    """The order form under the demo contract (chosen first if there are several)."""
    tab.page.get_by_role("button", name="Place an order").click()
    tab.page.wait_for_url("**/trust/orders/new*")
    if not tab.page.get_by_label("Order number").count():
        _submit(tab, "Choose contract")
    assert tab.page.get_by_label("Order number").is_visible()


def test_a_trust_places_an_order_and_a_refused_one_shows_every_failed_check(
        trust: Page, client: FlaskClient, make_token: Callable[..., str]) -> None:
    tab = trust  # noqa: F811
    tab.page.get_by_role("link", name="Orders", exact=True).click()
    tab.page.wait_for_url("**/trust/orders")
    assert _h1(tab) == "Orders"
    listing = tab.page.locator("main table").inner_text()
    assert DEMO_ORDER in listing and DEMO_INVOICE in listing and "£" in listing
    tab.assert_accessible()

    tab.page.get_by_role("link", name=DEMO_ORDER).click()
    tab.page.wait_for_url("**/trust/orders/*")
    assert _h1(tab) == f"Order {DEMO_ORDER}"
    main = tab.page.locator("main").inner_text()
    assert "Placed" in main and DEMO_INVOICE in main and "VAT breakdown" in main
    tab.assert_accessible()
    tab.page.get_by_role("link", name="Back to orders").click()

    # A bad quantity: the error summary, what was typed kept.
    _order_form(tab)
    tab.assert_accessible()
    quantities = tab.page.locator("#lines input")
    assert quantities.count() >= 1
    tab.page.get_by_label("Order number").fill("RAL-PO-2026-000500")
    tab.page.get_by_label("Buyer reference").fill("ONC-CC-0042")
    quantities.first.fill("two")
    response = _submit(tab, "Place order")
    assert response.status == 422
    summary = tab.page.locator(".nhsuk-error-summary")
    assert summary.is_visible() and "Quantity of" in summary.inner_text()
    assert tab.page.get_by_label("Order number").input_value() == "RAL-PO-2026-000500"
    assert tab.page.get_by_label("Buyer reference").input_value() == "ONC-CC-0042"
    assert quantities.first.input_value() == "two"
    tab.assert_accessible()

    # Corrected, with the trust's funding: placed.
    quantities.first.fill("1")
    funding = tab.page.get_by_label("Funding allocation (optional)")
    allocation = funding.locator("option").nth(1).get_attribute("value")
    funding.select_option(allocation)
    response = _submit(tab, "Place order")
    assert response.status == 200 and "/trust/orders/" in tab.page.url
    assert _h1(tab) == "Order RAL-PO-2026-000500"
    assert "Placed" in tab.page.locator("main dl").first.inner_text()
    assert not tab.page.locator(".nhsuk-warning-callout").count()
    tab.assert_accessible()
    token = make_token("trust_system", "RAL")
    placed = _orders(client, token)["RAL-PO-2026-000500"]
    assert placed["status"] == "placed" and placed["buyer_reference"] == "ONC-CC-0042"
    assert [line["quantity"] for line in placed["lines"]] == [1]
    assert placed["funding_allocation_id"] == allocation and placed["gross_pence"] > 0

    # Far more than the contract allows: refused, and every failed check shown.
    tab.page.get_by_role("link", name="Back to orders").click()
    _order_form(tab)
    tab.page.get_by_label("Order number").fill("RAL-PO-2026-000501")
    tab.page.get_by_label("Buyer reference").fill("ONC-CC-0043")
    tab.page.locator("#lines input").first.fill("5")  # the contract allows 4
    response = _submit(tab, "Place order")
    assert response.status == 200 and _h1(tab) == "Order RAL-PO-2026-000501"
    callout = tab.page.locator(".nhsuk-warning-callout")
    assert "This order was refused" in callout.inner_text()
    refused = _orders(client, token)["RAL-PO-2026-000501"]
    assert refused["status"] == "rejected" and refused["failed_checks"]
    shown = callout.locator("#failed-checks li")
    assert shown.count() == len(refused["failed_checks"])
    for check in refused["failed_checks"]:
        assert check["reason"] in callout.inner_text()
    assert "Over the contract" in callout.inner_text()
    tab.assert_accessible()
    tab.page.get_by_role("link", name="Back to orders").click()
    assert "Refused" in tab.page.locator("main table").inner_text()
    assert tab.refused == []


def test_an_invoice_shows_its_vat_and_paying_without_stripe_names_what_to_set(
        trust: Page) -> None:
    tab = trust  # noqa: F811
    tab.goto("/trust/orders")
    tab.page.get_by_role("link", name=DEMO_INVOICE).first.click()
    tab.page.wait_for_url("**/trust/invoices/*")
    assert _h1(tab) == f"Invoice {DEMO_INVOICE}"
    main = tab.page.locator("main").inner_text()
    assert "VAT breakdown" in main and "Invoiced items" in main and "No payments yet" in main
    method = tab.page.get_by_label("Stripe PaymentMethod id")
    assert method.input_value() == "pm_card_visa"
    tab.assert_accessible()

    method.fill("card 4242")
    response = _submit(tab, "Pay")
    assert response.status == 422
    assert tab.page.locator(".nhsuk-error-summary").is_visible()
    assert tab.page.get_by_label("Stripe PaymentMethod id").input_value() == "card 4242"
    tab.assert_accessible()

    tab.page.get_by_label("Stripe PaymentMethod id").fill("pm_card_visa")
    response = _submit(tab, "Pay")
    assert response.status == 503
    callout = tab.page.locator("#payments-unavailable").inner_text()
    assert "Payments are disabled: set" in callout and "STRIPE_API_KEY" in callout
    tab.assert_accessible()
    assert tab.refused == []


def test_the_route_conformance_page_shows_the_trusts_state_and_lag(
        trust: Page, uow_factory: Callable[..., UnitOfWork]) -> None:
    tab = trust  # noqa: F811
    tab.page.get_by_role("link", name="Route conformance").click()
    tab.page.wait_for_url("**/trust/conformance")
    assert _h1(tab) == "Route conformance"
    assert "No acknowledgement from RAL" in tab.page.locator("#own-conformance").inner_text()
    tab.assert_accessible()

    with uow_factory() as uow:
        now = uow.now()
        uow.session.add(TrustConformance(
            trust_ods="RAL", route_version="1.0.0", last_sequence={}, state_hash="a" * 64,
            applied_count=0, acked_at=now, received_at=now, ack_id="ack-1", ack_sequence=1,
            position_since=now, acks_received=1))
        uow.commit()
    tab.page.reload()
    own = tab.page.locator("#own-conformance").inner_text()
    assert any(word in own for word in ("Current", "Lagging")) and "1.0.0" in own
    assert "RAL" in tab.page.locator("main table").inner_text()
    tab.assert_accessible()
    assert tab.refused == []


def test_trust_pages_ask_to_sign_in_and_refuse_other_roles(
        demo: None, tab: Page, uow_factory: Callable[..., UnitOfWork]) -> None:  # noqa: F811
    tab.goto("/trust/orders/new")
    assert "/sign-in" in tab.page.url and "next=" in tab.page.url
    sign_in(tab, add_person(uow_factory, "innovator", "11122233"))
    response = tab.goto("/trust/orders")
    assert response.status == 403
    tab.assert_accessible()
