"""The public pages in a real browser (Debian's chromium, Playwright): the catalogue with
search and filters, an innovation's page, HTML error pages, the API's documentation;
axe-core on every page; a search done with the keyboard alone (issue 17)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from marketplace.demo import seed
from marketplace.kernel.unit_of_work import UnitOfWork
from tests.browser_support import Page, browser, live, tab  # noqa: F401

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(uow_factory: Callable[..., UnitOfWork], tmp_path: Path) -> None:
    with uow_factory() as uow:
        list(seed(uow, tmp_path / "evidence"))
        uow.commit()


def _h1(tab: Page) -> str:  # noqa: F811
    return str(tab.page.locator("h1").inner_text())


def test_the_catalogue_searches_filters_and_shows_an_innovation(demo: None, tab: Page  # noqa: F811
                                                                ) -> None:
    response = tab.goto("/")
    assert response.status == 200 and _h1(tab) == "Find an approved innovation"
    tab.assert_accessible()
    total = tab.page.locator("main h2").first.inner_text()
    tab.page.get_by_label("Search by name, summary or use").fill("triage")
    tab.page.get_by_label("Pre-approved now only").check()
    tab.page.get_by_role("button", name="Search").click()
    tab.page.wait_for_url("**/?q=triage*")
    found = tab.page.locator("main h2").first.inner_text()
    assert found != total and found.split()[0].isdigit() and int(found.split()[0]) >= 1
    assert tab.page.get_by_label("Search by name, summary or use").input_value() == "triage"
    assert tab.page.get_by_label("Pre-approved now only").is_checked()
    tab.assert_accessible()
    tab.page.locator(".nhsuk-card__link").first.click()
    tab.page.wait_for_url("**/innovations/*")
    assert tab.page.get_by_role("heading", name="Central approval").is_visible()
    table = tab.page.locator("table").inner_text()
    assert "C1 Clinical safety" in table and "D Usability and accessibility" in table
    tab.assert_accessible()
    assert tab.refused == []


def test_a_search_done_with_the_keyboard_alone(demo: None, tab: Page) -> None:  # noqa: F811
    tab.goto("/")
    keyboard = tab.page.keyboard
    keyboard.press("Tab")  # the skip link comes first
    assert tab.page.evaluate("document.activeElement.textContent").strip() == \
        "Skip to main content"
    keyboard.press("Enter")
    keyboard.press("Tab")  # the first field of the main content
    assert tab.page.evaluate("document.activeElement.id") == "q"
    keyboard.type("consent")
    keyboard.press("Enter")
    tab.page.wait_for_url("**/?q=consent*")
    assert "innovation" in tab.page.locator("main h2").first.inner_text()


def test_a_bad_filter_is_an_error_summary_linked_to_its_field(tab: Page) -> None:  # noqa: F811
    response = tab.goto("/?esf_tier=Z&q=kept")
    assert response.status == 422
    summary = tab.page.locator(".nhsuk-error-summary")
    assert summary.is_visible()
    assert summary.locator("a").first.get_attribute("href") == "#esf_tier"
    assert tab.page.get_by_label("Search by name, summary or use").input_value() == "kept"
    tab.assert_accessible()


def test_pages_answer_errors_in_html_and_the_api_in_problem_json(tab: Page,  # noqa: F811
                                                                 client: FlaskClient) -> None:
    response = tab.goto("/no-such-page")
    assert response.status == 404 and _h1(tab) == "Page not found"
    tab.assert_accessible()
    response = tab.goto("/innovations/no-such-listing")
    assert response.status == 404 and _h1(tab) == "Page not found"
    api = client.get("/api/v1/no-such-endpoint")
    assert api.status_code == 404 and api.mimetype == "application/problem+json"


def test_the_api_is_documented_for_people_from_local_files(tab: Page) -> None:  # noqa: F811
    tab.goto("/api/v1/docs")
    title = tab.page.locator(".swagger-ui .title").first
    title.wait_for(timeout=10_000)
    assert "Marketplace" in title.inner_text() or title.inner_text()
    operations = tab.page.locator(".opblock")
    operations.first.wait_for(timeout=10_000)
    assert operations.count() > 20
    assert tab.refused == []



def test_the_accessibility_check_can_fail(tab: Page) -> None:  # noqa: F811
    """axe really runs: a page with an unlabelled field and an image without text fails."""
    tab.page.set_content('<html lang="en"><title>t</title><main><input type="text">'
                         '<img src="data:image/png;base64,iVBORw0KGgo="></main></html>')
    with pytest.raises(AssertionError, match="label"):
        tab.assert_accessible()


def test_the_sign_in_page_and_its_error_are_accessible(tab: Page) -> None:  # noqa: F811
    tab.goto("/sign-in")
    assert _h1(tab) == "Sign in"
    tab.assert_accessible()
    tab.page.get_by_role("button", name="Sign in").click()  # nothing entered
    tab.page.wait_for_load_state()
    assert tab.page.locator(".nhsuk-error-summary").is_visible()
    tab.assert_accessible()


def test_the_api_documentation_page_is_accessible(tab: Page) -> None:  # noqa: F811
    tab.goto("/api/v1/docs")
    tab.page.locator(".opblock").first.wait_for(timeout=10_000)
    tab.assert_accessible()
