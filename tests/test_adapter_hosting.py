"""Several trusts' adapters hosted on one thread (``adapters.hosting``), with the real broker:
each joins its own group, applies every event once, agrees with a trust run on its own,
and acknowledges what it applied when the host stops."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from kafka import TopicPartition

from adapters import register
from adapters.hosting import run_adapters
from adapters.runtime import TrustAdapter
from events.cloudevents import envelope_from_record
from tests.adapter_support import (
    TRUST_A,
    TRUST_B,
    applied,
    broker_adapter,
    drain,
    fresh_topics,
    publish,
    two_trust_story,
    wait_assigned,
)
from tests.event_helpers import read_from

pytestmark = pytest.mark.kafka


def _hashes(adapter: TrustAdapter) -> tuple[str, str]:
    with adapter.engine.connect() as conn:
        return register.hashes(conn)


def test_hosted_adapters_each_apply_every_event_once_and_agree_with_a_lone_one(
        tmp_path: Path, bootstrap: str) -> None:
    topic, ack_topic = fresh_topics(bootstrap, 2)
    stream = two_trust_story()
    total = len(stream.events)
    hosted = [broker_adapter(tmp_path, bootstrap, topic, ack_topic, trust, name=f"hosted-{trust}")
              for trust in (TRUST_A, TRUST_B)]
    turns: dict[str, int] = {TRUST_A: 0, TRUST_B: 0}

    def on_turn(adapter: TrustAdapter, count: int) -> None:
        turns[adapter.trust] += count

    stop = threading.Event()
    host = threading.Thread(target=run_adapters, args=(hosted, stop, on_turn))
    host.start()
    try:
        deadline = time.monotonic() + 30  # both join their groups (in parallel)
        while not all(a.consumer.consumer().assignment() for a in hosted):
            assert time.monotonic() < deadline and host.is_alive(), "group join timed out"
            time.sleep(0.05)
        publish(bootstrap, topic, stream.events[:total // 2])
        publish(bootstrap, topic, stream.events[total // 2:])
        deadline = time.monotonic() + 30
        while not all(applied(a) == total for a in hosted):
            assert time.monotonic() < deadline and host.is_alive(), "events not applied"
            time.sleep(0.05)
    finally:
        stop.set()
        host.join(30)
    assert not host.is_alive()
    # Each event once at each trust, and the turns reported exactly those applications.
    assert [a.consumer.stats.applied for a in hosted] == [total, total]
    assert [a.consumer.stats.duplicates for a in hosted] == [0, 0]
    assert turns == {TRUST_A: total, TRUST_B: total}

    # A trust running alone ends in the same state as its hosted twin.
    lone = broker_adapter(tmp_path, bootstrap, topic, ack_topic, TRUST_A, name="lone")
    wait_assigned(lone)
    drain([lone], lambda: applied(lone) == total)
    assert _hashes(lone) == _hashes(hosted[0])
    assert _hashes(hosted[0])[0] == _hashes(hosted[1])[0], "same events: same shared state"
    lone.close()

    # On the way out each hosted adapter acknowledged everything it had applied.
    start = {TopicPartition(ack_topic, p): 0 for p in range(3)}
    final = read_from(bootstrap, start, count=2, timeout=15,
                      predicate=lambda r: json.loads(r.value)["applied_count"] == total)
    trusts = {json.loads(envelope_from_record(r.key, r.value, r.headers).data)["trust_ods"]
              for r in final}
    assert trusts == {TRUST_A, TRUST_B}
