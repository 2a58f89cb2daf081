"""``GET /demand/summary``: national open demand by category and pathway stage, by ICB
(following mergers) and posting period, against pre-approved supply; every figure is
recomputed here from the signals and listings the test created, the running tallies
equal a rebuild from scratch, and a summary never reads the signals themselves."""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import event

from marketplace.demand import summary
from marketplace.http.wiring import marketplace_of
from schemas.events.common import PATHWAY_STAGES
from tests.demand_support import (
    DemandWorld,
    demand_world_fixture,  # noqa: F401  (the `demand_world` fixture)
    tallies,
)

LONDON = ZoneInfo("Europe/London")
#: (listing categories, stages, approval end state or None)
SUPPLY: tuple[tuple[list[str], list[str], str | None], ...] = (
    (["cancer.triage"], ["referral_triage", "diagnosis"], "approved"),
    (["cancer.triage.ai", "imaging"], ["diagnosis"], "conditional"),
    (["cancer.follow_up"], ["follow_up"], "suspended"),   # not pre-approved
    (["cancer.follow_up"], ["follow_up", "treatment"], None),  # not pre-approved
    (["cancer.patient_information"], ["prevention", "follow_up"], "approved"),
)
#: (ICB buyer, days after the start, fields)
SIGNALS: tuple[tuple[str, float, dict[str, Any]], ...] = (
    ("QOP", 0, dict(categories=["cancer.triage"], indicative_budget_pence=25_000_000,
                    population_covered=2_900_000)),
    ("QOP", 9, dict(categories=["cancer.triage", "imaging"],
                    pathway_stages=["diagnosis"], indicative_budget_pence=None)),
    ("QMJ", 10, dict(categories=["cancer.follow_up"], pathway_stages=["follow_up"],
                     population_covered=None, indicative_budget_pence=7_500_000)),
    ("QUY", 24, dict(categories=["cancer.triage.ai"], indicative_budget_pence=1_000_000,
                     population_covered=900_000)),
    ("Q9W", 41, dict(categories=["cancer.patient_information"],
                     pathway_stages=["prevention", "treatment"],
                     indicative_budget_pence=3_000_000)),
    ("QMJ", 71, dict(categories=["cancer.research"], pathway_stages=["treatment"],
                     indicative_budget_pence=40_000_000)),   # no supply at all
    ("QOP", 72, dict(categories=["cancer.triage"], indicative_budget_pence=5_000_000)),
    # 2027-03-31T23:30Z is 00:30 on 1 April in London (BST): posted on 1 April.
    ("QUY", 130.604, dict(categories=["cancer.follow_up"], pathway_stages=["follow_up"],
                          population_covered=400_000)),
)


def _posted_on(signal: dict[str, Any]) -> date:
    return datetime.fromisoformat(signal["posted_at"]).astimezone(LONDON).date()


def _serves(listing_category: str, category: str) -> bool:
    return listing_category == category or listing_category.startswith(category + ".")


def _expected(open_signals: list[dict[str, Any]], icb: str | None, low: date | None,
              high: date | None) -> dict[str, Any]:
    """The summary computed from the signals and SUPPLY, independently of the tallies."""
    owner = {"QUY": "Q9W"}.get(icb or "", icb)
    chosen = [s for s in open_signals if (owner is None or s["icb"]["code"] == owner)
              and (low is None or _posted_on(s) >= low)
              and (high is None or _posted_on(s) <= high)]
    live = [(cats, stages) for cats, stages, end in SUPPLY
            if end in ("approved", "conditional")]

    def figures(group: list[dict[str, Any]]) -> dict[str, Any]:
        budgets = [s["indicative_budget_pence"] for s in group
                   if s["indicative_budget_pence"] is not None]
        people = [s["population_covered"] for s in group if s["population_covered"] is not None]
        return {"open_signals": len(group), "icbs": len({s["icb"]["code"] for s in group}),
                "indicative_budget_pence": sum(budgets), "signals_with_budget": len(budgets),
                "population_covered": sum(people), "signals_with_population": len(people)}

    def row(group: list[dict[str, Any]], served: int) -> dict[str, Any]:
        return {**figures(group), "pre_approved_listings": served,
                "supply_gap": bool(group) and served == 0}

    categories = sorted({c for s in chosen for c in s["categories"]})
    return {
        "total": figures(chosen),
        "by_category": [
            {"category": c, **row([s for s in chosen if c in s["categories"]],
                                  sum(any(_serves(mine, c) for mine in cats)
                                      for cats, _ in live))}
            for c in categories],
        "by_pathway_stage": [
            {"pathway_stage": p, **row([s for s in chosen if p in s["pathway_stages"]],
                                       sum(p in stages for _, stages in live))}
            for p in PATHWAY_STAGES],
    }


