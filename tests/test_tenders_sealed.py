"""Sealed responses: leak attempts from every role and anonymously, before and after the
submission deadline, through every endpoint that could show one (the response, the lists,
the tender and its count, ``/events``, ``/audit``, OCDS), and by reading the database.

The response under attack carries a sentinel price (987654321 pence) and sentinel answer
text, so any copy of either anywhere is found by a plain byte search. Until the deadline
a response exists only for its responder; after it, for the buyer too, and for nobody
else. At rest it is AES-GCM ciphertext bound to its tender and response, under a key
ring that can rotate.
"""
from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag

from marketplace.app import create_app
from marketplace.http.wiring import marketplace_of
from marketplace.kernel.settings import Settings
from marketplace.tenders.sealing import Sealed, SealingKeyError, new_key, sealer_for
from tests.catalogue_support import ce, outbox_events
from tests.conftest import Clock
from tests.event_helpers import relay_pending_to
from tests.tenders_more_support import (  # noqa: F401  (the `market` fixture)
    NOT_THE_RESPONDER,
    PROBLEM_JSON,
    MoreTenders,
    market_fixture,
    response_rows,
    row_count,
    swap_sealed,
    where_found,
    world_on,
)
from tests.tenders_support import answers_for, scores_for

K1, K2 = new_key("k1"), new_key("k2")
PRICE = 987_654_321
TEXT = "Zebra-quartz sentinel answer 4471"
NEEDLES = (str(PRICE).encode(), TEXT.encode())
#: Every caller who is not the responder, and anonymous.
VIEWERS: tuple[str | None, ...] = (*NOT_THE_RESPONDER, None)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The conftest settings, with a configured key ring of one key (``k1``)."""
    return Settings(database_url=database_url, secret_key="test-secret",
                    evidence_dir=tmp_path / "evidence", max_content_length=64 * 1024,
                    sealing_keys=K1)


# --- helpers ------------------------------------------------------------------------------
def respond(market: MoreTenders, tender: dict[str, Any], listing: dict[str, Any],
            price: int, who: str, text: str, key: str | None = None) -> dict[str, Any]:
    headers = {"Idempotency-Key": key} if key else {}
    return market.call("POST", f"/tenders/{tender['id']}/responses", who, 201, json={
        "innovation_id": listing["id"], "price_pence": price,
        "answers": answers_for(tender, text)}, headers=headers).get_json()


def two_responses(market: MoreTenders) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A published tender; the innovator's sentinel response (sent with an Idempotency-Key)
    and the other innovator's plain one: (tender, sentinel receipt, other receipt)."""
    tender = market.published()
    mine_listing = market.eligible_listing("innovator")
    theirs_listing = market.eligible_listing("other")
    mine = respond(market, tender, mine_listing, PRICE, "innovator", TEXT, key="sealed-1")
    theirs = respond(market, tender, theirs_listing, 20_000_000, "other", "Plain answer")
    return tender, mine, theirs


def body_text(response: Any) -> bytes:
    return response.get_data()


def no_needle(data: bytes, where: str) -> None:
    for needle in NEEDLES:
        assert needle not in data, f"{needle!r} shown by {where}"


def pages(market: MoreTenders, path: str, who: str | None) -> list[dict[str, Any]]:
    """Every item of a paginated list, page by page."""
    items, page = [], 1
    while True:
        sep = "&" if "?" in path else "?"
        body = market.call("GET", f"{path}{sep}per_page=100&page={page}", who, 200).get_json()
        items.extend(body["items"])
        if page * 100 >= body["total"]:
            return items
        page += 1


def public_views(market: MoreTenders, tender: dict[str, Any], who: str | None
                 ) -> dict[str, Any]:
    """What ``who`` is shown of the tender: the tender (body and ETag), the tender list,
    its questions."""
    one = market.call("GET", f"/tenders/{tender['id']}", who, 200)
    return {"tender": one.get_json(), "etag": one.headers.get("ETag"),
            "list": market.call("GET", "/tenders", who, 200).get_json(),
            "questions": market.call("GET", f"/tenders/{tender['id']}/questions", who,
                                     200).get_json()}


