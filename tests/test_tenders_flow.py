"""An open tender end to end over HTTP: draft, publish, clarify, sealed responses, close at
the deadline, evaluate, award; with the sealed responses' visibility at every step."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from marketplace.tenders.models import TenderResponse
from tests.catalogue_support import ce, outbox_events
from tests.tenders_support import (  # noqa: F401  (fixtures)
    CANCEL,
    Tenders,
    answers_for,
    tenders_fixture,
    world_fixture,
)

ROLES = ("icb_buyer", "admin", "assessor", "other", "funder", "trust_system")


def test_open_tender_from_notice_to_award(tenders: Tenders) -> None:
    world = tenders.world
    draft = tenders.create()
    assert draft["status"] == "draft" and draft["ocid"].endswith(draft["id"])
    tenders.get(draft, None, expect=404)          # drafts are the ICB's own
    tender = tenders.publish(draft)
    assert tender["status"] == "published"
    assert tender["submission_closes_at"] == tender["submission_deadline"]
    assert tenders.get(tender)["status"] == "published"   # public once published

    # Clarifications: asked by an innovator, published with the answer, never who asked.
    question = world.call("POST", f"/tenders/{tender['id']}/questions", "other", 201,
                          json={"question": "Is an on-premises deployment acceptable?"}
                          ).get_json()
    public = world.call("GET", f"/tenders/{tender['id']}/questions", None, 200).get_json()
    assert public["items"] == []
    world.call("POST", f"/tenders/{tender['id']}/questions/{question['id']}/answer",
               "icb_buyer", 200, json={"answer": "Yes, if it meets DSPT standards met."})
    shown = tenders.get(tender)["questions"]
    assert [q["answer"] for q in shown] == ["Yes, if it meets DSPT standards met."]
    assert "asker" not in str(shown) and "11122233" not in str(shown)

    # Sealed responses: readable by the responder only.
    mine = tenders.eligible_listing("innovator")
    receipt = tenders.respond(tender, mine, 18_000_000)
    assert "price_pence" not in receipt
    replaced = tenders.respond(tender, mine, 17_500_000)
    assert replaced["id"] == receipt["id"] and replaced["replaced_count"] == 1
    theirs = tenders.respond(tender, tenders.eligible_listing("other"), 20_000_000,
                             who="other")
    path = f"/tenders/{tender['id']}/responses"
    own = world.call("GET", f"{path}/{receipt['id']}", "innovator", 200).get_json()
    assert own["price_pence"] == 17_500_000
    for who in ROLES:
        world.call("GET", f"{path}/{receipt['id']}", who, 404)
        listed = world.call("GET", path, who, 200).get_json()
        assert [r["id"] for r in listed["items"]] == ([theirs["id"]] if who == "other"
                                                      else [])
    world.call("GET", f"{path}/{receipt['id']}", None, 401)
    assert tenders.get(tender, "icb_buyer")["responses_received"] is None
    with world.uow_factory() as uow:
        sealed = uow.session.scalars(select(TenderResponse.sealed)).all()
    assert all(b"17500000" not in blob and b"meet it in full" not in blob for blob in sealed)
    audit = world.call("GET", "/audit?object_type=tender_response", "admin", 200).get_json()
    assert audit["items"] == []

    # The deadline, by the server's clock: late responses refused, the tick closes it.
    world.clock.now = datetime.fromisoformat(tender["submission_closes_at"])
    late = tenders.respond(tender, tenders.eligible_listing("innovator"), 1, expect=409)
    assert "deadline" in late["detail"]
    assert any("closed with 2 responses" in line for line in tenders.tick())
    closed = tenders.get(tender)
    assert closed["status"] == "closed" and closed["responses_received"] == 2
    opened = world.call("GET", path, "icb_buyer", 200).get_json()["items"]
    assert sorted(r["price_pence"] for r in opened) == [17_500_000, 20_000_000]
    world.call("GET", f"{path}/{receipt['id']}", "admin", 404)   # still not the operator's

    # Evaluation: price by formula, totals ranked; the award goes to the top response.
    ranking = tenders.score(tender, theirs["id"], 90, 90)
    assert not ranking["complete"]
    ranking = tenders.score(tender, receipt["id"], 60, 50)
    assert ranking["complete"] and tenders.get(tender)["status"] == "evaluated"
    # theirs: 45 + 9 + 40 x 17.5/20 = 89.00; mine: 30 + 5 + 40 = 75.00
    assert [(r["response_id"], r["total"], r["rank"]) for r in ranking["ranking"]] == [
        (theirs["id"], "89.00", 1), (receipt["id"], "75.00", 2)]
    refused = tenders.award(tender, receipt["id"], expect=409)
    assert "ranks 2" in refused["detail"]
    awarded = tenders.award(tender, theirs["id"])
    assert awarded["status"] == "awarded" and awarded["contract_id"]
    tenders.award(tender, theirs["id"], expect=409)

    # Standstill: 8 working days from Thursday 10 December 2026, ending at London midnight.
    assert awarded["standstill_ends_at"] == "2026-12-23T00:00:00+00:00"
    events = [e["ce_type"] for e in outbox_events(world.uow_factory, "tender.")]
    assert events == [ce("tender.published"), ce("tender.closed"), ce("tender.awarded")]
    award_event = outbox_events(world.uow_factory, "tender.awarded")[0]["data"]
    assert award_event["award_value_pence"] == 20_000_000
    assert "17500000" not in str(outbox_events(world.uow_factory))

    # Outcomes: each responder its own scores and the winner's; never a losing price.
    loser = world.call("GET", f"/tenders/{tender['id']}/outcome", "innovator", 200).get_json()
    assert loser["winner"]["response_id"] == theirs["id"]
    assert [o["response_id"] for o in loser["own"]] == [receipt["id"]]
    assert loser["responses"] == [] and "17500000" not in str(loser)
    assert loser["own"][0]["scores"][0]["rationale"].startswith("Scored 60")
    world.call("GET", f"/tenders/{tender['id']}/outcome", "icb_buyer", 200)

    # Cancelling an awarded tender cancels its unsigned contract.
    cancelled = world.call("POST", f"/tenders/{tender['id']}/cancel", "icb_buyer", 200,
                           json=CANCEL).get_json()
    assert cancelled["status"] == "cancelled"


def test_questions_close_at_the_clarification_deadline(tenders: Tenders) -> None:
    tender = tenders.published()
    tenders.world.clock.now = (datetime.fromisoformat(tender["clarification_closes_at"])
                               + timedelta(seconds=1))
    refused = tenders.world.call("POST", f"/tenders/{tender['id']}/questions", "innovator",
                                 409, json={"question": "Too late?"}).get_json()
    assert "deadline" in refused["detail"]


def test_a_tender_with_no_responses_is_unsuccessful(tenders: Tenders) -> None:
    tender = tenders.published()
    tenders.pass_deadline(tender)
    closed = tenders.get(tender)
    assert closed["status"] == "unsuccessful" and closed["responses_received"] == 0
    tenders.world.call("POST", f"/tenders/{tender['id']}/cancel", "icb_buyer", 409,
                       json=CANCEL)


def test_an_ineligible_listing_is_refused_with_its_reasons(tenders: Tenders) -> None:
    tender = tenders.published(min_esf_tier="C")
    unapproved = tenders.world.published("innovator", esf_tier="B")
    refused = tenders.respond(tender, unapproved, 10_000, expect=409)
    assert any("no central approval" in r for r in refused["reasons"])
    assert any("ESF tier B" in r for r in refused["reasons"])
    other = tenders.eligible_listing("other")
    tenders.respond(tender, other, 10_000, expect=422)  # not the caller's listing
    wrong = tenders.respond(tender, tenders.eligible_listing("innovator"), 10_000,
                            expect=422, answers=answers_for(tender)[:1])
    assert "answers" in wrong["errors"]
