"""The central assessor's and the funder's pages in a real browser: the review queue, a
submission reviewed and decided, an approval suspended, reinstated and revoked; a funder's
pots, a pot created, money allocated (over-allocation shown as an error), an allocation
changed. axe-core on every page visited, error states included."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from marketplace.kernel.unit_of_work import UnitOfWork
from tests.browser_support import Page, add_person, browser, live, sign_in, tab  # noqa: F401
from tests.catalogue_support import World
from tests.conftest import Clock, bearer

pytestmark = pytest.mark.browser


@pytest.fixture
def world(client: FlaskClient, clock: Clock, uow_factory: Callable[..., UnitOfWork],
          make_token: Callable[..., str]) -> World:
    return World(client, clock, uow_factory, make_token)


def _h1(tab: Page) -> str:  # noqa: F811
    return str(tab.page.locator("h1").inner_text())


def _status(tab: Page) -> str:  # noqa: F811
    return str(tab.page.locator("#approval-status").inner_text())


def _api(client: FlaskClient, token: str, path: str) -> Any:
    response = client.get(f"/api/v1{path}", headers=bearer(token))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_the_assessor_reviews_a_submission_and_decides(world: World, tab: Page,  # noqa: F811
                                                       uow_factory: Any,
                                                       client: FlaskClient) -> None:
    token = world.token("assessor")
    approval = world.submit(world.published()["id"])
    sign_in(tab, add_person(uow_factory, "assessor", "X24"))
    page = tab.page
    page.get_by_role("link", name="Review queue").click()
    page.wait_for_url("**/review")
    assert _h1(tab) == "Review queue"
    assert "1 approval submitted" in page.locator("main h2").first.inner_text()
    tab.assert_accessible()

    page.locator("#queue a").first.click()
    page.wait_for_url(f"**/review/{approval['id']}")
    main = page.locator("main").inner_text()
    assert "C1 Clinical safety (DCB0129)" in main and "Dr Priya Shah" in main
    assert "Hazard log" in page.locator("#evidence").inner_text()
    assert "Submitted" in _status(tab)
    tab.assert_accessible()
    page.get_by_role("button", name="Start review").click()
    page.wait_for_load_state()
    assert "Under review" in _status(tab)
    tab.assert_accessible()

    # Approve with conditions, but no condition: the service's 422, values kept.
    page.get_by_label("Decision", exact=True).select_option("conditional")
    for key in ("c1", "c2", "c3", "d"):
        page.locator(f"#dtac_{key}").select_option("pass")
    page.locator("#dtac_c4").select_option("conditional")
    page.get_by_label("D score (percent, optional)").fill("86")
    page.get_by_role("button", name="Record decision").click()
    page.wait_for_load_state()
    summary = page.locator(".nhsuk-error-summary")
    assert summary.is_visible() and "at least one condition" in summary.inner_text()
    assert page.get_by_label("D score (percent, optional)").input_value() == "86"
    assert page.locator("#dtac_c4").input_value() == "conditional"
    tab.assert_accessible()

    page.get_by_label("Condition 1", exact=True).fill("Publish a FHIR UK Core interface.")
    page.get_by_label("Condition 1 due date (optional)").fill("2027-09-30")
    page.get_by_role("button", name="Record decision").click()
    page.wait_for_url(f"**/review/{approval['id']}")
    assert "Conditional" in _status(tab)
    assert "30 September 2027" in page.locator("#conditions").inner_text()
    tab.assert_accessible()
    stored = _api(client, token, f"/approvals/{approval['id']}")
    assert stored["status"] == "conditional" and stored["dtac"]["c4"] == "conditional"
    assert stored["dtac"]["d_score"] == 86 and stored["conditions"][0]["due_on"] == "2027-09-30"
    assert tab.refused == []


def test_the_assessor_suspends_reinstates_and_revokes(world: World, tab: Page,  # noqa: F811
                                                      uow_factory: Any,
                                                      client: FlaskClient) -> None:
    approval = world.approval_in("approved")
    token = world.token("assessor")
    sign_in(tab, add_person(uow_factory, "assessor", "X24"))
    page = tab.page
    tab.goto(f"/review/{approval['id']}")
    assert "Approved" in _status(tab)
    tab.assert_accessible()

    page.get_by_label("Explain the suspension").fill("Field safety notice under review.")
    page.get_by_role("button", name="Suspend approval").click()
    page.wait_for_load_state()
    summary = page.locator(".nhsuk-error-summary")
    assert summary.is_visible() and "Suspend: reason code" in summary.inner_text()
    assert page.get_by_label("Explain the suspension").input_value() == \
        "Field safety notice under review."
    tab.assert_accessible()
    page.get_by_label("Reason for suspending").select_option("safety_concern")
    page.get_by_role("button", name="Suspend approval").click()
    page.wait_for_url(f"**/review/{approval['id']}")
    assert "Suspended" in _status(tab) and "Safety concern" in _status(tab)
    tab.assert_accessible()
    assert _api(client, token, f"/approvals/{approval['id']}")["status"] == "suspended"

    page.get_by_label("Why the suspension is lifted").fill("Investigation closed.")
    page.get_by_role("button", name="Reinstate approval").click()
    page.wait_for_url(f"**/review/{approval['id']}")
    assert "Approved" in _status(tab) and "Investigation closed." in _status(tab)
    tab.assert_accessible()

    page.get_by_label("Reason for revoking").select_option("regulatory_action")
    page.get_by_label("Explain the revocation").fill("MHRA withdrew the device's mark.")
    page.get_by_role("button", name="Revoke approval").click()
    page.wait_for_url(f"**/review/{approval['id']}")
    assert "Revoked" in _status(tab)
    assert page.get_by_role("button", name="Revoke approval").count() == 0
    tab.assert_accessible()
    assert _api(client, token, f"/approvals/{approval['id']}")["status"] == "revoked"


def test_review_pages_are_for_assessors_only(tab: Page, uow_factory: Any,  # noqa: F811
                                             make_token: Callable[..., str]) -> None:
    response = tab.goto("/review")
    assert "/sign-in?next=/review" in tab.page.url and response.status == 200
    make_token("funder", "X26")
    sign_in(tab, add_person(uow_factory, "funder", "X26"))
    assert tab.goto("/review").status == 403
    assert tab.page.get_by_role("link", name="Review queue").count() == 0
    tab.assert_accessible()


def test_the_funder_creates_a_pot_allocates_and_changes(tab: Page,  # noqa: F811
                                                        uow_factory: Any,
                                                        make_token: Callable[..., str],
                                                        client: FlaskClient) -> None:
    make_token("trust_system", "R0A")
    token = make_token("funder", "X26")
    sign_in(tab, add_person(uow_factory, "funder", "X26"))
    page = tab.page
    page.get_by_role("link", name="Funding pots").click()
    page.wait_for_url("**/fund")
    assert _h1(tab) == "Funding pots" and "0 funding pots" in page.locator("main").inner_text()
    tab.assert_accessible()

    page.get_by_role("button", name="Create a pot").click()
    page.wait_for_url("**/fund/new")
    tab.assert_accessible()
    page.get_by_label("Title").fill("Early cancer diagnosis adoption")
    page.get_by_label("Funder type").select_option("pharma_joint_working")
    page.get_by_label("Amount, in pounds").fill("100000")
    page.get_by_label("Financial year").fill("2026/27")
    page.get_by_label("Period start").fill("2026-04-01")
    page.get_by_label("Period end").fill("2027-03-31")
    page.get_by_label("Conditions").fill("For adoption of approved diagnostics.")
    page.get_by_role("button", name="Create pot").click()
    page.wait_for_load_state()
    summary = page.locator(".nhsuk-error-summary")
    assert summary.is_visible() and "Agreement summary" in summary.inner_text()
    assert "Transfer of value" in summary.inner_text()
    assert page.get_by_label("Title").input_value() == "Early cancer diagnosis adoption"
    assert page.get_by_label("Amount, in pounds").input_value() == "100000"
    tab.assert_accessible()
    page.get_by_label("Agreement summary").fill("Joint working on faster diagnosis.")
    page.get_by_label("Transfer of value, in pounds").fill("25000")
    page.get_by_role("button", name="Create pot").click()
    page.wait_for_url("**/fund/*")
    assert _h1(tab) == "Early cancer diagnosis adoption"
    facts = page.locator("#pot-facts").inner_text()
    assert "£100,000.00" in facts and "£25,000.00" in facts and "1 April 2026" in facts
    tab.assert_accessible()
    pot_id = page.url.rsplit("/", 1)[1]

    page.get_by_label("Recipient ODS code").fill("R0A")
    page.get_by_label("Amount, in pounds").fill("60000")
    page.get_by_label("Purpose").fill("Diagnostic pathway adoption")
    page.get_by_role("button", name="Allocate").click()
    page.wait_for_url(f"**/fund/{pot_id}")
    assert "£40,000.00" in page.locator("#pot-facts").inner_text()
    assert "Allocated" in page.locator("main table").first.inner_text()
    tab.assert_accessible()

    # More than is left: the 409 in the error summary, what was typed kept.
    page.get_by_label("Recipient ODS code").fill("R0A")
    page.get_by_label("Amount, in pounds").fill("50000")
    page.get_by_label("Purpose").fill("Second wave")
    with page.expect_response(lambda r: r.url.endswith("/allocations")) as info:
        page.get_by_role("button", name="Allocate").click()
    response = info.value
    page.wait_for_load_state()
    assert response.status == 409
    summary = page.locator(".nhsuk-error-summary")
    assert "£40,000.00 left" in summary.inner_text()
    assert page.get_by_label("Amount, in pounds").input_value() == "50000"
    assert page.get_by_label("Purpose").input_value() == "Second wave"
    tab.assert_accessible()

    page.get_by_role("link", name="Change the allocation").click()
    page.wait_for_url(f"**/fund/{pot_id}/allocations/*")
    tab.assert_accessible()
    page.get_by_label("Kind of change").select_option("increase")
    page.get_by_label("New amount, in pounds").fill("70000")
    page.get_by_label("Reason code").select_option("reprofiled")
    page.get_by_label("Reason", exact=True).fill("Second site joins.")
    page.get_by_role("button", name="Make the change").click()
    page.wait_for_load_state()
    assert page.locator(".nhsuk-error-summary").is_visible()
    assert page.get_by_label("New amount, in pounds").input_value() == "70000"
    tab.assert_accessible()
    page.get_by_label("Reason code").select_option("additional_funding")
    page.get_by_role("button", name="Make the change").click()
    page.wait_for_url(f"**/fund/{pot_id}/allocations/*")
    history = page.locator("main table").inner_text()
    assert "Increased" in history and "£70,000.00" in history and "Second site joins." in history
    tab.assert_accessible()

    # Changed meanwhile (through the API): the page's version is stale, a 412 it explains.
    allocation_path = page.url.removeprefix(tab.base_url).replace("/fund/", "/funding/")
    current = client.get(f"/api/v1{allocation_path}").get_json()
    changed = client.post(f"/api/v1{allocation_path}/changes", json={
        "kind": "reduce", "amount_pence": 6_500_000, "reason_code": "underspend",
        "reason": "Lower uptake."}, headers={**bearer(token), "Idempotency-Key": "k-1",
                                             "If-Match": f'"{current["version"]}"'})
    assert changed.status_code == 201, changed.get_data(as_text=True)
    page.get_by_label("Kind of change").select_option("withdraw")
    page.get_by_label("Reason code").select_option("scope_change")
    page.get_by_label("Reason", exact=True).fill("Pathway redesigned.")
    with page.expect_response(lambda r: r.url.endswith("/changes")) as info:
        page.get_by_role("button", name="Make the change").click()
    assert info.value.status == 412
    page.wait_for_load_state()
    assert "changed since you read it" in page.locator(".nhsuk-error-summary").inner_text()
    assert "Lower uptake." in page.locator("main table").inner_text()
    tab.assert_accessible()

    pot = client.get(f"/api/v1/funding/{pot_id}").get_json()
    assert pot["allocated_pence"] == 6_500_000
    assert [r["kind"] for r in pot["allocations"][0]["revisions"]] == [
        "allocate", "increase", "reduce"]
    listed = _api(client, token, "/funding?owner=X26")
    assert [p["id"] for p in listed["items"]] == [pot_id]
    assert tab.refused == []
