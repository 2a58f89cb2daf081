"""A further competition under a framework, end to end over HTTP: only a listing whose
supplier holds an award in force on the competition's lot may respond (409 with the
reason otherwise: no award, another lot's, a withdrawn or not yet started one); the
framework must be live when the competition is drafted and published; the award leads to
a contract under the framework, signed after the standstill.

The world's clock is Saturday 2026-11-21 09:00 UTC; the framework here started on
1 November 2026.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.catalogue_support import ce, outbox_events
from tests.frameworks_support import Frameworks
from tests.tenders_more_support import (  # noqa: F401  (the `market` fixture)
    MoreTenders,
    market_fixture,
    response_rows,
)
from tests.tenders_support import CANCEL

STARTED = "2026-11-01T00:00:00+00:00"
NO_AWARD = "no framework award in force on the competition's lot"


@pytest.fixture
def frameworks(market: MoreTenders) -> Frameworks:
    return Frameworks(market.world)


def live_framework(frameworks: Frameworks, lots: int = 1, **overrides: Any) -> dict[str, Any]:
    framework = frameworks.create(**{"starts_at": STARTED, **overrides})
    for n in range(lots):
        frameworks.add_lot(framework, title=f"Referral and triage {n + 1}")
    return frameworks.publish(framework)


def competition(market: MoreTenders, framework: dict[str, Any], lot: int = 0,
                expect: int = 201, **overrides: Any) -> Any:
    return market.create(expect=expect, procedure="framework_competition",
                         framework_id=framework["id"],
                         lot_id=framework["lots"][lot]["id"], **overrides)


def test_a_framework_competition_from_notice_to_signed_contract(
        market: MoreTenders, frameworks: Frameworks, database_url: str) -> None:
    world = market.world
    framework = live_framework(frameworks, lots=2)
    holder = market.eligible_listing("innovator")
    award = frameworks.award(framework, holder, starts_at=STARTED)
    # Another supplier's listing: no award at all; then one on the other lot only.
    outsider = market.eligible_listing("other")
    frameworks.award(framework, outsider, lot=framework["lots"][1], starts_at=STARTED)
    # The holder's second listing: awarded, then withdrawn.
    withdrawn_listing = market.eligible_listing("innovator")
    frameworks.withdraw(frameworks.award(framework, withdrawn_listing, starts_at=STARTED))
    # A third listing whose award only starts next month.
    upcoming = market.eligible_listing("innovator")
    frameworks.award(framework, upcoming, starts_at="2026-12-01T00:00:00+00:00")

    tender = market.publish(competition(market, framework))
    assert (tender["procedure"], tender["framework_id"], tender["lot_id"]) == (
        "framework_competition", framework["id"], framework["lots"][0]["id"])
    published = outbox_events(world.uow_factory, "tender.published")[0]["data"]
    assert (published["framework_id"], published["lot_id"]) == (framework["id"],
                                                                  framework["lots"][0]["id"])

    for listing, who in ((outsider, "other"), (withdrawn_listing, "innovator"),
                         (upcoming, "innovator")):
        refused = market.respond(tender, listing, 15_000_000, who=who, expect=409)
        assert refused["status"] == 409 and refused["title"] == "Conflict"
        assert refused["reasons"] == [NO_AWARD], refused
        assert NO_AWARD in refused["detail"]
    response = market.respond(tender, holder, 18_000_000)
    assert response_rows(database_url)[response["id"]]["framework_award_id"] == award["id"]
    market.call("GET", f"/tenders/{tender['id']}/responses", "innovator", 200)

    market.pass_deadline(tender)
    assert market.get(tender)["responses_received"] == 1
    ranking = market.score(tender, response["id"], 70, 60)
    assert ranking["complete"] and ranking["ranking"][0]["total"] == "81.00"  # 35 + 6 + 40
    awarded = market.award(tender, response["id"])
    assert awarded["status"] == "awarded"
    contract = market.call("GET", f"/contracts/{awarded['contract_id']}", "icb_buyer",
                           200).get_json()
    assert (contract["status"], contract["framework_id"], contract["tender_id"]) == (
        "pending", framework["id"], tender["id"])
    assert (contract["value_pence"], contract["innovation_id"]) == (18_000_000, holder["id"])
    assert contract["supplier"]["companies_house_number"] == "09876543"

    sign = f"/contracts/{contract['id']}/sign"
    ends = datetime.fromisoformat(contract["standstill_ends_at"])
    world.clock.now = ends - timedelta(seconds=1)
    market.call("POST", sign, "icb_buyer", 409)
    world.clock.now = ends
    signed = market.call("POST", sign, "icb_buyer", 200).get_json()
    assert signed["status"] == "active"
    (event,) = outbox_events(world.uow_factory, "contract.signed")
    assert event["ce_type"] == ce("contract.signed")
    assert (event["data"]["framework_id"], event["data"]["tender_id"]) == (
        framework["id"], tender["id"])
    assert event["data"]["eligible_trusts"] == ["R0A"]


def test_a_winner_whose_award_is_withdrawn_before_the_award_cannot_be_awarded(
        market: MoreTenders, frameworks: Frameworks) -> None:
    framework = live_framework(frameworks)
    holder = market.eligible_listing("innovator")
    award = frameworks.award(framework, holder, starts_at=STARTED)
    tender = market.publish(competition(market, framework))
    response = market.respond(tender, holder, 18_000_000)
    market.pass_deadline(tender)
    market.score(tender, response["id"], 70, 60)
    frameworks.withdraw(award)
    refused = market.award(tender, response["id"], expect=409)
    assert refused["reasons"] == [NO_AWARD]
    assert market.get(tender)["status"] == "evaluated"
    assert market.get(tender)["contract_id"] is None
    # The buyer can still cancel the competition.
    market.call("POST", f"/tenders/{tender['id']}/cancel", "icb_buyer", 200, json=CANCEL)


def test_a_competition_runs_only_under_a_live_framework(
        market: MoreTenders, frameworks: Frameworks) -> None:
    world = market.world
    draft = frameworks.create(starts_at=STARTED)
    lot = frameworks.add_lot(draft)
    refused = market.create(expect=409, procedure="framework_competition",
                            framework_id=draft["id"], lot_id=lot["id"])
    assert "is draft" in refused["detail"]

    not_started = live_framework(frameworks, starts_at="2026-12-01T00:00:00+00:00")
    refused = competition(market, not_started, expect=409)
    assert "runs from 2026-12-01" in refused["detail"]

    live = live_framework(frameworks)
    refused = market.create(expect=422, procedure="framework_competition",
                            framework_id=live["id"], lot_id=lot["id"])  # another's lot
    assert "lot_id" in refused["errors"]

    # Ending soon: drafted while live; by publication it has ended but is not yet marked.
    ending = live_framework(frameworks, ends_at="2026-11-25T00:00:00+00:00")
    drafted = competition(market, ending)
    world.clock.now = datetime.fromisoformat("2026-11-25T00:00:00+00:00")
    refused = market.publish(drafted, expect=409)
    assert "runs from" in refused["detail"]
    refused = competition(market, ending, expect=409)
    assert "runs from" in refused["detail"]
    # Once the tick has marked it expired, the refusal says so.
    lines = frameworks.tick()
    assert "expired 1 framework" in lines
    assert frameworks.get(ending)["status"] == "expired"
    refused = competition(market, ending, expect=409)
    assert "is expired" in refused["detail"]
    assert market.get(drafted, "icb_buyer")["status"] == "draft"


def test_framework_fields_are_required_for_a_competition(market: MoreTenders,
                                                        frameworks: Frameworks) -> None:
    framework = live_framework(frameworks)
    for missing in ("framework_id", "lot_id"):
        body = {"framework_id": framework["id"], "lot_id": framework["lots"][0]["id"]}
        del body[missing]
        problem = market.create(expect=422, procedure="framework_competition", **body)
        assert missing in problem["errors"]
    problem = market.create(expect=422, procedure="framework_competition",
                            framework_id=framework["id"],
                            lot_id="3f0c3d52-8a57-4a53-9d0e-6d0c3b6b5c11")
    assert "lot_id" in problem["errors"]  # no such lot