def ocds_views(market: MoreTenders, tender: dict[str, Any]) -> dict[str, Any]:
    releases = market.call("GET", "/ocds/releases", None, 200)
    record = market.call("GET", f"/ocds/records/{tender['ocid']}", None, 200)
    return {"releases": releases.get_json(), "record": record.get_json(),
            "raw": releases.get_data() + record.get_data()}


def pass_deadline(market: MoreTenders, tender: dict[str, Any]) -> None:
    market.pass_deadline(tender)
    assert market.get(tender)["status"] == "closed"


# --- before the deadline ------------------------------------------------------------------
def test_before_the_deadline_a_response_exists_for_its_responder_alone(
        market: MoreTenders) -> None:
    tender = market.published()
    mine_listing = market.eligible_listing("innovator")
    theirs_listing = market.eligible_listing("other")
    before = {who: public_views(market, tender, who) for who in VIEWERS}
    mine = respond(market, tender, mine_listing, PRICE, "innovator", TEXT, key="sealed-1")
    theirs = respond(market, tender, theirs_listing, 20_000_000, "other", "Plain answer")
    path = f"/tenders/{tender['id']}/responses"
    missing = str(uuid.uuid4())

    for who in VIEWERS:
        shown = market.call("GET", f"{path}/{mine['id']}", who)
        absent = market.call("GET", f"{path}/{missing}", who)
        # As for an id that never existed: the same status, type and body but the id.
        assert shown.status_code == absent.status_code == (401 if who is None else 404), who
        assert shown.content_type == absent.content_type == PROBLEM_JSON
        assert shown.get_json() == json.loads(
            absent.get_data(as_text=True).replace(missing, mine["id"])), who
        assert sorted(shown.headers.keys()) == sorted(absent.headers.keys()), who
        no_needle(body_text(shown), f"GET response as {who}")
        listed = market.call("GET", path, who)
        if who is None:
            assert listed.status_code == 401
        else:
            body = listed.get_json()
            assert [r["id"] for r in body["items"]] == (
                [theirs["id"]] if who == "other" else []), who
            assert body["total"] == (1 if who == "other" else 0), who
        no_needle(body_text(listed), f"the response list as {who}")
        # The tender, the tender list and the questions do not move by one byte: no
        # count, no new version, no changed ETag.
        after = public_views(market, tender, who)
        assert after == before[who], who
        assert after["tender"]["responses_received"] is None
        no_needle(json.dumps(after).encode(), f"the tender as {who}")

    # The buyer cannot rank what it cannot see; nor is there an outcome yet.
    problem = market.call("GET", f"/tenders/{tender['id']}/evaluations", "icb_buyer",
                          409).get_json()
    assert problem["current_status"] == "published"
    market.call("GET", f"/tenders/{tender['id']}/evaluations", "buyer:QMJ", 403)
    for who in ("innovator", "icb_buyer"):
        market.call("GET", f"/tenders/{tender['id']}/outcome", who, 409)

    # The responder reads its own, in full.
    own = market.call("GET", f"{path}/{mine['id']}", "innovator", 200).get_json()
    assert own["price_pence"] == PRICE
    assert all(a["text"].startswith(TEXT) for a in own["answers"])
    assert len(own["answers"]) == 2  # quality and social value (price is the price)
    listed = market.call("GET", path, "innovator", 200).get_json()
    assert [r["id"] for r in listed["items"]] == [mine["id"]]


def test_the_audit_trail_shows_response_rows_to_the_responder_only(
        market: MoreTenders) -> None:
    tender, mine, theirs = two_responses(market)
    market.call("POST", f"/tenders/{tender['id']}/responses/{theirs['id']}/withdraw",
                "other", 200)
    respond(market, tender, {"id": theirs["innovation_id"]}, 19_000_000, "other", "Again")

    def check(phase: str) -> None:
        market.call("GET", "/audit", None, 401)
        for who in NOT_THE_RESPONDER:
            items = pages(market, "/audit", who)
            assert items or who != "admin"  # the operator sees the rest of the trail
            raw = json.dumps(items).encode()
            no_needle(raw, f"/audit as {who} {phase}")
            assert mine["id"].encode() not in raw, (who, phase)
            own_rows = [i for i in items if i["object_type"] == "tender_response"]
            if who == "other":  # its own response's three rows, nobody else's
                assert {i["object_id"] for i in own_rows} == {theirs["id"]}
                assert [i["action"] for i in reversed(own_rows)] == [
                    "tender_response.submitted", "tender_response.withdrawn",
                    "tender_response.replaced"]
            else:
                assert own_rows == [], (who, phase)
            filtered = market.call("GET", f"/audit?object_id={mine['id']}", who,
                                   200).get_json()
            assert filtered["items"] == [] and filtered["total"] == 0, (who, phase)
        mine_rows = pages(market, "/audit?object_type=tender_response", "innovator")
        assert [(i["object_id"], i["action"]) for i in mine_rows] == [
            (mine["id"], "tender_response.submitted")]
        no_needle(json.dumps(mine_rows).encode(), f"the responder's own audit {phase}")

    check("before the deadline")
    pass_deadline(market, tender)
    check("after the deadline")


