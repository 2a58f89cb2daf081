"""The ICB buyer's pages in a real browser: demand signals (post, matches, close), a
tender drafted, published and answered, its responses opened at the deadline, scored,
ranked and awarded, and the contract that cannot be signed during the standstill and is
signed after it; axe-core on every page."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from marketplace.demo import seed
from marketplace.http.wiring import marketplace_of
from marketplace.kernel.unit_of_work import UnitOfWork
from tests.browser_support import Page, add_person, browser, live, sign_in, tab  # noqa: F401

pytestmark = pytest.mark.browser

API = "/api/v1"


@pytest.fixture
def demo(uow_factory: Callable[..., UnitOfWork], tmp_path: Path) -> None:
    with uow_factory() as uow:
        list(seed(uow, tmp_path / "evidence"))
        uow.commit()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _h1(tab: Page) -> str:  # noqa: F811
    return str(tab.page.locator("h1").inner_text())


def _buyer(tab: Page, uow_factory: Any) -> None:  # noqa: F811
    tab.page.set_default_timeout(5000)
    sign_in(tab, add_person(uow_factory, "icb_buyer", "QOP"))


def test_a_buyer_posts_a_signal_sees_its_matches_and_closes_it(
        demo: None, tab: Page, uow_factory: Any, client: FlaskClient,  # noqa: F811
        make_token: Any) -> None:
    _buyer(tab, uow_factory)
    tab.page.get_by_role("link", name="Demand signals").click()
    tab.page.wait_for_url("**/buy/signals")
    assert _h1(tab) == "Demand signals"
    tab.assert_accessible()
    tab.page.get_by_role("button", name="Post a demand signal").click()
    tab.page.wait_for_url("**/buy/signals/new")
    tab.assert_accessible()
    page = tab.page
    page.get_by_label("Title").fill("Faster triage of suspected cancer referrals")
    page.get_by_label("The need").fill("Triage urgent suspected cancer referrals in a day.")
    page.get_by_label("Cancer: triage").check()
    page.get_by_label("Referral triage").check()
    page.get_by_label("Minimum NICE ESF tier").select_option("B")
    page.get_by_label("Population covered (optional)").fill("2800000")
    page.get_by_label("Indicative budget in pounds (optional)").fill("250,000.5x")
    page.get_by_role("button", name="Post the signal").click()
    # Invalid: the budget is not a sum of money; the summary links to it, values kept.
    summary = page.locator(".nhsuk-error-summary")
    assert summary.is_visible()
    assert summary.locator("a").first.get_attribute("href") == "#indicative_budget_pounds"
    assert page.get_by_label("Title").input_value() == \
        "Faster triage of suspected cancer referrals"
    assert page.get_by_label("Cancer: triage").is_checked()
    tab.assert_accessible()
    page.get_by_label("Indicative budget in pounds (optional)").fill("250000")
    page.get_by_label("Needed by (optional)").fill("2027-03-31")
    page.get_by_role("button", name="Post the signal").click()
    page.wait_for_url("**/buy/signals/*")
    assert _h1(tab) == "Faster triage of suspected cancer referrals"
    assert "£250,000.00" in page.locator("main").inner_text()
    assert "31 March 2027" in page.locator("main").inner_text()
    signal_id = page.url.rsplit("/", 1)[1]
    tab.assert_accessible()
    link = page.get_by_role("link", name="Clearpath Referral Triage")
    assert link.is_visible()
    assert "/innovations/" in (link.get_attribute("href") or "")
    # Closing with a tender outcome but no tender: the service's error on the form.
    page.get_by_label("Outcome").select_option("tender_published")
    page.get_by_role("button", name="Close the signal").click()
    assert page.locator(".nhsuk-error-summary").is_visible()
    assert page.get_by_label("Outcome").input_value() == "tender_published"
    tab.assert_accessible()
    page.get_by_label("Outcome").select_option("withdrawn")
    page.get_by_role("button", name="Close the signal").click()
    page.wait_for_url(f"**/buy/signals/{signal_id}")
    assert "Closed: Withdrawn" in page.locator("#signal-status").inner_text()
    tab.assert_accessible()
    api = client.get(f"{API}/demand-signals/{signal_id}").get_json()
    assert api["status"] == "closed" and api["outcome"] == "withdrawn"
    assert api["indicative_budget_pence"] == 25_000_000 and api["icb"]["code"] == "QOP"
    page.get_by_role("link", name="Back to demand signals").click()
    assert page.get_by_role("link", name="Faster triage of suspected cancer referrals") \
        .is_visible()
    tab.assert_accessible()
    assert tab.refused == []


def _fill_tender(page: Any) -> None:
    page.get_by_label("Title", exact=True).fill("AI triage of urgent cancer referrals")
    page.get_by_label("Description").fill("Triage of suspected cancer referrals at R0A.")
    page.get_by_label("Cancer: triage").check()
    page.get_by_label("Referral triage").check()
    page.get_by_label("Estimated value in pounds").fill("250000")
    page.get_by_label("Contract term in months").fill("24")
    page.get_by_label("Clarification deadline").fill("2026-12-01T12:00")
    page.get_by_label("Submission deadline").fill("2026-12-10T12:00")
    page.get_by_label("Minimum NICE ESF tier").select_option("A")


def test_a_buyer_runs_a_tender_to_award_and_signs_after_the_standstill(
        demo: None, tab: Page, uow_factory: Any, client: FlaskClient,  # noqa: F811
        make_token: Any, clock: Any) -> None:
    _buyer(tab, uow_factory)
    page = tab.page
    page.get_by_role("link", name="Your tenders").click()
    page.wait_for_url("**/buy/tenders")
    tab.assert_accessible()
    page.get_by_role("button", name="Create a tender").click()
    page.wait_for_url("**/buy/tenders/new")
    tab.assert_accessible()
    _fill_tender(page)
    page.get_by_label("Weight of price criterion 4 in percent").fill("30")  # adds to 110
    page.get_by_role("button", name="Save the draft").click()
    assert page.locator(".nhsuk-error-summary").is_visible()
    assert "add up to 100" in page.locator(".nhsuk-error-summary").inner_text()
    assert page.get_by_label("Clarification deadline").input_value() == "2026-12-01T12:00"
    assert page.get_by_label("Weight of price criterion 4 in percent").input_value() == "30"
    tab.assert_accessible()
    page.get_by_label("Weight of price criterion 4 in percent").fill("20")
    page.get_by_role("button", name="Save the draft").click()
    page.wait_for_url("**/buy/tenders/*")
    tender_id = page.url.rsplit("/", 1)[1]
    assert page.locator("#tender-status").inner_text() == "Draft"
    # UK time: noon on 1 December is noon GMT.
    assert "1 December 2026 at 12:00pm" in page.locator("main").inner_text()
    tab.assert_accessible()
    page.get_by_role("button", name="Publish the tender").click()
    page.wait_for_url(f"**/buy/tenders/{tender_id}")
    assert page.locator("#tender-status").inner_text() == "Published"
    buyer = _bearer(make_token("icb_buyer", "QOP"))
    tender = client.get(f"{API}/tenders/{tender_id}", headers=buyer).get_json()
    assert tender["status"] == "published"
    assert tender["clarification_deadline"].startswith("2026-12-01T12:00:00")
    assert [c["weight_percent"] for c in tender["criteria"]] == [50, 20, 10, 20]

    # An innovator asks a question; the buyer answers it on the page.
    innovator = _bearer(make_token("innovator", "09876543"))
    asked = client.post(f"{API}/tenders/{tender_id}/questions", headers=innovator,
                        json={"question": "Is integration with the e-RS in scope?"})
    assert asked.status_code == 201, asked.get_data(as_text=True)
    page.reload()
    page.get_by_role("button", name="Publish answer 1").click()
    assert page.locator(".nhsuk-error-summary").is_visible()  # a blank answer
    tab.assert_accessible()
    page.get_by_label("Answer to question 1").fill("Yes, through the e-RS API.")
    page.get_by_role("button", name="Publish answer 1").click()
    page.wait_for_url(f"**/buy/tenders/{tender_id}")
    assert "Yes, through the e-RS API." in page.locator("main").inner_text()
    assert "sealed until the submission deadline" in page.locator("main").inner_text()
    tab.assert_accessible()

    # A response from the innovator's approved listing, then the deadline passes.
    listings = client.get(f"{API}/innovations?q=Clearpath Referral Triage").get_json()
    listing = next(i for i in listings["items"] if i["name"] == "Clearpath Referral Triage")
    answers = [{"criterion_id": c["criterion_id"], "text": f"We meet {c['title']}."}
               for c in tender["criteria"] if c["kind"] != "price"]
    sent = client.post(f"{API}/tenders/{tender_id}/responses", headers=innovator,
                       json={"innovation_id": listing["id"], "price_pence": 18_000_000,
                             "answers": answers})
    assert sent.status_code == 201, sent.get_data(as_text=True)
    clock.now = datetime.fromisoformat(tender["submission_closes_at"]) + timedelta(seconds=1)
    with uow_factory() as uow:
        marketplace_of(client.application).scheduler().tick(uow)
        uow.commit()
    _buyer(tab, uow_factory)  # nineteen days on, the earlier sign-in has expired
    tab.goto(f"/buy/tenders/{tender_id}")
    assert page.locator("#tender-status").inner_text() == "Closed"
    assert "£180,000.00" in page.locator("#ranking").inner_text()
    tab.assert_accessible()
    page.get_by_role("link", name="Score the response of 09876543").click()
    page.wait_for_url("**/responses/*")
    assert "We meet Clinical quality and safety." in page.locator("main").inner_text()
    tab.assert_accessible()
    page.get_by_label("Score for Clinical quality and safety").fill("101")
    page.get_by_role("button", name="Save the scores").click()
    assert page.locator(".nhsuk-error-summary").is_visible()
    assert page.get_by_label("Score for Clinical quality and safety").input_value() == "101"
    tab.assert_accessible()
    for title, points in (("Clinical quality and safety", "80"),
                          ("Implementation and integration", "70"),
                          ("Social value", "60")):
        page.get_by_label(f"Score for {title}").fill(points)
        page.get_by_label(f"Rationale for {title}").fill(f"Scored {points} on the evidence.")
    page.get_by_role("button", name="Save the scores").click()
    page.wait_for_url(f"**/buy/tenders/{tender_id}")
    assert page.locator("#tender-status").inner_text() == "Evaluated"
    tab.assert_accessible()
    page.get_by_role("button", name="Award to 09876543").click()
    page.wait_for_url(f"**/buy/tenders/{tender_id}")
    assert page.locator("#tender-status").inner_text() == "Awarded"
    tab.assert_accessible()
    assert client.get(f"{API}/tenders/{tender_id}", headers=buyer).get_json()["status"] \
        == "awarded"

    # The contract: signing during the standstill shows the service's reason.
    page.get_by_role("link", name="View the contract").click()
    page.wait_for_url("**/buy/contracts/*")
    contract_id = page.url.rsplit("/", 1)[1]
    tab.assert_accessible()
    page.get_by_role("button", name="Sign the contract").click()
    notice = page.locator("#notice")
    assert notice.is_visible() and "standstill runs until" in notice.inner_text()
    tab.assert_accessible()
    contract = client.get(f"{API}/contracts/{contract_id}", headers=buyer).get_json()
    assert contract["signed_at"] is None
    page.get_by_role("link", name="Contracts").first.click()
    page.wait_for_url("**/buy/contracts")
    assert page.get_by_role("link", name=contract["reference"]).is_visible()
    tab.assert_accessible()

    # Once the standstill has ended, the buyer signs it.
    clock.now = datetime.fromisoformat(contract["standstill_ends_at"]) + timedelta(minutes=1)
    _buyer(tab, uow_factory)  # days on again: a new sign-in
    tab.goto(f"/buy/contracts/{contract_id}")
    page.get_by_role("button", name="Sign the contract").click()
    page.wait_for_load_state()
    assert page.locator("#contract-status").inner_text() == "Active"
    tab.assert_accessible()
    signed = client.get(f"{API}/contracts/{contract_id}", headers=buyer).get_json()
    assert signed["status"] == "active" and signed["signed_at"] is not None
    assert tab.refused == []


def test_a_buyer_cancels_a_draft_and_other_roles_are_refused(
        demo: None, tab: Page, uow_factory: Any, client: FlaskClient,  # noqa: F811
        make_token: Any) -> None:
    assert tab.goto("/buy/signals").url.endswith("/sign-in?next=/buy/signals")
    sign_in(tab, add_person(uow_factory, "innovator", "09876543"))
    assert tab.goto("/buy/tenders").status == 403
    tab.assert_accessible()
    tab.page.get_by_role("button", name="Sign out").click()
    _buyer(tab, uow_factory)
    page = tab.page
    tab.goto("/buy/tenders/new")
    _fill_tender(page)
    page.get_by_role("button", name="Save the draft").click()
    page.wait_for_url("**/buy/tenders/*")
    tender_id = page.url.rsplit("/", 1)[1]
    page.get_by_role("button", name="Cancel the tender").click()
    assert page.locator(".nhsuk-error-summary").is_visible()
    tab.assert_accessible()
    page.get_by_label("Reason", exact=True).select_option("need_changed")
    page.get_by_label("Reason in words").fill("Merged into a regional requirement.")
    page.get_by_role("button", name="Cancel the tender").click()
    page.wait_for_url(f"**/buy/tenders/{tender_id}")
    assert page.locator("#tender-status").inner_text() == "Cancelled"
    tab.assert_accessible()
    buyer = _bearer(make_token("icb_buyer", "QOP"))
    assert client.get(f"{API}/tenders/{tender_id}", headers=buyer).get_json()["status"] \
        == "cancelled"
