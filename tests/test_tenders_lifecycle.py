"""The tender lifecycle over HTTP: every forbidden transition (409 problem+json, with the
allowed actions where the state machine decides), who may act (the running ICB's buyers,
its successor's after a merger; nobody else), what a draft refuses (422), the demand
signal a publication closes, ties at the top, and two awards at once.

Expected allowed actions are read off the diagram in ``marketplace.tenders.lifecycle``:

    draft: cancel, publish            published: cancel, close, close_empty
    closed: cancel, complete_evaluation, score
    evaluated: award, cancel, score   awarded: cancel      unsuccessful, cancelled: none
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from marketplace.app import create_app
from marketplace.contracts.models import Contract
from marketplace.http.wiring import marketplace_of
from marketplace.kernel.settings import Settings
from tests.catalogue_support import ce, outbox_events
from tests.conftest import Clock, bearer
from tests.tenders_more_support import (  # noqa: F401  (the `market` fixture)
    OTHER_ICB,
    PROBLEM_JSON,
    MoreTenders,
    market_fixture,
)
from tests.tenders_support import (
    CANCEL,
    CRITERIA,
    SUBMIT_BY,
    answers_for,
    scores_for,
    tender_body,
)

ALLOWED = {
    "draft": ["cancel", "publish"],
    "published": ["cancel", "close", "close_empty"],
    "closed": ["cancel", "complete_evaluation", "score"],
    "evaluated": ["award", "cancel", "score"],
    "awarded": ["cancel"],
    "unsuccessful": [],
    "cancelled": [],
}
OTHER_BUYER = f"buyer:{OTHER_ICB}"
SUCCESSOR = "Q9W"


def forbidden(response: Any, status: str) -> dict[str, Any]:
    """A 409 of the state machine in ``status``: problem+json naming what is allowed."""
    assert response.status_code == 409, response.get_data(as_text=True)
    assert response.content_type == PROBLEM_JSON
    problem = response.get_json()
    assert problem["title"] == "Transition not allowed"
    assert problem["status"] == 409
    assert problem["current_status"] == status
    assert problem["allowed_actions"] == ALLOWED[status], problem
    return problem


def act(market: MoreTenders, tender: dict[str, Any], action: str, who: str = "icb_buyer",
        body: dict[str, Any] | None = None) -> Any:
    """POST ``/tenders/{id}/{action}`` without asserting the status."""
    return market.call("POST", f"/tenders/{tender['id']}/{action}", who,
                       json=body if body is not None else {})


def score_body(tender: dict[str, Any], response_id: str, *points: int) -> dict[str, Any]:
    return {"response_id": response_id, "scores": scores_for(tender, *points)}


def two_responses(market: MoreTenders, tender: dict[str, Any]
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    first = market.respond(tender, market.eligible_listing("innovator"), 18_000_000)
    second = market.respond(tender, market.eligible_listing("other"), 20_000_000,
                            who="other")
    return first, second


# --- every forbidden transition -------------------------------------------------------------
def test_every_forbidden_step_of_a_tender_is_a_409_naming_the_allowed_actions(
        market: MoreTenders) -> None:
    draft = market.create()
    forbidden(act(market, draft, "award", body={"response_id": draft["id"]}), "draft")
    forbidden(act(market, draft, "evaluations", body=score_body(draft, draft["id"], 1, 1)),
              "draft")
    tender = market.publish(draft)
    problem = forbidden(act(market, tender, "publish"), "published")  # publish twice
    assert "only a tender that is draft can be published" in problem["detail"]
    win, lose = two_responses(market, tender)
    # Score and award before the close.
    forbidden(act(market, tender, "evaluations", body=score_body(tender, win["id"], 80, 70)),
              "published")
    forbidden(act(market, tender, "award", body={"response_id": win["id"]}), "published")

    market.pass_deadline(tender)
    market.score(tender, win["id"], 80, 70)
    # Award before every response is scored (not evaluated yet).
    forbidden(act(market, tender, "award", body={"response_id": win["id"]}), "closed")
    forbidden(act(market, tender, "publish"), "closed")
    market.score(tender, lose["id"], 60, 70)
    assert market.get(tender)["status"] == "evaluated"
    forbidden(act(market, tender, "publish"), "evaluated")
    market.award(tender, win["id"])
    forbidden(act(market, tender, "award", body={"response_id": win["id"]}), "awarded")
    forbidden(act(market, tender, "evaluations", body=score_body(tender, win["id"], 1, 1)),
              "awarded")
    cancelled = act(market, tender, "cancel", body=CANCEL)
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    problem = forbidden(act(market, tender, "cancel", body=CANCEL), "cancelled")
    assert "final" in problem["detail"]
    forbidden(act(market, tender, "publish"), "cancelled")
    forbidden(act(market, tender, "award", body={"response_id": win["id"]}), "cancelled")

    # Responding, asking and withdrawing after the cancellation: refused by status.
    refused = market.respond(tender, market.eligible_listing("innovator"), 1_000,
                             expect=409)
    assert refused["current_status"] == "cancelled"
    market.call("POST", f"/tenders/{tender['id']}/questions", "innovator", 409,
                json={"question": "Still running?"})
    market.call("POST", f"/tenders/{tender['id']}/responses/{win['id']}/withdraw",
                "innovator", 409)
    # Nothing forbidden wrote an event: published, closed, awarded, cancelled only.
    types = [e["ce_type"] for e in outbox_events(market.world.uow_factory, "tender.")]
    assert types == [ce("tender.published"), ce("tender.closed"), ce("tender.awarded"),
                     ce("tender.cancelled")]


def test_an_unsuccessful_tender_is_final(market: MoreTenders) -> None:
    tender = market.published()
    market.pass_deadline(tender)
    assert market.get(tender)["status"] == "unsuccessful"
    forbidden(act(market, tender, "cancel", body=CANCEL), "unsuccessful")
    forbidden(act(market, tender, "publish"), "unsuccessful")
    forbidden(act(market, tender, "award", body={"response_id": tender["id"]}),
              "unsuccessful")


def test_a_tender_awarded_and_signed_cannot_be_cancelled(market: MoreTenders) -> None:
    tender, _, _ = market.awarded()
    contract = market.call("GET", f"/contracts/{tender['contract_id']}", "icb_buyer",
                           200).get_json()
    market.world.clock.now = datetime.fromisoformat(contract["standstill_ends_at"])
    market.call("POST", f"/contracts/{contract['id']}/sign", "icb_buyer", 200)
    refused = act(market, tender, "cancel", body=CANCEL)
    assert refused.status_code == 409 and refused.content_type == PROBLEM_JSON
    assert refused.get_json()["current_status"] == "active"  # the contract's status
    assert market.get(tender)["status"] == "awarded"


def test_a_draft_does_not_exist_for_a_responder_or_another_icb(market: MoreTenders) -> None:
    draft = market.create()
    listing = market.eligible_listing("innovator")
    missing = "00000000-0000-4000-8000-000000000000"
    for tender_id in (draft["id"], missing):
        refused = market.call("POST", f"/tenders/{tender_id}/responses", "innovator", 404,
                              json={"innovation_id": listing["id"], "price_pence": 1_000,
                                    "answers": answers_for(draft)}).get_json()
        assert refused["detail"] == f"No tender has the id {tender_id!r}."
        market.call("POST", f"/tenders/{tender_id}/questions", "innovator", 404,
                    json={"question": "Is it open?"})
        # Another ICB's buyer cannot publish (nor learn of) a draft it cannot see.
        market.call("POST", f"/tenders/{tender_id}/publish", OTHER_BUYER, 404)
        market.call("GET", f"/tenders/{tender_id}", OTHER_BUYER, 404)


def test_questions_are_answered_while_published_and_never_after_the_close(
        market: MoreTenders) -> None:
    tender = market.published()
    path = f"/tenders/{tender['id']}/questions"
    asked = [market.call("POST", path, "innovator", 201, json={"question": q}).get_json()
             for q in ("Is HL7 v2 acceptable?", "Is a pilot site required?")]
    market.respond(tender, market.eligible_listing("innovator"), 18_000_000)
    # After the clarification deadline the buyer still answers (the tender is published).
    market.world.clock.now = (datetime.fromisoformat(tender["clarification_closes_at"])
                              + timedelta(hours=1))
    market.call("POST", f"{path}/{asked[0]['id']}/answer", "icb_buyer", 200,
                json={"answer": "Yes, through the trust's integration engine."})
    market.call("POST", f"{path}/{asked[0]['id']}/answer", "icb_buyer", 409,
                json={"answer": "Changed our mind."})  # a published answer is final
    market.pass_deadline(tender)
    late = market.call("POST", f"{path}/{asked[1]['id']}/answer", "icb_buyer", 409,
                       json={"answer": "Too late."}).get_json()
    assert late["current_status"] == "closed" and "published" in late["detail"]
    shown = market.get(tender)["questions"]
    assert [q["id"] for q in shown] == [asked[0]["id"]]


def test_a_response_cannot_be_withdrawn_at_or_after_the_deadline(market: MoreTenders) -> None:
    tender = market.published()
    listing = market.eligible_listing("innovator")
    response = market.respond(tender, listing, 18_000_000)
    other = market.respond(tender, market.eligible_listing("other"), 20_000_000, who="other")
    path = f"/tenders/{tender['id']}/responses/{response['id']}/withdraw"
    closes = datetime.fromisoformat(tender["submission_closes_at"])
    # One second before the deadline a response is still withdrawn...
    market.world.clock.now = closes - timedelta(seconds=1)
    withdrawn = market.call("POST", f"/tenders/{tender['id']}/responses/{other['id']}"
                            "/withdraw", "other", 200).get_json()
    assert withdrawn["status"] == "withdrawn"
    # ... at the deadline, before the tick has closed the tender, no longer ...
    market.world.clock.now = closes
    at_deadline = market.call("POST", path, "innovator", 409).get_json()
    assert at_deadline["deadline"] == tender["submission_closes_at"]
    # ... nor once it is closed; and it still counts.
    market.tick()
    after = market.call("POST", path, "innovator", 409).get_json()
    assert after["current_status"] == "closed"
    assert market.get(tender)["responses_received"] == 1


# --- who acts ---------------------------------------------------------------------------------
def test_only_the_running_icbs_buyers_act_on_a_tender(market: MoreTenders) -> None:
    tender = market.published()
    question = market.call("POST", f"/tenders/{tender['id']}/questions", "innovator", 201,
                           json={"question": "Is HL7 v2 acceptable?"}).get_json()
    win, lose = two_responses(market, tender)

    def refused_to_other_icb(action: str, body: dict[str, Any] | None = None) -> None:
        response = act(market, tender, action, OTHER_BUYER, body)
        assert response.status_code == 403, (action, response.get_data(as_text=True))
        assert response.content_type == PROBLEM_JSON
        assert "run by QOP" in response.get_json()["detail"]

    refused_to_other_icb("publish")
    refused_to_other_icb(f"questions/{question['id']}/answer", {"answer": "Not ours."})
    market.pass_deadline(tender)
    refused_to_other_icb("evaluations", score_body(tender, win["id"], 80, 70))
    market.call("GET", f"/tenders/{tender['id']}/evaluations", OTHER_BUYER, 403)
    market.score(tender, win["id"], 80, 70)
    market.score(tender, lose["id"], 60, 70)
    refused_to_other_icb("award", {"response_id": win["id"]})
    refused_to_other_icb("cancel", CANCEL)
    # Innovators and operators are not buyers at all.
    for who in ("innovator", "admin", "assessor", "trust_system"):
        assert act(market, tender, "award", who, {"response_id": win["id"]}).status_code == 403
    assert market.get(tender)["status"] == "evaluated"
    market.award(tender, win["id"])


def test_after_a_merger_the_successors_buyers_act_and_the_merged_icbs_do_not(
        market: MoreTenders) -> None:
    world = market.world
    draft = market.create()
    tender = market.published()
    question = market.call("POST", f"/tenders/{tender['id']}/questions", "innovator", 201,
                           json={"question": "Is HL7 v2 acceptable?"}).get_json()
    win, lose = two_responses(market, tender)
    world.merge("QOP", SUCCESSOR)

    for who in ("icb_buyer", "buyer:QOP"):
        for action, body in ((f"questions/{question['id']}/answer", {"answer": "Yes."}),
                             ("cancel", CANCEL), ("publish", None)):
            refused = act(market, tender, action, who, body)
            assert refused.status_code == 403, (who, action)
            assert "merged into Q9W" in refused.get_json()["detail"]
        market.call("POST", "/tenders", who, 403, json=tender_body())
    successor = f"buyer:{SUCCESSOR}"
    # The successor sees the merged ICB's draft and publishes it.
    assert market.call("GET", f"/tenders/{draft['id']}", successor, 200).get_json()[
        "status"] == "draft"
    assert act(market, draft, "publish", successor).status_code == 200
    answered = act(market, tender, f"questions/{question['id']}/answer", successor,
                   {"answer": "Yes, through the integration engine."})
    assert answered.status_code == 200
    market.pass_deadline(tender)
    for response, points in ((win, (80, 70)), (lose, (60, 70))):
        assert act(market, tender, "evaluations", successor,
                   score_body(tender, response["id"], *points)).status_code == 200
    assert act(market, tender, "award", "icb_buyer",
               {"response_id": win["id"]}).status_code == 403
    awarded = act(market, tender, "award", successor, {"response_id": win["id"]})
    assert awarded.status_code == 200, awarded.get_data(as_text=True)
    body = awarded.get_json()
    assert body["icb"] == "QOP"  # the ICB that ran it, kept
    contract = market.call("GET", f"/contracts/{body['contract_id']}", successor,
                           200).get_json()
    assert contract["buyer"] == SUCCESSOR and contract["status"] == "pending"
    assert contract["eligible_trusts"] == ["R0A"]  # the merged ICB's trust, now Q9W's
    award_event = outbox_events(world.uow_factory, "tender.awarded")[0]["data"]
    assert award_event["icb_ods"] == SUCCESSOR  # named by the ICB that holds it today


# --- what a draft refuses ---------------------------------------------------------------------
def _criteria(*kinds_and_weights: tuple[str, int]) -> list[dict[str, Any]]:
    return [{"title": f"{kind} {n}", "kind": kind, "weight_percent": weight}
            for n, (kind, weight) in enumerate(kinds_and_weights)]


@pytest.mark.parametrize(("overrides", "field"), [
    ({"criteria": _criteria(("quality", 50), ("social_value", 10), ("price", 30))},
     "criteria"),                                                     # weights add up to 90
    ({"criteria": _criteria(("quality", 50), ("social_value", 10), ("price", 41))},
     "criteria"),                                                     # ... or to 101
    ({"criteria": _criteria(("quality", 60), ("price", 20), ("price", 20))}, "criteria"),
    ({"criteria": _criteria(("quality", 60), ("social_value", 40))}, "criteria"),  # no price
    ({"clarification_deadline": "2026-12-11T12:00:00+00:00"}, "submission_deadline"),
    ({"clarification_deadline": SUBMIT_BY}, "submission_deadline"),   # equal is not before
    ({"clarification_deadline": "2026-11-21T08:59:59+00:00"}, "clarification_deadline"),
    ({"framework_id": "3f0c3d52-8a57-4a53-9d0e-6d0c3b6b5c11"}, "framework_id"),
    ({"lot_id": "3f0c3d52-8a57-4a53-9d0e-6d0c3b6b5c11"}, "lot_id"),
    ({"procedure": "framework_competition"}, "framework_id"),
    ({"accelerator": 14400}, "accelerator"),                          # not in the sandbox
    ({"accelerator": 2}, "accelerator"),
])
def test_a_draft_that_breaks_a_rule_is_a_422(market: MoreTenders, overrides: dict[str, Any],
                                             field: str) -> None:
    problem = market.create(expect=422, **overrides)
    assert problem["status"] == 422 and problem["title"] == "Validation failed"
    assert field in problem["errors"], problem
    listed = market.call("GET", "/tenders", "icb_buyer", 200).get_json()
    assert listed["total"] == 0  # nothing was drafted


def test_weights_adding_up_to_100_with_one_price_are_accepted(market: MoreTenders) -> None:
    tender = market.create(criteria=_criteria(("quality", 99), ("price", 1)))
    assert [c["weight_percent"] for c in tender["criteria"]] == [99, 1]
    assert market.create(criteria=CRITERIA)["status"] == "draft"


# --- a tender answering a demand signal -----------------------------------------------------
def test_publishing_a_tender_closes_the_signal_it_answers(market: MoreTenders) -> None:
    world = market.world
    signal = world.post_signal("icb_buyer")
    draft = market.create(signal_id=signal["id"])
    assert world.signal(signal["id"])["status"] == "open"  # a draft closes nothing
    tender = market.publish(draft)
    closed = world.signal(signal["id"])
    assert (closed["status"], closed["outcome"], closed["tender_id"]) == (
        "closed", "tender_published", tender["id"])
    events = [e for e in outbox_events(world.uow_factory, "demand.signal.closed")
              if e["record_key"] == signal["id"]]
    assert [(e["data"]["outcome"], e["data"]["tender_id"]) for e in events] == [
        ("tender_published", tender["id"])]
    # A closed signal, another ICB's, or none at all: refused at drafting.
    assert "closed" in market.create(expect=409, signal_id=signal["id"])["detail"]
    theirs = world.post_signal(OTHER_BUYER)
    market.create(expect=403, signal_id=theirs["id"])
    market.create(expect=422, signal_id="3f0c3d52-8a57-4a53-9d0e-6d0c3b6b5c11")


def test_two_tenders_answering_one_signal_both_publish(market: MoreTenders) -> None:
    world = market.world
    signal = world.post_signal("icb_buyer")
    first = market.create(signal_id=signal["id"], title="Lot 1: triage")
    second = market.create(signal_id=signal["id"], title="Lot 2: follow-up")
    market.publish(first)
    # The signal closed with the first; the second still publishes, leaving it closed
    # with the first's id.
    assert market.publish(second)["status"] == "published"
    closed = world.signal(signal["id"])
    assert (closed["outcome"], closed["tender_id"]) == ("tender_published", first["id"])


# --- ties ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("pick", [0, 1])
def test_a_tie_at_the_top_is_reported_and_the_buyer_awards_either(
        market: MoreTenders, pick: int) -> None:
    tender = market.published()
    first = market.respond(tender, market.eligible_listing("innovator"), 10_000_000)
    second = market.respond(tender, market.eligible_listing("other"), 10_000_000,
                            who="other")
    third = market.respond(tender, market.eligible_listing("innovator"), 20_000_000)
    market.pass_deadline(tender)
    market.score(tender, third["id"], 100, 100)
    market.score(tender, first["id"], 80, 70)
    ranking = market.score(tender, second["id"], 80, 70)
    # first, second: 50 x 0.8 + 10 x 0.7 + 40 x 1 = 87.00; third: 50 + 10 + 40 x 0.5 = 80.00
    assert ranking["complete"] and ranking["tie_at_top"] is True
    rows = {r["response_id"]: (r["total"], r["rank"], r["tied"]) for r in ranking["ranking"]}
    assert rows == {first["id"]: ("87.00", 1, True), second["id"]: ("87.00", 1, True),
                    third["id"]: ("80.00", 3, False)}  # competition ranking: 1, 1, 3
    refused = market.award(tender, third["id"], expect=409)
    assert "ranks 3" in refused["detail"]
    chosen = (first, second)[pick]
    awarded = market.award(tender, chosen["id"])
    assert awarded["status"] == "awarded"
    contract = market.call("GET", f"/contracts/{awarded['contract_id']}", "icb_buyer",
                           200).get_json()
    assert contract["value_pence"] == 10_000_000
    winner = market.call("GET", f"/tenders/{tender['id']}/outcome", "icb_buyer",
                         200).get_json()["winner"]
    assert winner["response_id"] == chosen["id"]
    audit = market.call("GET", f"/audit?object_id={tender['id']}&action=tender.awarded",
                        "admin", 200).get_json()["items"]
    assert [row["changes"]["tie_broken_by_buyer"] for row in audit] == [[None, True]]


def test_without_a_tie_the_award_is_not_recorded_as_a_tie_break(market: MoreTenders) -> None:
    tender, _, _ = market.awarded()
    audit = market.call("GET", f"/audit?object_id={tender['id']}&action=tender.awarded",
                        "admin", 200).get_json()["items"]
    assert [row["changes"]["tie_broken_by_buyer"] for row in audit] == [[None, False]]


# --- two awards at once -----------------------------------------------------------------------
def test_two_awards_at_once_give_one_award_one_409_and_one_contract(
        market: MoreTenders, app: Flask, settings: Settings, clock: Clock) -> None:
    """Two app instances (two engines, two connection pools) post the award at the same
    moment, three times over; the tender's row lock lets one through."""
    second_app = create_app(settings, clock=clock)
    try:
        first_listing = market.eligible_listing("innovator")
        second_listing = market.eligible_listing("other")
        tenders = []
        for _ in range(3):
            tender = market.published()
            win = market.respond(tender, first_listing, 18_000_000)
            lose = market.respond(tender, second_listing, 20_000_000, who="other")
            tenders.append((tender, win, lose))
        market.world.clock.now = (datetime.fromisoformat(SUBMIT_BY) + timedelta(seconds=1))
        market.tick()
        for tender, win, lose in tenders:
            market.score(tender, win["id"], 80, 70)
            market.score(tender, lose["id"], 60, 70)
        token = market.world.token("icb_buyer")
        for tender, win, _ in tenders:
            results = race([app, second_app], f"/api/v1/tenders/{tender['id']}/award",
                           {"response_id": win["id"]}, token)
            assert sorted(status for status, _ in results) == [200, 409], results
            loser = next(body for status, body in results if status == 409)
            assert loser["current_status"] == "awarded" and loser["allowed_actions"] == [
                "cancel"]
            with market.world.uow_factory() as uow:
                contracts = uow.session.scalar(select(func.count()).select_from(Contract)
                                               .where(Contract.tender_id == tender["id"]))
            assert contracts == 1
            awards = [e for e in outbox_events(market.world.uow_factory, "tender.awarded")
                      if e["record_key"] == tender["id"]]
            assert len(awards) == 1
    finally:
        marketplace_of(second_app).dispose()


def race(apps: list[Flask], path: str, body: dict[str, Any], token: str
         ) -> list[tuple[int, dict[str, Any]]]:
    """POST ``body`` to ``path`` from one thread per app, released together."""
    barrier = threading.Barrier(len(apps))
    results: list[tuple[int, dict[str, Any]]] = []
    lock = threading.Lock()

    def post(app: Flask) -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post(path, json=body, headers=bearer(token))
        with lock:
            results.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=post, args=(app,)) for app in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == len(apps), "an award request hung"
    return results