@pytest.fixture
def demand(demand_world: DemandWorld) -> list[dict[str, Any]]:
    """SUPPLY listed and approved; SIGNALS posted over four months, one edited, one
    closed, QUY merged into Q9W; returns the open signals as the API shows them."""
    world = demand_world
    for n, (cats, stages, end) in enumerate(SUPPLY):
        listing = world.published(name=f"Supply {n}", categories=cats, pathway_stages=stages)
        if end is not None:
            world.approval_in(end, listing)
    start = world.clock.now
    posted = []
    for who, days, fields in SIGNALS:
        world.clock.now = start + timedelta(days=days)
        posted.append(world.post_signal(f"buyer:{who}", needed_by="2027-12-31",
                                        **{"pathway_stages": ["referral_triage"], **fields}))
    world.merge("QUY", "Q9W")
    world.patch_signal(posted[1], categories=["cancer.diagnostics", "imaging"],
                       pathway_stages=["diagnosis", "treatment"],
                       indicative_budget_pence=12_000_000, population_covered=50_000)
    world.close_signal(posted[6], outcome="met_by_existing_contract")
    body = world.call("GET", "/demand-signals?status=open&per_page=100", None, 200).get_json()
    assert body["total"] == len(SIGNALS) - 1
    return body["items"]


RANGES: tuple[tuple[date | None, date | None], ...] = (
    (None, None),
    (date(2026, 12, 1), None),
    (None, date(2026, 11, 30)),
    (date(2026, 11, 30), date(2026, 11, 30)),              # one day
    (date(2026, 11, 25), date(2027, 1, 15)),               # ragged ends, a whole month
    (date(2026, 12, 1), date(2027, 1, 31)),                # whole months only
    (date(2027, 4, 1), date(2027, 4, 1)),                  # the London day, not UTC's
    (date(2027, 3, 31), date(2027, 3, 31)),
    (date(2027, 1, 1), date(2026, 12, 1)),                 # reversed: nothing
    (date(1, 1, 1), date(9999, 12, 31)),                   # the calendar's ends
)


def test_summary_figures_are_the_signals_summed(demand_world: DemandWorld,
                                                demand: list[dict[str, Any]]) -> None:
    world = demand_world
    for icb in (None, "QOP", "QMJ", "Q9W", "QUY"):
        for low, high in RANGES:
            args = {"icb": icb, "posted_from": low, "posted_to": high}
            query = "&".join(f"{k}={v}" for k, v in args.items() if v is not None)
            body = world.call("GET", f"/demand/summary?{query}", None, 200).get_json()
            got = {k: body[k] for k in ("total", "by_category", "by_pathway_stage")}
            assert got == _expected(demand, icb, low, high), query
            assert body["icb"] == (None if icb is None else
                                   {"code": {"QUY": "Q9W"}.get(icb, icb),
                                    "name": f"Test icb {({'QUY': 'Q9W'}.get(icb, icb))}"})
    national = world.call("GET", "/demand/summary", None, 200).get_json()
    gaps = [row["category"] for row in national["by_category"] if row["supply_gap"]]
    assert gaps == ["cancer.diagnostics", "cancer.follow_up", "cancer.research"]
    assert national["total"]["icbs"] == 3  # QUY's signals count as Q9W's
    for query in ("icb=QZZ", "icb=R0A", "posted_from=yesterday"):
        world.call("GET", f"/demand/summary?{query}", None, 422)


def test_running_tallies_equal_a_rebuild(demand_world: DemandWorld,
                                         demand: list[dict[str, Any]]) -> None:
    with demand_world.uow_factory() as uow:
        running = tallies(uow)
        assert summary.rebuild(uow.session) == len(demand)
        assert tallies(uow) == running
        uow.rollback()


@contextmanager
def _statements(app: Flask) -> Iterator[list[str]]:
    seen: list[str] = []
    engine = marketplace_of(app).engine

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_a_summary_reads_tallies_not_signals(app: Flask, demand_world: DemandWorld,
                                             demand: list[dict[str, Any]]) -> None:
    for query in ("", "?icb=Q9W&posted_from=2026-11-25&posted_to=2027-01-15"):
        with _statements(app) as seen:
            demand_world.call("GET", f"/demand/summary{query}", None, 200)
        assert any("demand_tally" in s for s in seen)
        assert not [s for s in seen if re.search(r"\bdemand_signal\b", s)], seen
