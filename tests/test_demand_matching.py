"""``GET /demand-signals/{id}/matches`` and ``GET /innovations/{id}/demand``: the bar
(ESF tier, a live central approval lasting to the needed-by date), near misses with what
they lack, ranking by fit with stable pages, and both directions agreeing."""
from __future__ import annotations

from typing import Any

import pytest

from tests.catalogue_support import APPROVE
from tests.demand_support import (
    DemandWorld,
    demand_world_fixture,  # noqa: F401  (the `demand_world` fixture)
)

TWIN_SUMMARY = "Routes work to the right clinic."
TRIAGE = dict(categories=["cancer.triage"], pathway_stages=["referral_triage", "diagnosis"],
              esf_tier="C")
#: name -> (listing fields, how its approval ends up)
LISTINGS: dict[str, tuple[dict[str, Any], str | None]] = {
    "best": (dict(TRIAGE, name="Triage Assist", summary="Faster triage of urgent suspected "
                  "cancer referrals, with digital pre-assessment."), "approved"),
    "narrower": (dict(TRIAGE, name="Sub Router", categories=["cancer.triage.ai"],
                      pathway_stages=["referral_triage"], summary=TWIN_SUMMARY,
                      use_cases=[]), "approved"),
    "stage only": (dict(TRIAGE, name="Scan Reader", categories=["imaging"],
                        pathway_stages=["diagnosis"], summary="Reads scans."), "approved"),
    "twin 1": (dict(TRIAGE, name="Twin One", summary=TWIN_SUMMARY, use_cases=[]), "approved"),
    "twin 2": (dict(TRIAGE, name="Twin Two", summary=TWIN_SUMMARY, use_cases=[]), "approved"),
    "short": (dict(TRIAGE, name="Twin Six", summary=TWIN_SUMMARY, use_cases=[]), "short"),
    "lower tier": (dict(TRIAGE, name="Triage Lite", esf_tier="B"), "approved"),
    "suspended": (dict(TRIAGE, name="Triage Paused"), "suspended"),
    "lapsed": (dict(TRIAGE, name="Triage Lapsed"), "lapsed"),
    "revoked": (dict(TRIAGE, name="Triage Revoked"), "revoked"),
    "pending": (dict(TRIAGE, name="Triage Pending"), "under_review"),
    "bare": (dict(TRIAGE, name="Triage Bare"), None),
    "bare lower tier": (dict(TRIAGE, name="Triage Lite Bare", esf_tier="B"), None),
    "old version": (dict(TRIAGE, name="Triage Classic"), "new version"),
    "elsewhere": (dict(TRIAGE, name="Follow Up", categories=["cancer.follow_up"],
                       pathway_stages=["follow_up"]), "approved"),
}
LACKS = {
    "lower tier": ["ESF tier B, the signal needs C"],
    "short": ["approval expires 2027-02-28, before the needed-by date 2027-03-31"],
    "suspended": ["approval suspended"],
    "lapsed": ["approval expired 2026-11-30"],
    "revoked": ["approval revoked"],
    "pending": ["central approval under review"],
    "bare": ["no central approval"],
    "bare lower tier": ["ESF tier B, the signal needs C", "no central approval"],
    "old version": ["no central approval of the current version 4.0"],
}
SIGNAL = dict(title="Faster triage of urgent suspected cancer referrals",
              categories=["cancer.triage"], pathway_stages=["referral_triage", "diagnosis"],
              min_esf_tier="C", use_cases=["AI triage", "digital pre-assessment"],
              needed_by="2027-03-31")


def _approve(world: DemandWorld, listing: dict[str, Any], end: str) -> None:
    if end in ("approved", "suspended", "revoked", "under_review"):
        world.approval_in(end, listing)
        return
    if end == "new version":
        world.approval_in("approved", listing)
        world.patch(world.listing(listing["id"]), product_version="4.0")
        return
    lapses = {"short": "2027-02-28", "lapsed": "2026-11-30"}[end]
    approval = world.submit(listing["id"], c3_technical_security={
        "cyber_essentials_expires_on": lapses})
    world.act(approval["id"], "start-review")
    world.act(approval["id"], "decision", APPROVE)


@pytest.fixture
def supply(demand_world: DemandWorld) -> dict[str, str]:
    """The listings above, approved as described (name -> id), and a draft."""
    ids = {}
    for key, (fields, end) in LISTINGS.items():
        listing = demand_world.published(**fields)
        if end is not None:
            _approve(demand_world, listing, end)
        ids[key] = listing["id"]
    demand_world.create_listing(**TRIAGE, name="Triage Draft")
    return ids


def _listed(world: DemandWorld, signal: dict[str, Any], near: bool = False,
            per_page: int = 100) -> list[dict[str, Any]]:
    items, page = [], 1
    while True:
        body = world.call("GET", f"/demand-signals/{signal['id']}/matches?near_misses="
                          f"{str(near).lower()}&per_page={per_page}&page={page}", None,
                          200).get_json()
        items += body["items"]
        if "next" not in body["links"]:
            assert body["total"] == len(items)
            return items
        page += 1