@pytest.mark.kafka
def test_no_event_carries_a_response_before_or_after_the_deadline(
        market: MoreTenders, bootstrap: str, database_url: str) -> None:
    tender = market.published()
    mine_listing = market.eligible_listing("innovator")
    theirs_listing = market.eligible_listing("other")
    outbox_before = row_count(database_url, "outbox")
    mine = respond(market, tender, mine_listing, PRICE, "innovator", TEXT, key="sealed-1")
    theirs = respond(market, tender, theirs_listing, 20_000_000, "other", "Plain answer")
    market.call("POST", f"/tenders/{tender['id']}/responses/{theirs['id']}/withdraw",
                "other", 200)
    respond(market, tender, theirs_listing, 20_000_000, "other", "Plain answer")
    # A response, its replacement and its withdrawal emit nothing at all.
    assert row_count(database_url, "outbox") == outbox_before
    for row in outbox_events(market.world.uow_factory):
        raw = json.dumps(row, default=str).encode()
        no_needle(raw, f"outbox row {row['ce_type']}")
        assert mine["id"].encode() not in raw and theirs["id"].encode() not in raw

    topic = f"tenders-sealed-{uuid.uuid4().hex[:8]}"
    sent = relay_pending_to(database_url, bootstrap, topic)
    assert sent == outbox_before  # the feed has what the outbox had: nothing more

    def feed(who: str) -> list[dict[str, Any]]:
        response = market.call("GET", "/events?after=0&limit=1000", who, 200)
        no_needle(response.get_data(), f"/events as {who}")
        assert mine["id"].encode() not in response.get_data()
        return response.get_json()["items"]

    for who in ("trust_system", "admin"):
        types = [e["type"] for e in feed(who)]
        assert len(types) == sent
        assert ce("tender.published") in types
        assert not [t for t in types if "response" in t], types
    for who in ("icb_buyer", "buyer:QMJ", "assessor", "funder", "innovator", "other"):
        market.call("GET", "/events", who, 403)
    market.call("GET", "/events", None, 401)

    # After the deadline: the close gives the count; the award the winner's price (the
    # other innovator's), never the sentinel bid that lost.
    pass_deadline(market, tender)
    market.score(tender, mine["id"], 50, 50)
    ranking = market.score(tender, theirs["id"], 90, 90)
    assert ranking["ranking"][0]["response_id"] == theirs["id"]
    market.award(tender, theirs["id"])
    more = relay_pending_to(database_url, bootstrap, topic)
    assert more == 2  # tender.closed, tender.awarded (the contract is unsigned)
    events = {e["type"]: e["data"] for e in feed("trust_system")}
    assert events[ce("tender.closed")]["responses_received"] == 2
    assert events[ce("tender.awarded")]["award_value_pence"] == 20_000_000
    for row in outbox_events(market.world.uow_factory):
        no_needle(json.dumps(row, default=str).encode(), f"outbox row {row['ce_type']}")


