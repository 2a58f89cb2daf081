"""Tender time over HTTP: the standstill an award starts (8 England and Wales working days,
ending at London midnight) across the October 2026 and March 2027 clock changes, Easter
2027 and Christmas 2026; the close exactly at the enforced deadline; the sandbox's
accelerated periods by injected clock; and an accelerated tender run on the real clock.

Every expected instant is counted by hand in the comment beside it (working days numbered,
skipped days in brackets); none is recomputed from the rule under test. Dates: BST ends
Sunday 25 October 2026 (02:00 BST -> 01:00 GMT) and starts Sunday 28 March 2027 (01:00
GMT -> 02:00 BST); Good Friday is 26 March 2027, Easter Monday 29 March; Christmas Day
2026 is a Friday, Boxing Day a Saturday with its substitute on Monday 28 December, and
New Year's Day 2027 a Friday.
"""
from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from marketplace.app import create_app
from marketplace.http.wiring import marketplace_of
from marketplace.kernel.clock import utcnow
from marketplace.kernel.settings import Settings
from marketplace.tenders.standstill import standstill_ends
from tests.catalogue_support import ce, outbox_events
from tests.tenders_more_support import (  # noqa: F401  (the `market` fixture)
    MoreTenders,
    at,
    market_fixture,
    world_on,
)