def _names(ids: dict[str, str], items: list[dict[str, Any]]) -> list[str]:
    by_id = {v: k for k, v in ids.items()}
    return [by_id[item["innovation"]["id"]] for item in items]


def test_matches_clear_the_bar_and_near_misses_say_what_they_lack(
        demand_world: DemandWorld, supply: dict[str, str]) -> None:
    world = demand_world
    signal = world.post_signal(**SIGNAL)
    world.clock.now = world.clock.now.replace(month=12, day=1)  # "lapsed" has lapsed

    matches = _listed(world, signal)
    assert _names(supply, matches) == ["best", "twin 1", "twin 2", "narrower", "stage only"]
    assert all(item["lacks"] == [] for item in matches)
    scores = [item["score"] for item in matches]
    assert scores == sorted(scores, reverse=True) and scores[1] == scores[2]  # twins tie
    best, _, _, narrower, stage_only = matches
    text = best["text_relevance"]
    assert text == max(item["text_relevance"] for item in matches) > 0.5
    assert abs(best["score"] - (4 + 2 + 1 + text)) < 0.01
    assert best["matched_categories"] == ["cancer.triage"]
    assert best["matched_pathway_stages"] == ["referral_triage", "diagnosis"]
    assert best["reasons"] == [
        "category cancer.triage", "pathway stage referral_triage", "pathway stage diagnosis",
        "ESF tier C, the signal needs C or above",
        "centrally approved until 2027-06-01, beyond the needed-by date",
        f"its description matches the need (text relevance {text:.2f})"]
    assert narrower["reasons"][:2] == ["category cancer.triage.ai (under cancer.triage)",
                                       "pathway stage referral_triage"]
    assert stage_only["matched_categories"] == [] and stage_only["score"] < 3
    assert best["innovation"]["current_approval"]["status"] == "approved"

    near = _listed(world, signal, near=True)
    assert {name: item["lacks"] for name, item in zip(_names(supply, near), near,
                                                      strict=True)} == LACKS
    scores = [item["score"] for item in near]
    assert scores == sorted(scores, reverse=True)


def test_pages_are_stable(demand_world: DemandWorld, supply: dict[str, str]) -> None:
    world = demand_world
    signal = world.post_signal(**SIGNAL)
    for near in (False, True):
        whole = _listed(world, signal, near)
        assert _listed(world, signal, near, per_page=2) == whole
        assert _listed(world, signal, near, per_page=1) == whole
    world.call("GET", "/demand-signals/no-such/matches", None, 404)
    world.call("GET", f"/demand-signals/{signal['id']}/matches?near_misses=maybe", None, 422)


def test_without_required_approval_a_lasting_approval_ranks_higher(
        demand_world: DemandWorld, supply: dict[str, str]) -> None:
    world = demand_world
    signal = world.post_signal(**SIGNAL, requires_central_approval=False)
    names = _names(supply, _listed(world, signal))
    assert names.index("twin 2") < names.index("short")  # same text, approval too short
    assert {"bare", "pending", "suspended", "revoked", "old version"} <= set(names)
    assert _names(supply, _listed(world, signal, near=True)) == ["lower tier",
                                                                 "bare lower tier"]


def test_a_listings_demand_is_the_signals_it_matches(demand_world: DemandWorld,
                                                     supply: dict[str, str]) -> None:
    world = demand_world
    signals = [
        world.post_signal(**SIGNAL),
        world.post_signal(**{**SIGNAL, "requires_central_approval": False,
                             "min_esf_tier": "B", "needed_by": None}),
        world.post_signal("buyer:QMJ", title="Cancer follow-up", categories=["cancer"],
                          pathway_stages=["follow_up"], min_esf_tier="A",
                          needed_by="2027-05-31"),
        world.post_signal("buyer:QMJ", title="Imaging", categories=["imaging"],
                          pathway_stages=["treatment"], min_esf_tier="A"),
    ]
    closed = world.post_signal(**SIGNAL)
    world.close_signal(closed)
    matched = {s["id"]: {item["innovation"]["id"] for item in _listed(world, s)}
               for s in signals}
    for listing_id in supply.values():
        body = world.call("GET", f"/innovations/{listing_id}/demand?per_page=100", None,
                          200).get_json()
        expected = {s["id"] for s in signals if listing_id in matched[s["id"]]}
        assert {s["id"] for s in body["items"]} == expected, world.listing(listing_id)["name"]
    follow_up = world.call("GET", f"/innovations/{supply['elsewhere']}/demand", None,
                           200).get_json()
    assert [s["title"] for s in follow_up["items"]] == ["Cancer follow-up"]
    draft = world.create_listing(**TRIAGE, name="Another Draft")
    world.call("GET", f"/innovations/{draft['id']}/demand", None, 404)  # drafts are private
    assert world.call("GET", f"/innovations/{draft['id']}/demand", "innovator",
                      200).get_json()["total"] == 0
