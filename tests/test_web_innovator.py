"""The innovator's pages in a real browser: its listings, listing and publishing an
innovation, the demand it matches (and near misses with what it lacks), evidence uploads
and the DTAC submission for central approval; axe-core on every page."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from marketplace.demo import seed
from marketplace.kernel.unit_of_work import UnitOfWork
from tests.browser_support import Page, add_person, browser, live, sign_in, tab  # noqa: F401

pytestmark = pytest.mark.browser

CLEARPATH = "09876543"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture
def demo(uow_factory: Callable[..., UnitOfWork], tmp_path: Path) -> None:
    with uow_factory() as uow:
        list(seed(uow, tmp_path / "evidence"))
        uow.commit()


@pytest.fixture
def innovator(demo: None, uow_factory: Callable[..., UnitOfWork], tab: Page  # noqa: F811
              ) -> Page:
    sign_in(tab, add_person(uow_factory, "innovator", CLEARPATH))
    return tab


def _api(client: FlaskClient, token: str, method: str, path: str, **kwargs: Any) -> Any:
    response = client.open(f"/api/v1{path}", method=method,
                           headers={"Authorization": f"Bearer {token}"}, **kwargs)
    assert response.status_code < 300, response.get_data(as_text=True)
    return response.get_json()


def _new_listing(tab: Page, name: str) -> str:  # noqa: F811
    """List and publish a triage listing through the pages; returns its id."""
    page = tab.page
    page.get_by_role("link", name="List an innovation").click()
    page.wait_for_url("**/my/innovations/new")
    page.get_by_label("Product name").fill(name)
    page.get_by_label("Summary").fill("Triages urgent suspected cancer referrals to test.")
    page.get_by_label("Product version").fill("1.0.0")
    page.get_by_label("Categories").fill("cancer.triage")
    page.get_by_label("Referral triage").check()
    page.get_by_label("NICE evidence standards tier").select_option("C")
    page.get_by_label("Medical device class").select_option("not_a_device")
    page.get_by_label("Conformity mark").select_option("none")
    page.get_by_label("Pricing model").select_option("per_patient")
    page.get_by_role("button", name="Save as draft").click()
    page.wait_for_url("**/my/innovations/*")
    assert page.locator("#listing-status").inner_text() == "Draft"
    tab.assert_accessible()
    page.get_by_role("button", name="Publish this listing").click()
    page.wait_for_load_state()
    assert page.locator("#listing-status").inner_text() == "Published"
    return page.url.rstrip("/").rsplit("/", 1)[-1]


def test_an_innovator_lists_publishes_and_sees_matching_demand(
        innovator: Page, client: FlaskClient, make_token: Callable[..., str]) -> None:
    tab, page = innovator, innovator.page  # noqa: F811
    page.get_by_role("link", name="Your listings").click()
    page.wait_for_url("**/my/innovations")
    assert page.locator("h1").inner_text() == "Your listings"
    before = page.locator("table tbody tr").count()
    tab.assert_accessible()
    # An invalid listing: the error summary, the values kept.
    page.get_by_role("link", name="List an innovation").click()
    page.get_by_label("Summary").fill("Kept summary")
    page.get_by_label("Categories").fill("Not A Category")
    page.get_by_role("button", name="Save as draft").click()
    page.wait_for_load_state()
    summary = page.locator(".nhsuk-error-summary")
    assert summary.is_visible()
    assert "Product name" in summary.inner_text() and "Categories" in summary.inner_text()
    assert page.get_by_label("Summary").input_value() == "Kept summary"
    assert page.get_by_label("Categories").input_value() == "Not A Category"
    tab.assert_accessible()
    page.get_by_role("link", name="Back to your listings").click()

    listing_id = _new_listing(tab, "Clearpath Referral Sorter")
    shown = _api(client, make_token("innovator", CLEARPATH), "GET",
                 f"/innovations/{listing_id}")
    assert shown["status"] == "published" and shown["categories"] == ["cancer.triage"]
    page.get_by_role("link", name="Back to your listings").click()
    assert page.locator("table tbody tr").count() == before + 1
    assert "Clearpath Referral Sorter" in page.locator("table").inner_text()

    page.get_by_role("link", name="Clearpath Referral Sorter").click()
    page.get_by_role("link", name="Matching demand").click()
    page.wait_for_url(f"**/my/innovations/{listing_id}/demand")
    matched = page.locator("table").inner_text()
    # Needs no central approval, tier B or above: a match.
    assert "Digital pre-assessment for people worried about cancer symptoms" in matched
    # Needs a central approval this new listing lacks: a near miss, saying so.
    near = page.locator(".nhsuk-card", has_text="Faster diagnosis for urgent suspected")
    assert "No central approval" in near.locator(".near-miss-lacks").inner_text()
    api = _api(client, make_token("innovator", CLEARPATH), "GET",
               f"/innovations/{listing_id}/demand")
    assert api["items"] and all(s["title"] in matched for s in api["items"])
    tab.assert_accessible()
    assert tab.refused == []


def test_an_innovator_uploads_evidence_and_submits_for_approval(
        innovator: Page, client: FlaskClient, make_token: Callable[..., str]) -> None:
    tab, page = innovator, innovator.page  # noqa: F811
    page.get_by_role("link", name="Your listings").click()
    listing_id = _new_listing(tab, "Clearpath Consent Check")
    page.get_by_role("link", name="Evidence files").click()
    page.wait_for_url(f"**/my/innovations/{listing_id}/evidence")
    tab.assert_accessible()
    # No file chosen: the error summary, the title kept.
    page.get_by_label("Kind of document").select_option("dcb0129_safety_case")
    page.get_by_label("Title").fill("Safety case v1")
    page.get_by_role("button", name="Upload").click()
    page.wait_for_load_state()
    assert "Choose the file" in page.locator(".nhsuk-error-summary").inner_text()
    assert page.get_by_label("Title").input_value() == "Safety case v1"
    tab.assert_accessible()
    for kind, title in (("dcb0129_safety_case", "Safety case v1"),
                        ("hazard_log", "Hazard log v1"), ("dpia", "DPIA 2026")):
        page.get_by_label("Kind of document").select_option(kind)
        page.get_by_label("Title").fill(title)
        page.get_by_label("File", exact=True).set_input_files(
            {"name": f"{kind}.pdf", "mimeType": "application/pdf", "buffer": PDF})
        page.get_by_role("button", name="Upload").click()
        page.wait_for_load_state()
        assert title in page.locator("table").inner_text()
    token = make_token("innovator", CLEARPATH)
    files = _api(client, token, "GET", f"/innovations/{listing_id}/evidence")["items"]
    assert sorted(f["kind"] for f in files) == ["dcb0129_safety_case", "dpia", "hazard_log"]
    assert all(f["size_bytes"] == len(PDF) for f in files)
    tab.assert_accessible()

    page.get_by_role("link", name="Back to Clearpath Consent Check").click()
    page.get_by_role("link", name="Submit for central approval").click()
    page.wait_for_url(f"**/my/innovations/{listing_id}/approval")
    tab.assert_accessible()
    fill = page.get_by_label
    fill("Clinical safety case (DCB0129)").select_option(label="Safety case v1 "
                                                          "(dcb0129_safety_case.pdf)")
    fill("Hazard log").select_option(label="Hazard log v1 (hazard_log.pdf)")
    fill("Clinical safety officer", exact=True).fill("Dr Priya Shah")
    fill("Their professional registration").fill("GMC 7654321")
    fill("ICO registration number").fill("not an ICO number")
    fill("Data protection impact assessment").select_option(label="DPIA 2026 (dpia.pdf)")
    fill("DSPT status").select_option("standards_met")
    fill("DSPT year").fill("2025-26")
    fill("Cyber Essentials level").select_option("cyber_essentials_plus")
    fill("Cyber Essentials certificate expires on").fill("2027-10-31")
    fill("Privileged and remote access use multi-factor authentication").check()
    fill("Interoperability standards").fill("FHIR UK Core")
    fill("WCAG 2.2 level claimed").select_option("AA")
    fill("Medical device class").select_option("not_a_device")
    fill("Conformity mark").select_option("none")
    fill("NICE evidence standards tier").select_option("C")
    page.get_by_role("button", name="Submit for approval").click()
    page.wait_for_load_state()
    summary = page.locator(".nhsuk-error-summary")
    assert "ICO registration number" in summary.inner_text()
    assert fill("Clinical safety officer", exact=True).input_value() == "Dr Priya Shah"
    assert fill("DSPT year").input_value() == "2025-26"
    tab.assert_accessible()
    fill("ICO registration number").fill("ZA123456")
    page.get_by_role("button", name="Submit for approval").click()
    page.wait_for_url(f"**/my/innovations/{listing_id}")
    assert page.locator("#approval-status").inner_text() == "Submitted"
    tab.assert_accessible()
    shown = _api(client, token, "GET", f"/innovations/{listing_id}")
    assert shown["current_approval"]["status"] == "submitted"
    assert tab.refused == []


def test_an_anonymous_visitor_is_sent_to_sign_in_and_other_roles_refused(
        demo: None, tab: Page, uow_factory: Callable[..., UnitOfWork]) -> None:  # noqa: F811
    tab.goto("/my/innovations")
    assert "/sign-in?next=/my/innovations" in tab.page.url
    sign_in(tab, add_person(uow_factory, "assessor", "X24"))
    response = tab.goto("/my/innovations")
    assert response.status == 403
    tab.assert_accessible()


CONSENTIC = "11122233"
OPEN_TENDER = "Translated cancer patient information for Greater Manchester"
AWARDED_TENDER = "Digital consent for systemic anti-cancer therapy"


def test_an_innovator_asks_responds_withdraws_and_reads_its_outcome(
        demo: None, tab: Page, uow_factory: Callable[..., UnitOfWork],  # noqa: F811
        client: FlaskClient, make_token: Callable[..., str]) -> None:
    sign_in(tab, add_person(uow_factory, "innovator", CONSENTIC))
    page = tab.page
    page.get_by_role("link", name="Your listings").click()
    page.get_by_role("link", name="Tenders you can respond to").click()
    page.wait_for_url("**/my/tenders")
    tab.assert_accessible()
    page.get_by_role("link", name=OPEN_TENDER).click()
    tender_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    tab.assert_accessible()
    page.get_by_label("Your question").fill("Are Welsh and Irish in scope?")
    page.get_by_role("button", name="Ask the question").click()
    page.wait_for_url("**?asked=1")
    assert page.locator("#asked").is_visible()
    token = make_token("innovator", CONSENTIC)
    asked = _api(client, token, "GET", f"/tenders/{tender_id}/questions")["items"]
    assert any(q["question"] == "Are Welsh and Irish in scope?" for q in asked)

    page.get_by_role("link", name="Respond with a listing").click()
    page.wait_for_url(f"**/my/tenders/{tender_id}/respond")
    tab.assert_accessible()
    page.get_by_label("Listing").select_option(label="Consentic eConsent")
    page.get_by_label("Total price").fill("84,000.00")
    page.get_by_label("Clinical quality, safety and accessibility").fill("Reviewed content.")
    page.get_by_role("button", name="Send the response").click()  # two answers missing
    page.wait_for_load_state()
    summary = page.locator(".nhsuk-error-summary")
    assert "Implementation and integration" in summary.inner_text()
    assert page.get_by_label("Total price").input_value() == "84,000.00"
    tab.assert_accessible()
    page.get_by_label("Implementation and integration with trust systems").fill("FHIR.")
    page.get_by_label("Social value: digital inclusion").fill("Offline packs.")
    page.get_by_role("button", name="Send the response").click()
    page.wait_for_url(f"**/my/tenders/{tender_id}")
    row = page.locator("table tbody tr", has_text="Consentic eConsent")
    assert "£84,000" in row.inner_text() and row.locator(".response-status").inner_text() \
        == "Submitted"
    tab.assert_accessible()
    sent = _api(client, token, "GET", f"/tenders/{tender_id}/responses")["items"]
    assert [(r["price_pence"], r["status"]) for r in sent] == [(8_400_000, "submitted")]
    row.get_by_role("button", name="Withdraw").click()
    page.wait_for_load_state()
    assert page.locator(".response-status").inner_text() == "Withdrawn"
    sent = _api(client, token, "GET", f"/tenders/{tender_id}/responses")["items"]
    assert [r["status"] for r in sent] == ["withdrawn"]

    page.get_by_role("link", name="Back to tenders").click()
    page.get_by_role("link", name=AWARDED_TENDER).click()
    page.get_by_role("link", name="Your assessment summary").click()
    page.wait_for_url("**/outcome")
    assert page.locator("#verdict").inner_text() == "Your response won the award."
    assert "Clinical quality" in page.locator("table").first.inner_text()
    tab.assert_accessible()
    assert tab.refused == []


def test_a_supplier_invoices_what_is_left_of_its_order(
        demo: None, tab: Page, uow_factory: Callable[..., UnitOfWork],  # noqa: F811
        client: FlaskClient, make_token: Callable[..., str]) -> None:
    sign_in(tab, add_person(uow_factory, "innovator", CONSENTIC))
    page = tab.page
    page.get_by_role("link", name="Your listings").click()
    page.get_by_role("link", name="Your orders").click()
    page.wait_for_url("**/my/orders")
    tab.assert_accessible()
    page.get_by_role("link", name="RAL-PO-2026-000417").click()
    page.wait_for_url("**/invoice")
    assert page.locator("h1").inner_text() == "Invoice order RAL-PO-2026-000417"
    tab.assert_accessible()
    page.get_by_label("Invoice number").fill("CON-INV-0417-2")
    page.get_by_label("Invoice date").fill("2026-11-21")
    onboarding = page.get_by_label("Quantity of Clinical onboarding day")
    onboarding.fill("3")  # 2 ordered, none invoiced yet
    page.get_by_role("button", name="Issue the invoice").click()
    page.wait_for_load_state()
    assert "2 of 2 left to invoice" in page.locator(".nhsuk-error-summary").inner_text()
    assert page.get_by_label("Invoice number").input_value() == "CON-INV-0417-2"
    tab.assert_accessible()
    page.get_by_label("Quantity of Clinical onboarding day").fill("2")
    page.get_by_role("button", name="Issue the invoice").click()
    page.wait_for_url("**/my/orders?invoiced=1")
    assert "CON-INV-0417-2" in page.locator("table").inner_text()
    tab.assert_accessible()
    token = make_token("innovator", CONSENTIC)
    order = next(o for o in _api(client, token, "GET", "/orders")["items"]
                 if o["order_number"] == "RAL-PO-2026-000417")
    assert "CON-INV-0417-2" in [i["invoice_number"] for i in order["invoices"]]
    assert all(line["invoiced_quantity"] == line["quantity"] for line in order["lines"])
    assert tab.refused == []
