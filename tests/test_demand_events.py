"""The ``demand.signal.*`` events through the real broker: posted, updated and closed reach
``marketplace.demand`` as binary-mode CloudEvents keyed by the signal, in order, each
valid against the contract's schema."""
from __future__ import annotations

import json

import pytest

from events.cloudevents import envelope_from_record
from schemas.events import registry
from schemas.events.topics import DEMAND
from tests.catalogue_support import ce
from tests.demand_support import (
    DemandWorld,
    demand_world_fixture,  # noqa: F401  (the `demand_world` fixture)
)
from tests.event_helpers import end_offsets, make_relay, read_from

pytestmark = pytest.mark.kafka


def test_signal_events_reach_the_demand_topic_in_order(
        demand_world: DemandWorld, database_url: str, bootstrap: str) -> None:
    world = demand_world
    start = end_offsets(bootstrap, DEMAND)
    signal = world.post_signal()
    signal = world.patch_signal(signal, indicative_budget_pence=30_000_000)
    world.close_signal(signal, outcome="met_by_existing_contract")

    relay = make_relay(database_url, bootstrap)
    try:
        assert relay.publish_batch() == 3
    finally:
        relay.close()
    records = read_from(bootstrap, start, count=3,
                        predicate=lambda r: r.key == signal["id"].encode())
    assert len(records) == 3 and len({r.partition for r in records}) == 1
    envelopes = [envelope_from_record(r.key, r.value, r.headers) for r in records]
    assert [e.type for e in envelopes] == [ce("demand.signal.posted"),
                                           ce("demand.signal.updated"),
                                           ce("demand.signal.closed")]
    assert [e.sequence for e in envelopes] == [1, 2, 3]
    assert {e.subject for e in envelopes} == {signal["id"]}
    data = [registry.validate(e.type, json.loads(e.data)) for e in envelopes]
    assert data[1]["changed_fields"] == ["indicative_budget_pence"]
    assert data[2]["outcome"] == "met_by_existing_contract"
    assert {d["icb_ods"] for d in data} == {"QOP"}
