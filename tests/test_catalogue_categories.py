"""Categories are a hierarchy: ``category=cancer`` finds every listing under ``cancer.*``;
``GET /categories`` lists those in use with counts; an unknown one is a 422, not empty."""
from __future__ import annotations

from tests.catalogue_support import World, world_fixture  # noqa: F401  (`world`)
from tests.test_catalogue_search import _names, _search, catalogue  # noqa: F401


def test_a_general_category_finds_every_listing_below_it(
        world: World, catalogue: dict[str, str]) -> None:  # noqa: F811
    found = _names(catalogue, _search(world, "category=cancer&per_page=100"))
    assert sorted(found) == sorted(catalogue)  # every listing is under cancer.*
    assert _names(catalogue, _search(world, "category=cancer.triage")) == ["triage"]
    # A sibling that shares a prefix is not below: cancer.tri is no ancestor of cancer.triage.
    problem = world.call("GET", "/innovations?category=cancer.tri", None, 422).get_json()
    assert "category" in problem["errors"] and "/api/v1/categories" in problem["detail"]


def test_categories_lists_those_in_use_with_their_counts(
        world: World, catalogue: dict[str, str]) -> None:  # noqa: F811
    world.published(name="Second Triage", categories=["cancer.triage", "cancer.referral"])
    items = world.call("GET", "/categories", None, 200).get_json()["items"]
    counts = {item["category"]: item["listings"] for item in items}
    assert counts == {"cancer": 6, "cancer.follow_up": 1, "cancer.patient_information": 1,
                      "cancer.referral": 2, "cancer.treatment": 1, "cancer.triage": 2}
    parents = {item["category"]: item["parent"] for item in items}
    assert parents["cancer"] is None and parents["cancer.triage"] == "cancer"
    assert [item["category"] for item in items] == sorted(counts)


def test_an_unknown_category_is_a_422_naming_it(world: World,
                                                catalogue: dict[str, str]) -> None:  # noqa: F811
    problem = world.call("GET", "/innovations?category=dermatology", None, 422).get_json()
    assert problem["errors"] == {"category": ["unknown category 'dermatology'"]}
    assert problem["detail"].startswith("No listing is in this category")
