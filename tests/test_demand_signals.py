"""Demand signals over HTTP: posting for one's own ICB, validation, If-Match, the
open -> closed lifecycle, ownership after an ICB merger, and the ``demand.signal.*``
events decoded from the outbox."""
from __future__ import annotations

import pytest

from schemas.events import registry
from tests.catalogue_support import ce, outbox_events
from tests.demand_support import (
    DemandWorld,
    demand_world_fixture,  # noqa: F401  (the `demand_world` fixture)
    signal_body,
)


def _demand_events(world: DemandWorld) -> list[dict]:
    found = outbox_events(world.uow_factory, "demand.signal")
    for event in found:  # every payload is valid against the contract's schema
        registry.validate(event["ce_type"], event["data"])
    return found


def test_post_is_an_open_signal_of_the_callers_icb(demand_world: DemandWorld) -> None:
    world = demand_world
    world.add_trust("R0A", "QOP")
    headers = {"Idempotency-Key": "signal-1"}
    body = signal_body(trusts=["R0A"], requires_central_approval=False)
    first = world.call("POST", "/demand-signals", "buyer:QOP", 201, json=body,
                       headers=headers)
    again = world.call("POST", "/demand-signals", "buyer:QOP", 201, json=body,
                       headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    signal = first.get_json()
    assert again.get_json()["id"] == signal["id"]
    assert first.headers["Location"].endswith(f"/demand-signals/{signal['id']}")
    assert first.headers["ETag"] == '"1"'
    assert signal["status"] == "open" and signal["icb"]["code"] == "QOP"
    assert signal["posted_by"]["code"] == "QOP" and signal["requires_central_approval"] is False
    assert signal["needed_by"] == "2027-03-31" and signal["currency"] == "GBP"
    assert world.call("GET", f"/demand-signals/{signal['id']}", None, 200).get_json() == signal
    listed = world.call("GET", "/demand-signals", None, 200).get_json()
    assert [s["id"] for s in listed["items"]] == [signal["id"]]
    world.call("POST", "/demand-signals", "buyer:QOP", 422, json=body | {"title": "Other"},
               headers=headers)  # the same key for another body

    (event,) = _demand_events(world)
    assert event["ce_type"] == ce("demand.signal.posted") and event["sequence"] == 1
    assert event["topic"] == "marketplace.demand" and event["record_key"] == signal["id"]
    example = registry.by_name("demand.signal.posted").example
    assert event["data"] == {
        **{k: example[k] for k in ("title", "need", "categories", "pathway_stages",
                                   "use_cases", "min_esf_tier", "population_covered",
                                   "indicative_budget_pence", "currency")},
        "signal_id": signal["id"], "icb_ods": "QOP", "trusts": ["R0A"],
        "needed_by": "2027-03-31", "posted_at": "2026-11-21T09:00:00+00:00"}


def test_an_icb_ods_naming_another_icb_is_403(demand_world: DemandWorld) -> None:
    world = demand_world
    world.token("buyer:QMJ")
    response = world.call("POST", "/demand-signals", "buyer:QOP", 403,
                          json=signal_body(icb_ods="QMJ"))
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == 403 and "QOP" in response.get_json()["detail"]
    assert world.post_signal(icb_ods="QOP")["icb"]["code"] == "QOP"
    problem = world.post_signal(expect=422, icb_ods="QZZ")
    assert problem["errors"] == {"icb_ods": ["unknown ICB 'QZZ'"]}
    for who in ("innovator", "assessor", "admin"):
        world.call("POST", "/demand-signals", who, 403, json=signal_body())
    assert len(_demand_events(world)) == 1


@pytest.mark.parametrize(("changes", "field"), [
    ({"categories": []}, "categories"),
    ({"categories": ["Cancer Triage"]}, "categories"),
    ({"pathway_stages": ["surgery"]}, "pathway_stages"),
    ({"pathway_stages": []}, "pathway_stages"),
    ({"min_esf_tier": "D"}, "min_esf_tier"),
    ({"requires_central_approval": "yes"}, "requires_central_approval"),
    ({"indicative_budget_pence": -1}, "indicative_budget_pence"),
    ({"indicative_budget_pence": 2.5}, "indicative_budget_pence"),
    ({"indicative_budget_pence": 10**14}, "indicative_budget_pence"),
    ({"population_covered": -5}, "population_covered"),
    ({"needed_by": "31/03/2027"}, "needed_by"),
    ({"needed_by": "2026-11-20"}, "needed_by"),  # yesterday on the test clock
    ({"title": ""}, "title"),
    ({"need": "x" * 4001}, "need"),
    ({"trusts": ["RZZ"]}, "trusts"),  # no such trust
    ({"trusts": ["R0A"]}, "trusts"),  # QMJ's trust, not QOP's
    ({"currency": "EUR"}, "currency"),
    ({"owner": "someone"}, "owner"),
])
def test_signal_validation(demand_world: DemandWorld, changes: dict, field: str) -> None:
    demand_world.add_trust("R0A", "QMJ")
    problem = demand_world.post_signal(expect=422, **changes)
    assert problem["status"] == 422 and field in problem["errors"], problem


def test_updates_need_if_match(demand_world: DemandWorld) -> None:
    world = demand_world
    signal = world.post_signal()
    path = f"/demand-signals/{signal['id']}"
    problem = world.call("PATCH", path, "buyer:QOP", 428, json={"title": "New"}).get_json()
    assert problem["status"] == 428
    world.call("PATCH", path, "buyer:QOP", 412, json={"title": "New"},
               headers={"If-Match": '"7"'})
    problem = world.call("PATCH", path, "buyer:QOP", 412, json={"title": "New"},
                         headers={"If-Match": "1"}).get_json()
    assert 'If-Match: "1"' in problem["detail"]

    world.clock.advance(hours=2)
    response = world.call("PATCH", path, "buyer:QOP", 200, headers={"If-Match": '"1"'},
                          json={"indicative_budget_pence": 30_000_000, "needed_by": None,
                                "categories": ["cancer.triage", "cancer.diagnostics"]})
    updated = response.get_json()
    assert response.headers["ETag"] == '"2"' and updated["version"] == 2
    assert updated["categories"] == ["cancer.diagnostics", "cancer.triage"]
    assert updated["needed_by"] is None
    world.patch_signal(signal, expect=412, title="Lost update")  # still version 1

    # Restating the same values changes nothing: no version bump, no event.
    same = world.patch_signal(updated, categories=["cancer.triage", "cancer.diagnostics",
                                                   "cancer.triage"], title=" " + signal["title"])
    assert same["version"] == 2
    # A field the events do not carry changes the signal but emits nothing.
    flagged = world.patch_signal(same, requires_central_approval=False)
    assert flagged["version"] == 3 and flagged["requires_central_approval"] is False

    posted, changed = _demand_events(world)
    assert changed["ce_type"] == ce("demand.signal.updated") and changed["sequence"] == 2
    assert changed["data"]["changed_fields"] == ["categories", "indicative_budget_pence",
                                                 "needed_by"]
    assert changed["data"]["indicative_budget_pence"] == 30_000_000
    assert changed["data"]["updated_at"] == "2026-11-21T11:00:00+00:00"
    assert posted["data"]["signal_id"] == changed["data"]["signal_id"] == signal["id"]


def test_closing_is_final(demand_world: DemandWorld) -> None:
    world = demand_world
    signal = world.post_signal()
    problem = world.close_signal(signal, expect=422, outcome="tender_published")
    assert problem["errors"] == {"tender_id": ["required with outcome tender_published"]}
    problem = world.close_signal(signal, expect=422, outcome="withdrawn", tender_id="T-1")
    assert problem["errors"] == {"tender_id": ["only with outcome tender_published"]}
    world.close_signal(signal, expect=422, outcome="abandoned")

    world.clock.advance(days=3)
    path = f"/demand-signals/{signal['id']}/close"
    body = {"outcome": "tender_published", "tender_id": "e8f9a0b1-c2d3-4e4f-a5b6-c7d8e9f0a1b2"}
    key = {"Idempotency-Key": "close-1"}
    closed = world.call("POST", path, "buyer:QOP", 200, json=body, headers=key).get_json()
    assert closed["status"] == "closed" and closed["outcome"] == "tender_published"
    assert closed["closed_at"] == "2026-11-24T09:00:00+00:00" and closed["version"] == 2
    replay = world.call("POST", path, "buyer:QOP", 200, json=body, headers=key)
    assert replay.headers["Idempotent-Replayed"] == "true"

    problem = world.close_signal(closed, expect=409, outcome="withdrawn")
    assert "closed, which is final" in problem["detail"]
    assert problem["current_status"] == "closed"
    problem = world.patch_signal(closed, expect=409, title="Reopen it")
    assert "closed, which is final" in problem["detail"]
    assert world.call("GET", "/demand-signals?status=open", None, 200).get_json()["total"] == 0
    assert world.call("GET", "/demand-signals?status=closed", None,
                      200).get_json()["total"] == 1

    *_, event = _demand_events(world)
    assert event["ce_type"] == ce("demand.signal.closed") and event["sequence"] == 2
    assert event["data"] == {"signal_id": signal["id"], "icb_ods": "QOP",
                             "outcome": "tender_published", "tender_id": body["tender_id"],
                             "closed_at": "2026-11-24T09:00:00+00:00"}
    assert len(_demand_events(world)) == 2


def test_only_the_owning_icb_changes_a_signal(demand_world: DemandWorld) -> None:
    world = demand_world
    signal = world.post_signal()
    problem = world.patch_signal(signal, who="buyer:QMJ", expect=403, title="Ours now")
    assert "belongs to QOP" in problem["detail"]
    world.close_signal(signal, who="buyer:QMJ", expect=403)
    for who in ("innovator", "admin"):
        world.patch_signal(signal, who=who, expect=403, title="Not yours")
    world.call("PATCH", "/demand-signals/no-such-signal", "buyer:QOP", 404,
               json={"title": "x"}, headers={"If-Match": '"1"'})
    assert world.signal(signal["id"])["version"] == 1
    assert len(_demand_events(world)) == 1


def test_a_merged_icbs_successor_owns_its_signals(demand_world: DemandWorld) -> None:
    world = demand_world
    world.add_trust("RA7", "QUY")
    before = world.post_signal("buyer:QUY", trusts=["RA7"], title="Bristol need")
    own = world.post_signal("buyer:Q9W", title="West of England need")
    world.merge("QUY", "Q9W")

    signal = world.signal(before["id"])
    assert signal["icb"]["code"] == "Q9W" and signal["posted_by"]["code"] == "QUY"
    problem = world.patch_signal(before, who="buyer:QUY", expect=403, title="Still ours?")
    assert "merged into Q9W" in problem["detail"]
    world.post_signal("buyer:QUY", expect=403)
    world.patch_signal(before, who="buyer:QMJ", expect=403, title="Nor ours")

    updated = world.patch_signal(before, who="buyer:Q9W", title="Bristol need, merged")
    assert updated["icb"]["code"] == "Q9W"
    for code in ("Q9W", "QUY"):  # an old code finds the successor's signals
        listed = world.call("GET", f"/demand-signals?icb={code}", None, 200).get_json()
        assert {s["id"] for s in listed["items"]} == {before["id"], own["id"]}
    world.post_signal("buyer:Q9W", icb_ods="QUY", title="Named by the old code")
    world.close_signal(updated, who="buyer:Q9W", outcome="met_by_existing_contract")

    events = [e for e in _demand_events(world) if e["record_key"] == before["id"]]
    assert [e["data"]["icb_ods"] for e in events] == ["QUY", "Q9W", "Q9W"]
    assert events[1]["data"]["trusts"] == ["RA7"]  # still a trust of the successor


def test_list_filters(demand_world: DemandWorld) -> None:
    world = demand_world
    triage = world.post_signal(categories=["cancer.triage.ai"])
    world.clock.advance(days=40)
    follow = world.post_signal("buyer:QMJ", categories=["cancer.follow_up"],
                               pathway_stages=["follow_up"])

    def ids(query: str) -> list[str]:
        body = world.call("GET", f"/demand-signals?{query}", None, 200).get_json()
        return [s["id"] for s in body["items"]]

    assert ids("") == [follow["id"], triage["id"]]  # newest first
    assert ids("category=cancer") == [follow["id"], triage["id"]]
    assert ids("category=cancer.triage") == [triage["id"]]
    assert ids("category=cancer.tri") == []
    assert ids("pathway=follow_up") == [follow["id"]]
    assert ids("icb=QMJ") == [follow["id"]]
    assert ids("posted_to=2026-11-21") == [triage["id"]]
    assert ids("posted_from=2026-12-01&posted_to=2026-12-31") == [follow["id"]]
    for query in ("icb=R0A", "icb=QZZ", "status=pending", "posted_from=2026-13-01"):
        world.call("GET", f"/demand-signals?{query}", None, 422)