SECOND = timedelta(seconds=1)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The conftest settings in the sandbox: tenders may carry an ``accelerator``."""
    return Settings(database_url=database_url, secret_key="test-secret",
                    evidence_dir=tmp_path / "evidence", max_content_length=64 * 1024,
                    sandbox=True)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def evaluated_tender(market: MoreTenders, submission: datetime, **overrides: Any
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """From the clock's now: a tender closing at ``submission``, one response, closed and
    scored: (tender, response)."""
    clarify = market.world.clock.now + (submission - market.world.clock.now) / 2
    tender = market.published(clarification_deadline=iso(clarify),
                              submission_deadline=iso(submission), **overrides)
    response = market.respond(tender, market.eligible_listing("innovator"), 18_000_000)
    market.world.clock.now = submission
    market.tick()
    market.score(tender, response["id"], 70, 60)
    assert market.get(tender)["status"] == "evaluated"
    return tender, response


# --- the standstill an award starts -----------------------------------------------------------
@pytest.mark.parametrize(("awarded_at", "ends_at", "starts_on"), [
    # March 2027, the clocks go forward on Sunday 28th (and Easter falls on them):
    # Fri 12 Mar: [13 14] 15(1) 16(2) 17(3) 18(4) 19(5) [20 21] 22(6) 23(7) 24(8)
    # -> Thu 25 Mar 00:00 GMT, before the change
    ("2027-03-12T16:00:00+00:00", "2027-03-25T00:00:00+00:00", "2027-03-25"),
    # Wed 17 Mar: 18(1) 19(2) [20 21] 22(3) 23(4) 24(5) 25(6) [26 GF, 27, 28 clocks
    # forward, 29 EM] 30(7) 31(8) -> Thu 1 Apr 00:00 BST = 31 Mar 23:00 UTC
    ("2027-03-17T10:00:00+00:00", "2027-03-31T23:00:00+00:00", "2027-04-01"),
    # Sat 27 Mar 23:30 GMT, 90 minutes before the change: still Saturday in London.
    # [28, 29 EM] 30(1) 31(2) 1 Apr(3) 2(4) [3 4] 5(5) 6(6) 7(7) 8(8) -> Fri 9 Apr 00:00 BST
    ("2027-03-27T23:30:00+00:00", "2027-04-08T23:00:00+00:00", "2027-04-09"),
    # October 2026, the clocks go back on Sunday 25th:
    # Tue 13 Oct 10:00 BST: 14(1) 15(2) 16(3) [17 18] 19(4) 20(5) 21(6) 22(7) 23(8)
    # -> Sat 24 Oct 00:00 BST = 23 Oct 23:00 UTC, the last BST midnight
    ("2026-10-13T09:00:00+00:00", "2026-10-23T23:00:00+00:00", "2026-10-24"),
    # Wed 14 Oct 10:00 BST: 15(1) 16(2) [17 18] 19(3) 20(4) 21(5) 22(6) 23(7) [24, 25
    # clocks back] 26(8) -> Tue 27 Oct 00:00 GMT
    ("2026-10-14T09:00:00+00:00", "2026-10-27T00:00:00+00:00", "2026-10-27"),
    # Thu 22 Oct 23:30 UTC is Fri 23 Oct 00:30 BST: Friday is the award day.
    # [24 25] 26(1) 27(2) 28(3) 29(4) 30(5) [31 1] 2 Nov(6) 3(7) 4(8) -> Thu 5 Nov 00:00 GMT
    # (counting from the UTC date, Thursday, would end a day early)
    ("2026-10-22T23:30:00+00:00", "2026-11-05T00:00:00+00:00", "2026-11-05"),
    # Easter 2027: Mon 22 Mar: 23(1) 24(2) 25(3) [26 GF, 27 28, 29 EM] 30(4) 31(5) 1 Apr(6)
    # 2(7) [3 4] 5(8) -> Tue 6 Apr 00:00 BST
    ("2027-03-22T10:00:00+00:00", "2027-04-05T23:00:00+00:00", "2027-04-06"),
    # An award on Good Friday itself: [26 27 28 29] 30(1) 31(2) 1(3) 2(4) [3 4] 5(5) 6(6)
    # 7(7) 8(8) -> Fri 9 Apr 00:00 BST
    ("2027-03-26T11:00:00+00:00", "2027-04-08T23:00:00+00:00", "2027-04-09"),
    # Christmas 2026: Fri 18 Dec: [19 20] 21(1) 22(2) 23(3) 24(4) [25 Christmas, 26 27,
    # 28 Boxing Day substitute] 29(5) 30(6) 31(7) [1 Jan, 2 3] 4(8) -> Tue 5 Jan 00:00 GMT
    ("2026-12-18T10:00:00+00:00", "2027-01-05T00:00:00+00:00", "2027-01-05"),
    # Wed 23 Dec: 24(1) [25 26 27 28] 29(2) 30(3) 31(4) [1 2 3] 4(5) 5(6) 6(7) 7(8)
    # -> Fri 8 Jan 00:00 GMT
    ("2026-12-23T15:00:00+00:00", "2027-01-08T00:00:00+00:00", "2027-01-08"),
    # Christmas Eve: [25 26 27 28] 29(1) 30(2) 31(3) [1 2 3] 4(4) 5(5) 6(6) 7(7) 8(8)
    # -> Sat 9 Jan 00:00 GMT
    ("2026-12-24T16:00:00+00:00", "2027-01-09T00:00:00+00:00", "2027-01-09"),
])
def test_the_standstill_an_award_starts(market: MoreTenders, awarded_at: str, ends_at: str,
                                        starts_on: str, database_url: str) -> None:
    only_on_sqlite(database_url, awarded_at)
    world = market.world
    award_time = at(awarded_at)
    world.clock.now = award_time - timedelta(days=20)
    tender, response = evaluated_tender(market, award_time - timedelta(days=5))
    world.clock.now = award_time
    awarded = market.award(tender, response["id"])
    assert awarded["awarded_at"] == awarded_at
    assert awarded["standstill_ends_at"] == ends_at
    (event,) = outbox_events(world.uow_factory, "tender.awarded")
    assert at(event["data"]["standstill_ends_at"]) == at(ends_at)
    contract_path = f"/contracts/{awarded['contract_id']}"
    contract = market.call("GET", contract_path, "icb_buyer", 200).get_json()
    assert (contract["standstill_ends_at"], contract["starts_on"]) == (ends_at, starts_on)
    outcome = market.call("GET", f"/tenders/{tender['id']}/outcome", "innovator",
                          200).get_json()
    assert outcome["standstill_ends_at"] == ends_at
    # The contract may be signed from that instant, and not a second before.
    world.clock.now = at(ends_at) - SECOND
    refused = market.call("POST", f"{contract_path}/sign", "icb_buyer", 409).get_json()
    assert "standstill" in refused["detail"]
    world.clock.now = at(ends_at)
    signed = market.call("POST", f"{contract_path}/sign", "icb_buyer", 200).get_json()
    assert (signed["status"], signed["starts_on"]) == ("active", starts_on)


#: Cases PostgreSQL runs too: the clock changes, where a stored instant's offset matters.
#: The holiday arithmetic is the same Python on either database, so the others run on
#: SQLite alone (keeping .ci/run within its time).
ON_POSTGRES = {"2027-03-27T23:30:00+00:00", "2026-10-13T09:00:00+00:00",
               "2026-10-14T09:00:00+00:00", "2026-10-25T01:30:00+01:00",
               "2026-10-25T01:30:00+00:00", "2027-03-28T03:00:00+01:00"}


def only_on_sqlite(database_url: str, case: str) -> None:
    if database_url.startswith("postgresql") and case not in ON_POSTGRES:
        pytest.skip("holiday arithmetic is database-independent: run on SQLite")


# --- the close, exactly at the enforced deadline -----------------------------------------------
@pytest.mark.parametrize("deadline", [
    "2026-12-10T12:00:00+00:00",   # a Thursday in winter
    "2026-10-25T01:30:00+01:00",   # the first 01:30 of 25 Oct 2026 (BST) = 00:30 UTC ...
    "2026-10-25T01:30:00+00:00",   # ... and the second (GMT), an hour later = 01:30 UTC
    "2027-03-28T03:00:00+01:00",   # an hour after the clocks went forward = 02:00 UTC
    "2027-03-29T12:00:00+01:00",   # Easter Monday noon BST = 11:00 UTC
    "2026-12-25T12:00:00+00:00",   # Christmas Day: a posted instant closes even then
])
def test_a_tender_closes_exactly_at_its_deadline(market: MoreTenders, deadline: str,
                                                database_url: str) -> None:
    only_on_sqlite(database_url, deadline)
    world = market.world
    closes = at(deadline)
    world.clock.now = closes - timedelta(days=15)
    tender = market.published(clarification_deadline=iso(closes - timedelta(days=5)),
                              submission_deadline=deadline)
    assert at(tender["submission_closes_at"]) == closes
    first, second = (market.eligible_listing("innovator") for _ in range(2))
    clarify = at(tender["clarification_closes_at"])
    questions = f"/tenders/{tender['id']}/questions"

    world.clock.now = clarify - SECOND
    market.call("POST", questions, "other", 201, json={"question": "One second left?"})
    world.clock.now = clarify
    market.call("POST", questions, "other", 409, json={"question": "None left?"})

    world.clock.now = closes - SECOND
    assert "closed 0 tenders" in market.tick()   # one second before: nothing closes
    assert market.get(tender)["status"] == "published"
    market.respond(tender, first, 18_000_000)     # ... and a response is still accepted

    world.clock.now = closes
    late = market.respond(tender, second, 17_000_000, expect=409)
    assert late["deadline"] == iso(closes) and "deadline" in late["detail"]
    replaced = market.respond(tender, first, 17_500_000, expect=409)  # nor replaced
    assert replaced["deadline"] == iso(closes)
    lines = market.tick()
    assert "closed 1 tender" in lines
    assert any(f"tender {tender['id']}" in line and "closed with 1 responses" in line
               for line in lines)
    closed = market.get(tender)
    assert (closed["status"], closed["closed_at"], closed["responses_received"]) == (
        "closed", iso(closes), 1)
    assert "closed 0 tenders" in market.tick()  # a second tick closes nothing again
    (event,) = outbox_events(world.uow_factory, "tender.closed")
    assert at(event["data"]["closed_at"]) == closes
    assert at(event["data"]["submission_deadline"]) == closes


# --- the sandbox accelerator by injected clock ------------------------------------------------
def test_accelerator_14400_turns_ten_and_twenty_days_into_one_and_two_minutes(
        market: MoreTenders) -> None:
    world = market.world
    created = world.clock.now                         # Sat 21 Nov 2026 09:00 UTC
    published_at = created + timedelta(hours=1)       # published an hour after drafting
    draft = market.create(accelerator=14400,
                          clarification_deadline=iso(published_at + timedelta(days=10)),
                          submission_deadline=iso(published_at + timedelta(days=20)))
    world.clock.now = published_at
    tender = market.publish(draft)
    assert tender["accelerator"] == 14400
    assert tender["published_at"] == "2026-11-21T10:00:00+00:00"
    # 10 days = 864,000 s / 14400 = 60 s; 20 days = 1,728,000 s / 14400 = 120 s
    assert tender["clarification_closes_at"] == "2026-11-21T10:01:00+00:00"
    assert tender["submission_closes_at"] == "2026-11-21T10:02:00+00:00"
    # The posted deadlines stay as posted (nominal).
    assert tender["clarification_deadline"] == "2026-12-01T10:00:00+00:00"
    assert tender["submission_deadline"] == "2026-12-11T10:00:00+00:00"
    (event,) = outbox_events(world.uow_factory, "tender.published")
    assert at(event["data"]["submission_deadline"]) == at("2026-11-21T10:02:00+00:00")

    response = market.respond(tender, market.eligible_listing("innovator"), 18_000_000)
    world.clock.now = at("2026-11-21T10:01:59+00:00")
    assert "closed 0 tenders" in market.tick()
    world.clock.now = at("2026-11-21T10:02:00+00:00")
    assert "closed 1 tender" in market.tick()
    market.score(tender, response["id"], 70, 60)
    world.clock.now = at("2026-11-21T10:05:00+00:00")
    awarded = market.award(tender, response["id"])
    # Nominal standstill from Sat 21 Nov: 23(1) 24 25 26 27(5) [28 29] 30(6) 1 Dec(7) 2(8)
    # -> Thu 3 Dec 00:00 GMT. 10:05 on 21 Nov to 00:00 on 3 Dec = 11 d 13 h 55 min =
    # 1,000,500 s; / 14400 = 69.4791666... s -> 10:06:09.479167 (to the microsecond)
    assert awarded["standstill_ends_at"] == "2026-11-21T10:06:09.479167+00:00"


def test_acceleration_counts_the_hour_the_october_change_adds(market: MoreTenders) -> None:
    world = market.world
    world.clock.now = at("2026-10-20T11:00:00+00:00")  # Tue 20 Oct, 12:00 BST
    tender = market.published(accelerator=14400,
                              clarification_deadline="2026-10-30T12:00:00+00:00",
                              submission_deadline="2026-11-09T12:00:00+00:00")
    # Noon BST to noon GMT ten days on is 10 d 1 h = 867,600 s; / 14400 = 60.25 s.
    assert tender["clarification_closes_at"] == "2026-10-20T11:01:00.250000+00:00"
    # Twenty days and an hour: 1,731,600 s / 14400 = 120.25 s.
    assert tender["submission_closes_at"] == "2026-10-20T11:02:00.250000+00:00"


@pytest.mark.parametrize("accelerator", [0, 14401])
def test_an_accelerator_out_of_range_is_a_422_even_in_the_sandbox(
        market: MoreTenders, accelerator: int) -> None:
    problem = market.create(expect=422, accelerator=accelerator)
    assert "accelerator" in problem["errors"]


# --- an accelerated run on the real clock ------------------------------------------------------
def sleep_until(instant: datetime, margin: float = 0.05) -> None:
    time.sleep(max(0.0, (instant - datetime.now(UTC)).total_seconds()) + margin)


def close_to(value: str, expected: datetime, tolerance: float = 0.002) -> bool:
    return abs((at(value) - expected).total_seconds()) <= tolerance


def test_an_accelerated_tender_runs_from_notice_to_award_in_under_a_minute(
        market: MoreTenders, settings: Settings) -> None:
    real_app = create_app(settings, clock=utcnow)
    try:
        real = MoreTenders(world_on(real_app, market.world))
        today = datetime.now(UTC).date()
        mine = real.listing_on("innovator", today)
        theirs = real.listing_on("other", today)
        now = datetime.now(UTC)
        # Nominal: questions for 12 hours, responses for a day; divided by 14400: 3 s, 6 s.
        draft = real.create(accelerator=14400,
                            clarification_deadline=iso(now + timedelta(hours=12)),
                            submission_deadline=iso(now + timedelta(days=1)))
        started = time.monotonic()
        tender = real.publish(draft)
        published = at(tender["published_at"])
        clarify, closes = at(tender["clarification_closes_at"]), at(
            tender["submission_closes_at"])
        assert close_to(tender["clarification_closes_at"], published + (
            at(tender["clarification_deadline"]) - published) / 14400)
        assert close_to(tender["submission_closes_at"], published + (
            at(tender["submission_deadline"]) - published) / 14400)
        assert 2 < (clarify - published).total_seconds() <= 3
        assert 5 < (closes - published).total_seconds() <= 6

        questions = f"/tenders/{tender['id']}/questions"
        question = real.call("POST", questions, "other", 201,
                             json={"question": "Is HL7 v2 acceptable?"}).get_json()
        real.call("POST", f"{questions}/{question['id']}/answer", "icb_buyer", 200,
                  json={"answer": "Yes, through the integration engine."})
        win = real.respond(tender, mine, 18_000_000)
        lose = real.respond(tender, theirs, 20_000_000, who="other")
        sleep_until(clarify)
        real.call("POST", questions, "other", 409, json={"question": "Too late?"})
        sleep_until(closes)
        real.respond(tender, real.listing_on("innovator", today), 1_000, expect=409)
        assert any("closed with 2 responses" in line for line in real.tick())
        real.score(tender, win["id"], 80, 70)
        real.score(tender, lose["id"], 60, 70)
        awarded = real.award(tender, win["id"])
        awarded_at, ends = at(awarded["awarded_at"]), at(awarded["standstill_ends_at"])
        assert close_to(awarded["standstill_ends_at"],
                        awarded_at + (standstill_ends(awarded_at) - awarded_at) / 14400)
        elapsed = time.monotonic() - started
        assert elapsed < 60, f"publication to award took {elapsed:.1f} s"
        # The standstill is divided too, but 8 working days are never under 10 calendar
        # days (an award at 23:59 on a Monday ends at 00:00 on the Friday week), and
        # 10 days / 14400 = 60 s: signing after it is tested on the injected clock.
        assert (ends - awarded_at).total_seconds() >= 60
        sign = f"/contracts/{awarded['contract_id']}/sign"
        real.call("POST", sign, "icb_buyer", 409)  # the standstill runs
        types = [e["ce_type"] for e in outbox_events(real.world.uow_factory, "tender.")]
        assert types == [ce("tender.published"), ce("tender.closed"), ce("tender.awarded")]
    finally:
        marketplace_of(real_app).dispose()