def test_ocds_never_shows_a_sealed_response(market: MoreTenders) -> None:
    tender = market.published()
    mine_listing = market.eligible_listing("innovator")
    theirs_listing = market.eligible_listing("other")
    published = ocds_views(market, tender)
    mine = respond(market, tender, mine_listing, PRICE, "innovator", TEXT)
    theirs = respond(market, tender, theirs_listing, 20_000_000, "other", "Plain answer")
    # Before the deadline the releases and the record do not change at all.
    assert ocds_views(market, tender) == published
    compiled = published["record"]["records"][0]["compiledRelease"]
    assert compiled["tender"].get("numberOfTenderers") is None

    pass_deadline(market, tender)
    market.score(tender, mine["id"], 50, 50)
    market.score(tender, theirs["id"], 90, 90)
    market.award(tender, theirs["id"])
    views = ocds_views(market, tender)
    no_needle(views["raw"], "OCDS after the award")
    for response in (mine, theirs):
        assert response["id"].encode() not in views["raw"]
    assert b"Plain answer" not in views["raw"]  # not even the winner's answers
    compiled = views["record"]["records"][0]["compiledRelease"]
    assert compiled["tender"]["numberOfTenderers"] == 2
    assert len(compiled["awards"]) == 1  # the award is published, and no bid with it


# --- after the deadline -------------------------------------------------------------------
def test_after_the_deadline_only_the_buyer_and_the_responder_read_it(
        market: MoreTenders) -> None:
    tender, mine, theirs = two_responses(market)
    gone = respond(market, tender, market.eligible_listing("innovator"), 1_000, "innovator",
                   "Withdrawn before the deadline")
    market.call("POST", f"/tenders/{tender['id']}/responses/{gone['id']}/withdraw",
                "innovator", 200)
    pass_deadline(market, tender)
    path = f"/tenders/{tender['id']}/responses"

    buyer = market.call("GET", f"{path}/{mine['id']}", "icb_buyer", 200).get_json()
    assert buyer["price_pence"] == PRICE and buyer["answers"][0]["text"].startswith(TEXT)
    listed = market.call("GET", path, "icb_buyer", 200).get_json()
    # A response withdrawn before the deadline is never opened, not even to the buyer.
    assert sorted(r["id"] for r in listed["items"]) == sorted([mine["id"], theirs["id"]])
    market.call("GET", f"{path}/{gone['id']}", "icb_buyer", 404)
    own = market.call("GET", path, "innovator", 200).get_json()
    assert sorted(r["id"] for r in own["items"]) == sorted([mine["id"], gone["id"]])

    for who in VIEWERS:
        if who == "icb_buyer":
            continue
        shown = market.call("GET", f"{path}/{mine['id']}", who)
        assert shown.status_code == (401 if who is None else 404), who
        no_needle(shown.get_data(), f"GET response as {who} after the deadline")
        if who is not None:
            items = market.call("GET", path, who, 200).get_json()["items"]
            assert [r["id"] for r in items] == ([theirs["id"]] if who == "other" else [])
    closed = market.get(tender, None)
    assert closed["responses_received"] == 2  # the count, now it may be known


# --- the database ---------------------------------------------------------------------------
def test_the_database_holds_only_ciphertext(market: MoreTenders, database_url: str,
                                            settings: Settings) -> None:
    tender, mine, theirs = two_responses(market)
    # The scan reads every table: the tender's own title is found in the clear...
    assert ("tender", "title") in where_found(database_url, tender["title"].encode())
    assert row_count(database_url, "idempotency_record") >= 1  # the sentinel POST's
    # ... and neither the price nor the answers, in any column of any table: not
    # tender_response (its sealed bytes included), idempotency_record, audit_event.
    for needle in NEEDLES:
        assert where_found(database_url, needle) == [], needle

    # The ciphertext is the bid: it opens, under the configured key, to exactly it.
    row = response_rows(database_url)[mine["id"]]
    assert row["key_id"] == "k1"
    opened = sealer_for(settings.sealing_keys, settings.secret_key).open(
        tender["id"], mine["id"], Sealed(row["key_id"], row["sealed"]))
    assert opened["price_pence"] == PRICE
    assert [a["text"] for a in opened["answers"]] == [
        a["text"] for a in answers_for(tender, TEXT)]

    # After the deadline, scoring (with Idempotency-Keys, as a careful client sends) and
    # the award to the other response: the losing sentinel bid is still nowhere in clear.
    pass_deadline(market, tender)
    for n, (response, points) in enumerate(((mine, (50, 50)), (theirs, (90, 90)))):
        market.call("POST", f"/tenders/{tender['id']}/evaluations", "icb_buyer", 200,
                    json={"response_id": response["id"],
                          "scores": scores_for(tender, *points)},
                    headers={"Idempotency-Key": f"score-{n}"})
    market.call("GET", f"/tenders/{tender['id']}/evaluations", "icb_buyer", 200)
    market.call("POST", f"/tenders/{tender['id']}/award", "icb_buyer", 200,
                json={"response_id": theirs["id"]}, headers={"Idempotency-Key": "award"})
    market.call("GET", f"/tenders/{tender['id']}/outcome", "innovator", 200)
    for needle in NEEDLES:
        assert where_found(database_url, needle) == [], needle


