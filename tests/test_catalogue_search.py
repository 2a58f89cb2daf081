"""``GET /api/v1/innovations``: full-text relevance (SQLite FTS5 and PostgreSQL tsvector),
every filter, ``approved=true`` meaning pre-approved now, recency, stable pages."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from marketplace.catalogue.search import fts5_query, terms, tsquery
from tests.catalogue_support import World, world_fixture  # noqa: F401  (`world`)

LISTINGS: dict[str, dict[str, Any]] = {
    "triage": dict(
        name="Triage Assist", summary="Prioritises urgent suspected cancer referrals.",
        use_cases=["digital pre-assessment"], categories=["cancer.triage"],
        pathway_stages=["referral_triage"], esf_tier="C", device_class="IIa",
        device_mark="UKCA"),
    "referral": dict(
        name="Referral Hub", summary="Routes referrals to the right clinic.",
        use_cases=["AI triage"], categories=["cancer.referral"],
        pathway_stages=["referral_triage"], esf_tier="B", device_class="I",
        device_mark="UKCA"),
    "clinic": dict(
        name="Clinic Flow", summary="Supports the triage of follow up appointments among "
        "many other tasks across hospital and community services.",
        use_cases=["appointment booking"], categories=["cancer.follow_up"],
        pathway_stages=["follow_up"], esf_tier="A", device_class="not_a_device",
        device_mark="none"),
    "consent": dict(
        name="Consent Pro", summary="Pre-filled consent forms for chemotherapy.",
        use_cases=["pre-filled consent"], categories=["cancer.treatment"],
        pathway_stages=["treatment"], esf_tier="B", device_class="not_a_device",
        device_mark="none"),
    "lingua": dict(
        name="LinguaCare", summary="Translation of patient information into 40 languages.",
        use_cases=["translation of patient information", "patient education videos"],
        categories=["cancer.patient_information"], pathway_stages=["prevention", "follow_up"],
        esf_tier="A", device_class="not_a_device", device_mark="none"),
}


@pytest.fixture
def catalogue(world: World) -> dict[str, str]:
    """The five listings above, published an hour apart (``lingua`` newest); name -> id."""
    ids = {}
    for key, fields in LISTINGS.items():
        ids[key] = world.published(**fields)["id"]
        world.clock.advance(hours=1)
    world.create_listing(name="Secret Triage Draft")  # drafts never show
    return ids


def _search(world: World, query: str, who: str | None = None) -> list[str]:
    body = world.call("GET", f"/innovations?{query}", who, 200).get_json()
    return [item["id"] for item in body["items"]]


def _names(ids: dict[str, str], found: list[str]) -> list[str]:
    by_id = {v: k for k, v in ids.items()}
    return [by_id[i] for i in found]


def test_relevance_ranks_name_then_use_case_then_summary(world: World,
                                                        catalogue: dict[str, str]) -> None:
    assert _names(catalogue, _search(world, "q=triage")) == ["triage", "referral", "clinic"]
    assert _names(catalogue, _search(world, "q=referrals")) == ["referral", "triage"]


CASES: list[tuple[str, list[str]]] = [
    ("q=patient+videos", ["lingua"]),                 # every word required
    ("q=translat", ["lingua"]),                       # the last word is a prefix
    ("q=consent+forms", ["consent"]),                 # stemming: forms -> form
    ("q=the+consent+of+a+chemotherapy", ["consent"]),  # stopwords ignored on both engines
    ("q=Pr%C3%A9-filled+CONSENT", []),                # accents count, on both engines
    ("q=%22triage%22+OR+NOT+-x*+(NEAR", []),          # query syntax is never interpreted
    ("q=telepathy", []),
    ("category=cancer.triage", ["triage"]),
    ("pathway=follow_up", ["lingua", "clinic"]),
    ("esf_tier=B", ["consent", "referral"]),
    ("device_class=not_a_device", ["lingua", "consent", "clinic"]),
    ("q=triage&esf_tier=C", ["triage"]),
    ("q=triage&pathway=referral_triage&device_class=I", ["referral"]),
    ("q=patient&category=cancer.triage", []),
    ("", ["lingua", "consent", "clinic", "referral", "triage"]),  # recency, newest first
    ("q=triage&sort=recent", ["clinic", "referral", "triage"]),
]


def test_text_and_filters(world: World, catalogue: dict[str, str]) -> None:
    """One catalogue, every case (building it per case would dominate the run time)."""
    for query, expected in CASES:
        assert _names(catalogue, _search(world, query)) == expected, query


def test_bad_queries_are_422(world: World) -> None:
    for query in ("sort=relevance", "esf_tier=D", "pathway=surgery", "approved=maybe",
                  "category=Cancer+Triage", "per_page=101"):
        problem = world.call("GET", f"/innovations?{query}", None, 422).get_json()
        assert problem["status"] == 422


def test_query_terms_cannot_inject_syntax() -> None:
    words = terms('"AI" OR triage* -x NEAR(a b) cancer_triage')
    assert words == ["ai", "triage", "x", "near", "b", "cancer"]
    assert fts5_query(words) == '"ai" "triage" "x" "near" "b" "cancer"*'
    assert tsquery(["ai", "triag"]) == "ai & triag:*"
    assert terms("the of and") == []


def test_approved_means_pre_approved_now_for_the_current_version(
        world: World, catalogue: dict[str, str]) -> None:
    listing = {k: world.call("GET", f"/innovations/{v}", None, 200).get_json()
               for k, v in catalogue.items()}
    world.approval_in("approved", listing["triage"])
    world.approval_in("conditional", listing["referral"])
    world.approval_in("suspended", listing["clinic"])
    world.approval_in("revoked", listing["consent"])
    world.approval_in("rejected", listing["lingua"])
    assert _names(catalogue, _search(world, "approved=true")) == ["referral", "triage"]
    assert _names(catalogue, _search(world, "approved=false")) == ["lingua", "consent",
                                                                   "clinic"]
    assert _names(catalogue, _search(world, "approved=true&q=triage")) == ["triage",
                                                                           "referral"]
    found = world.call("GET", "/innovations?approved=true", None, 200).get_json()["items"]
    assert {i["current_approval"]["status"] for i in found} == {"approved", "conditional"}

    # A new product version has no approval yet: it leaves the pre-approved catalogue.
    world.patch(world.call("GET", f"/innovations/{catalogue['referral']}", None,
                           200).get_json(), product_version="2.0")
    assert _names(catalogue, _search(world, "approved=true")) == ["triage"]

    # At expires_at the listing drops out, before any tick has run.
    approval = world.call("GET", f"/innovations/{catalogue['triage']}", None,
                          200).get_json()["current_approval"]
    world.clock.now = datetime.fromisoformat(approval["expires_at"]) - timedelta(seconds=1)
    assert _names(catalogue, _search(world, "approved=true")) == ["triage"]
    world.clock.advance(seconds=1)
    assert _search(world, "approved=true") == []


def test_pagination_is_stable_with_ties(world: World) -> None:
    # Same text and the same publication time: rank and recency tie; creation order decides
    # (oldest first by relevance, newest first by recency).
    ids = [world.published(name="Symptom Checker", summary="Symptom checker.")["id"]
           for _ in range(7)]
    for query, order in (("q=symptom", ids), ("sort=recent", ids[::-1])):
        pages = [world.call("GET", f"/innovations?{query}&per_page=3&page={n}", None,
                            200).get_json() for n in (1, 2, 3)]
        assert [p["total"] for p in pages] == [7, 7, 7]
        seen = [item["id"] for page in pages for item in page["items"]]
        assert seen == order, query
        again = world.call("GET", f"/innovations?{query}&per_page=3&page=2", None,
                           200).get_json()
        assert again["items"] == pages[1]["items"]
        assert "page=3" in pages[1]["links"]["next"] and "next" not in pages[2]["links"]


def test_withdrawn_listings_leave_the_catalogue(world: World,
                                               catalogue: dict[str, str]) -> None:
    listing = world.call("GET", f"/innovations/{catalogue['triage']}", None, 200).get_json()
    world.patch(listing, status="withdrawn", withdrawal_reason="Replaced by a new product.")
    assert "triage" not in _names(catalogue, _search(world, "q=triage"))
    mine = world.call("GET", "/innovations?mine=true&per_page=100", "innovator",
                      200).get_json()
    assert mine["total"] == 6  # five listings and the draft, the withdrawn one included
