"""The public pages of demand, tenders and funding in a real browser (Debian's chromium,
Playwright) on the demo data: each reached from the header's navigation, its figures
checked against the API's JSON for the same query, filtered, a detail page opened; axe
on every page; bad filters as the 422 page with an error summary; unknown (and draft)
ids as the 404 page; nothing requested from anywhere but the app."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from marketplace.demo import seed
from marketplace.demo.catalogue import acting_as
from marketplace.demo.tenders import OPEN_TENDER
from marketplace.funding.pages import FUNDER_WORDS
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.tenders import service as tenders
from marketplace.web.charts import BAR_FILL, bar_chart
from marketplace.web.formatting import london_time, long_date, pounds
from tests.browser_support import Page, browser, live, tab  # noqa: F401

pytestmark = pytest.mark.browser

DRAFT_TITLE = "A draft nobody else may see"


@pytest.fixture
def demo(uow_factory: Callable[..., UnitOfWork], tmp_path: Path) -> None:
    with uow_factory() as uow:
        list(seed(uow, tmp_path / "evidence"))
        uow.commit()


def _h1(tab: Page) -> str:  # noqa: F811
    return str(tab.page.locator("h1").inner_text())


def _rows(tab: Page, table: str) -> list[list[str]]:  # noqa: F811
    """The body rows of ``table`` (a CSS selector), each as its cells' text (without the
    headings a responsive table repeats in its cells for small screens)."""
    return tab.page.eval_on_selector_all(f"{table} tbody tr", """rows => rows.map(row =>
        [...row.cells].map(cell => {
            const copy = cell.cloneNode(true);
            copy.querySelectorAll('.nhsuk-table-responsive__heading').forEach(h => h.remove());
            copy.querySelectorAll('br').forEach(b => b.replaceWith(' '));
            return copy.textContent.split(/\\s+/).join(' ').trim();
        }))""")


def _summary(tab: Page, selector: str) -> dict[str, str]:  # noqa: F811
    keys = tab.page.locator(f"{selector} dt").all_inner_texts()
    values = tab.page.locator(f"{selector} dd").all_inner_texts()
    return {k.strip(): " ".join(v.split()) for k, v in zip(keys, values, strict=True)}


def _navigate(tab: Page, text: str, path: str) -> None:  # noqa: F811
    tab.goto("/")
    tab.page.get_by_role("navigation", name="Menu").get_by_role("link", name=text).click()
    tab.page.wait_for_url(f"**{path}")


def _label(value: str) -> str:
    return value.replace("_", " ").replace(".", ": ").capitalize()


def _assert_error_page(tab: Page, path: str, status: int, field: str | None = None  # noqa: F811
                       ) -> None:
    response = tab.goto(path)
    assert response.status == status, path
    if field is None:
        assert _h1(tab) == "Page not found"
    else:
        summary = tab.page.locator(".nhsuk-error-summary")
        assert summary.is_visible()
        assert summary.locator("a").first.get_attribute("href") == f"#{field}"
        assert tab.page.locator(f"#{field}.nhsuk-input--error, "
                                f"#{field}.nhsuk-select--error").count() == 1
    tab.assert_accessible()


def test_figures_are_shown_as_people_read_them() -> None:
    assert pounds(123456) == "£1,234.56" and pounds(5) == "£0.05" and pounds(0) == "£0.00"
    assert pounds(None) == "Not stated"
    assert long_date("2026-12-01") == "1 December 2026"
    assert long_date(date(2026, 4, 9)) == "9 April 2026"
    # Times in Europe/London: 23:30 UTC on 30 June is 00:30 on 1 July (BST).
    assert london_time(datetime(2026, 6, 30, 23, 30, tzinfo=UTC)) == "1 July 2026 at 12:30am"
    assert london_time("2026-12-01T17:05:00+00:00") == "1 December 2026 at 5:05pm"
    chart = bar_chart([("A <b>", 3), ("B", 0)], chart_id="c", title="T", description="D")
    assert 'role="img"' in chart and 'aria-labelledby="c-title"' in chart
    assert 'aria-describedby="c-desc"' in chart and "<title id=\"c-title\">T</title>" in chart
    assert "A &lt;b&gt;" in chart and "style" not in chart and "<script" not in chart


def test_national_demand_by_category_and_stage_with_filters(demo: None, tab: Page,  # noqa: F811
                                                             client: FlaskClient) -> None:
    _navigate(tab, "National demand", "/demand")
    assert _h1(tab) == "National demand"
    tab.assert_accessible()
    api = client.get("/api/v1/demand/summary").get_json()
    total = _summary(tab, "#demand-total")
    assert total["Open signals"] == f"{api['total']['open_signals']:,}"
    assert total["ICBs signalling"] == str(api["total"]["icbs"]) and api["total"]["icbs"] > 1
    assert total["Total indicative budget"].startswith(
        pounds(api["total"]["indicative_budget_pence"]))
    assert total["Population covered"].startswith(f"{api['total']['population_covered']:,}")
    shown = _rows(tab, "#by-category")
    assert [row[0] for row in shown] == [_label(r["category"]) for r in api["by_category"]]
    for row, figures in zip(shown, api["by_category"], strict=True):
        assert row[1:6] == [f"{figures['open_signals']:,}", f"{figures['icbs']:,}",
                            pounds(figures["indicative_budget_pence"])
                            if figures["signals_with_budget"] else "Not stated",
                            f"{figures['population_covered']:,}"
                            if figures["signals_with_population"] else "Not stated",
                            f"{figures['pre_approved_listings']:,}"]
        assert (row[6] == "Supply gap") is figures["supply_gap"]
    stages = _rows(tab, "#by-stage")
    assert [row[1] for row in stages] == [f"{r['open_signals']:,}"
                                          for r in api["by_pathway_stage"]]
    # The chart: an image named by its title, a bar and a label per category.
    chart = tab.page.get_by_role("img", name="Open demand signals by category")
    assert chart.is_visible()
    assert chart.locator('text[text-anchor="end"]').all_text_contents() == \
        [row[0] for row in shown]
    assert chart.locator(f'rect[fill="{BAR_FILL}"]').count() == len(shown)

    tab.page.get_by_label("ICB code").fill("qop")
    tab.page.get_by_label("Posted to").fill(date.today().isoformat())
    tab.page.get_by_role("button", name="Apply filters").click()
    tab.page.wait_for_url("**/demand?icb=qop*")
    assert tab.page.get_by_label("ICB code").input_value() == "QOP"
    one = client.get(f"/api/v1/demand/summary?icb=QOP&posted_to={date.today()}").get_json()
    assert one["icb"]["code"] == "QOP" and one["total"]["icbs"] == 1
    filtered = _summary(tab, "#demand-total")
    assert filtered["Open signals"] == f"{one['total']['open_signals']:,}"
    assert filtered["ICBs signalling"] == "1"
    assert [r[0] for r in _rows(tab, "#by-category")] == \
        [_label(r["category"]) for r in one["by_category"]]
    assert one["icb"]["name"] in tab.page.locator("main h2").nth(1).inner_text()
    tab.assert_accessible()

    _assert_error_page(tab, "/demand?icb=QOP&posted_from=2026-13-45", 422, "posted_from")
    assert tab.page.get_by_label("ICB code").input_value() == "QOP"
    assert tab.page.get_by_label("Posted from").input_value() == "2026-13-45"
    _assert_error_page(tab, "/demand?icb=Q99", 422, "icb")  # a code no ICB has
    assert tab.refused == []


def _draft(uow_factory: Callable[..., UnitOfWork]) -> str:
    with uow_factory() as uow:
        now = uow.now()
        with acting_as(uow, "icb_buyer", "QOP"):
            draft = tenders.create(uow, **{**OPEN_TENDER, "title": DRAFT_TITLE},
                                   clarification_deadline=now + timedelta(days=10),
                                   submission_deadline=now + timedelta(days=20))
        uow.commit()
        return draft.id


def _tender_rows(items: list[dict[str, Any]]) -> list[list[str]]:
    return [[f"{t['title']} {t['reference']}, ICB {t['icb']}", pounds(t["estimated_value_pence"]),
             london_time(t["clarification_closes_at"] or t["clarification_deadline"]),
             london_time(t["submission_closes_at"] or t["submission_deadline"])]
            for t in items]


def test_tenders_open_and_awarded_with_their_notices(demo: None, tab: Page,  # noqa: F811
                                                      client: FlaskClient,
                                                      uow_factory: Callable[..., UnitOfWork]
                                                      ) -> None:
    draft = _draft(uow_factory)
    _navigate(tab, "Tenders", "/tenders")
    assert _h1(tab) == "Tenders"
    tab.assert_accessible()
    api = client.get("/api/v1/tenders?status=published").get_json()["items"]
    assert api and DRAFT_TITLE not in tab.page.content()
    assert tab.page.locator("#tenders tbody a").all_inner_texts() == [t["title"] for t in api]
    assert [[row[0], *row[3:6]] for row in _rows(tab, "#tenders")] == _tender_rows(api)
    assert {row[1] for row in _rows(tab, "#tenders")} == {"Open for responses"}

    tab.page.get_by_label("Status").select_option("awarded")
    tab.page.get_by_role("button", name="Show tenders").click()
    tab.page.wait_for_url("**/tenders?status=awarded*")
    awarded = client.get("/api/v1/tenders?status=awarded").get_json()["items"]
    assert tab.page.locator("#tenders tbody a").all_inner_texts() == \
        [t["title"] for t in awarded]
    tab.assert_accessible()
    tab.page.locator("#tenders tbody a").first.click()
    tab.page.wait_for_url(f"**/tenders/{awarded[0]['id']}")
    notice = client.get(f"/api/v1/tenders/{awarded[0]['id']}").get_json()
    assert _h1(tab) == notice["title"]
    assert tab.page.locator("#tender-status").inner_text() == "Awarded"
    outcome = _summary(tab, "#tender-outcome")
    assert outcome["Awarded"] == long_date(notice["awarded_at"])
    assert outcome["Responses received"] == str(notice["responses_received"])
    assert outcome["Contract"] == notice["contract_id"]
    assert _rows(tab, "#criteria") == [[c["title"], _label(c["kind"]), f"{c['weight_percent']}%"]
                                       for c in notice["criteria"]]
    tab.assert_accessible()

    opened = api[0]
    tab.goto(f"/tenders/{opened['id']}")
    facts = _summary(tab, "#tender-facts")
    assert facts["Estimated value"] == pounds(opened["estimated_value_pence"])
    assert facts["Responses by"] == london_time(opened["submission_closes_at"]) + " (UK time)"
    assert tab.page.locator("#tender-status").inner_text() == "Open for responses"
    (question,) = opened["questions"]
    answered = tab.page.locator("#questions li")
    assert question["question"] in answered.locator("h3").inner_text()
    assert question["answer"] in answered.inner_text()
    tab.assert_accessible()

    _assert_error_page(tab, "/tenders?status=bogus&procedure=open", 422, "status")
    assert tab.page.get_by_label("Procedure").input_value() == "open"
    _assert_error_page(tab, "/tenders/no-such-tender", 404)
    _assert_error_page(tab, f"/tenders/{draft}", 404)  # a draft is the buyer's alone
    assert tab.refused == []


def test_funding_pots_allocations_and_pharma_transparency(demo: None, tab: Page,  # noqa: F811
                                                          client: FlaskClient) -> None:
    _navigate(tab, "Funding", "/funding")
    assert _h1(tab) == "Funding"
    tab.assert_accessible()
    api = client.get("/api/v1/funding").get_json()["items"]
    assert len({p["funder_type"] for p in api}) >= 3
    shown = _rows(tab, "#pots")
    assert [row[0] for row in shown] == [f"{p['title']} {p['owner']['name']}" for p in api]
    assert [row[1:] for row in shown] == [
        [FUNDER_WORDS[p["funder_type"]], p["financial_year"], pounds(p["amount_pence"]),
         pounds(p["allocated_pence"]), pounds(p["remaining_pence"])] for p in api]

    tab.page.get_by_label("Funder type").select_option(label="Pharma joint working")
    tab.page.get_by_role("button", name="Show funding").click()
    tab.page.wait_for_url("**/funding?funder_type=pharma_joint_working*")
    (pharma,) = client.get("/api/v1/funding?funder_type=pharma_joint_working"
                           ).get_json()["items"]
    assert tab.page.locator("#pots tbody a").all_inner_texts() == [pharma["title"]]
    tab.assert_accessible()
    tab.page.locator("#pots tbody a").first.click()
    tab.page.wait_for_url(f"**/funding/{pharma['id']}")
    assert _h1(tab) == pharma["title"]
    assert tab.page.get_by_role("heading",
                                name="Pharma joint working: published transparency").is_visible()
    transparency = _summary(tab, "#pharma-transparency")
    assert transparency == {"Agreement summary": pharma["agreement_summary"],
                            "Transfer of value": pounds(pharma["transfer_of_value_pence"])}
    facts = _summary(tab, "#pot-facts")
    assert facts["Remaining"] == pounds(pharma["remaining_pence"])
    tab.assert_accessible()

    changed = next(p for p in api if any(len(a["revisions"]) > 1 for a in p["allocations"]))
    tab.goto(f"/funding/{changed['id']}")
    assert tab.page.get_by_role("heading", name="Pharma joint working: published "
                                "transparency").count() == 0
    allocation = next(a for a in changed["allocations"] if len(a["revisions"]) > 1)
    history = _rows(tab, f"#allocation-{allocation['id']} table")
    assert [row[0] for row in history] == [str(r["number"]) for r in allocation["revisions"]]
    assert [row[3] for row in history] == [pounds(r["amount_pence"])
                                           for r in allocation["revisions"]]
    assert history[-1][1] == "Increased" and allocation["revisions"][-1]["reason"] in \
        history[-1][5]
    tab.assert_accessible()

    _assert_error_page(tab, "/funding?financial_year=2026-27", 422, "financial_year")
    assert tab.page.get_by_label("Financial year").input_value() == "2026-27"
    _assert_error_page(tab, "/funding/no-such-pot", 404)
    assert tab.refused == []