def test_swapped_sealed_blobs_fail_to_open_rather_than_show_the_wrong_bid(
        market: MoreTenders, database_url: str, settings: Settings) -> None:
    tender, mine, theirs = two_responses(market)
    pass_deadline(market, tender)
    path = f"/tenders/{tender['id']}/responses"
    assert market.call("GET", f"{path}/{theirs['id']}", "icb_buyer",
                       200).get_json()["price_pence"] == 20_000_000
    swap_sealed(database_url, mine["id"], theirs["id"])

    for response in (mine, theirs):
        shown = market.call("GET", f"{path}/{response['id']}", "icb_buyer")
        assert shown.status_code == 500 and shown.content_type == PROBLEM_JSON
        assert b"20000000" not in shown.get_data()
        no_needle(shown.get_data(), "a swapped response")
        assert b"Traceback" not in shown.get_data()
    listed = market.call("GET", path, "icb_buyer")
    assert listed.status_code == 500 and b"20000000" not in listed.get_data()
    sealer = sealer_for(settings.sealing_keys, settings.secret_key)
    with pytest.raises(InvalidTag):  # the associated data names the response
        sealer.open(tender["id"], mine["id"],
                    Sealed("k1", response_rows(database_url)[mine["id"]]["sealed"]))
    # Each blob still opens where it belongs: the swap alone made them fail.
    assert sealer.open(tender["id"], theirs["id"], Sealed("k1", response_rows(
        database_url)[mine["id"]]["sealed"]))["price_pence"] == 20_000_000
    swap_sealed(database_url, mine["id"], theirs["id"])
    assert market.call("GET", f"{path}/{mine['id']}", "icb_buyer",
                       200).get_json()["price_pence"] == PRICE


def test_a_response_sealed_under_an_old_key_opens_after_rotation(
        market: MoreTenders, settings: Settings, clock: Clock, database_url: str) -> None:
    tender = market.published()
    old = respond(market, tender, market.eligible_listing("innovator"), PRICE, "innovator",
                  TEXT)
    rotated_app = create_app(settings.with_overrides(sealing_keys=f"{K2},{K1}"), clock=clock)
    only_new_app = create_app(settings.with_overrides(sealing_keys=K2), clock=clock)
    try:
        rotated = world_on(rotated_app, market.world)
        path = f"/tenders/{tender['id']}/responses"
        read = rotated.call("GET", f"{path}/{old['id']}", "innovator", 200).get_json()
        assert read["price_pence"] == PRICE
        new = rotated.call("POST", path, "other", 201, json={
            "innovation_id": market.eligible_listing("other")["id"],
            "price_pence": 30_000_000, "answers": answers_for(tender)}).get_json()
        key_ids = {rid: row["key_id"] for rid, row in response_rows(database_url).items()}
        assert key_ids == {old["id"]: "k1", new["id"]: "k2"}  # the first key seals

        market.pass_deadline(tender)
        opened = rotated.call("GET", path, "icb_buyer", 200).get_json()["items"]
        assert sorted(r["price_pence"] for r in opened) == [30_000_000, PRICE]
        # The original app (k1 only) cannot open the k2 response; a ring without k1 cannot
        # open the old one: the key is named, not guessed.
        assert market.call("GET", f"{path}/{new['id']}", "icb_buyer").status_code == 500
        only_new = world_on(only_new_app, market.world)
        assert only_new.call("GET", f"{path}/{old['id']}", "icb_buyer").status_code == 500
        assert only_new.call("GET", f"{path}/{new['id']}", "icb_buyer",
                             200).get_json()["price_pence"] == 30_000_000
        with pytest.raises(SealingKeyError, match="k1"):
            sealer_for(K2, settings.secret_key).open(
                tender["id"], old["id"],
                Sealed("k1", response_rows(database_url)[old["id"]]["sealed"]))
    finally:
        marketplace_of(rotated_app).dispose()
        marketplace_of(only_new_app).dispose()
