"""A gap or a reordering in an aggregate's ``sequence`` is healed by re-reading the missing
events from the marketplace's real ``/api/v1/events`` feed, applied first; without a
register URL the record is retried and then dead-lettered with the gap as its error."""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from kafka import TopicPartition
from sqlalchemy import select, update
from werkzeug.serving import make_server

from adapters import register
from adapters.runtime import TrustAdapter
from events.cloudevents import EventEnvelope
from events.relay import envelope
from marketplace.kernel.outbox import outbox
from marketplace.kernel.unit_of_work import UnitOfWork
from schemas.events.topics import dlq_topic
from tests.adapter_support import (
    TRUST_A,
    Stream,
    applied,
    broker_adapter,
    data_for,
    drain,
    fresh_topics,
    publish,
    wait_assigned,
)
from tests.event_helpers import emit_approvals, make_relay, read_from

pytestmark = pytest.mark.kafka


@pytest.fixture
def marketplace_url(app: Flask) -> Iterator[str]:
    """The test app served over HTTP on a free local port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def _versions(adapter: object) -> dict[str, str]:
    with adapter.engine.connect() as conn:  # type: ignore[attr-defined]
        return {r["approval_id"]: r["product_version"]
                for r in register.SqlView(conn).where("approval")}


def test_gaps_and_reorderings_are_healed_from_the_feed(
        tmp_path: Path, bootstrap: str, database_url: str, marketplace_url: str,
        uow_factory: Callable[..., UnitOfWork], make_token: Callable[..., str]) -> None:
    topic, decoy, ack_topic = fresh_topics(bootstrap, 3)
    lost, late = emit_approvals(uow_factory, count=3)[0], emit_approvals(uow_factory,
                                                                          count=3)[0]
    # The relay publishes every event (and gives it its feed position) ...
    relay = make_relay(database_url, bootstrap)
    with relay.engine.begin() as conn:
        conn.execute(update(outbox).values(topic=decoy))
    assert relay.publish_batch() == 6
    with relay.engine.begin() as conn:
        conn.execute(update(outbox).values(topic=topic))
        rows = {(r.record_key, r.sequence): r for r in conn.execute(select(outbox))}
    relay.close()
    # ... but the trust's copy of the stream lost ``lost``/2 and got ``late``/2 after /3.
    wire = [(lost, 1), (lost, 3), (late, 1), (late, 3), (late, 2)]
    publish(bootstrap, topic, [(envelope(rows[key]), None) for key in wire])

    adapter = broker_adapter(tmp_path, bootstrap, topic, ack_topic, TRUST_A,
                             register_url=marketplace_url, token=make_token("trust_system"))
    wait_assigned(adapter)
    drain([adapter], lambda: applied(adapter) + adapter.consumer.stats.duplicates >= 5)
    stats = adapter.consumer.stats
    assert sorted((g.stream, g.expected, g.received) for g in stats.gaps) == sorted([
        (f"approval/{lost}", 2, 3), (f"approval/{late}", 2, 3)])
    assert stats.dead_lettered == 0 and stats.duplicates == 1  # the late /2, already healed
    assert _versions(adapter) == {lost: "3.2", late: "3.2"}  # the last event of each won
    with adapter.engine.connect() as conn:
        assert register.last_sequences(conn, adapter.config.consumer_name) == {
            f"approval/{lost}": 3, f"approval/{late}": 3}
        healed = conn.execute(select(register.inbox.c.ce_id).where(
            register.inbox.c.partition == -1)).scalars().all()
    assert sorted(healed) == sorted([rows[(lost, 2)].event_id, rows[(late, 2)].event_id])
    adapter.close()


def _third_without_the_second(tmp_path: Path, bootstrap: str, version: str
                              ) -> tuple[TrustAdapter, str,
                                         list[tuple[EventEnvelope, dict[str, Any]]]]:
    """An adapter without a register URL that received /1 and /3 of three approval events
    (product versions ``<version>.0`` to ``.2``) and has dealt with both; its topic and the
    three events."""
    topic, ack_topic = fresh_topics(bootstrap, 2)
    stream = Stream()
    for n in range(3):
        stream.add("approval.granted",
                   data_for("approval.granted", product_version=f"{version}.{n}"))
    first, _, third = stream.events
    adapter = broker_adapter(tmp_path, bootstrap, topic, ack_topic, TRUST_A)
    adapter.consumer.retry_backoff = 0.01
    wait_assigned(adapter)
    publish(bootstrap, topic, [first, third])
    drain([adapter], lambda: applied(adapter) == 2)
    return adapter, topic, stream.events


def test_without_a_register_url_a_gap_is_retried_then_dead_lettered(
        tmp_path: Path, bootstrap: str) -> None:
    adapter, topic, (_, _, third) = _third_without_the_second(tmp_path, bootstrap, "4")
    stats = adapter.consumer.stats
    assert (stats.applied, stats.dead_lettered, stats.retries) == (1, 1, 2)
    [dead] = read_from(bootstrap, {TopicPartition(dlq_topic(topic), 0): 0}, count=1,
                       timeout=10)
    error = dict(dead.headers)["dlq_error"].decode()
    assert error.startswith("SequenceGap: gap in approval/") and "no --register-url" in error
    assert dead.value == third[0].data
    assert set(_versions(adapter).values()) == {"4.0"}  # never applied over the gap
    adapter.close()


def test_an_event_dead_lettered_over_a_gap_is_applied_when_the_gap_fills(
        tmp_path: Path, bootstrap: str) -> None:
    """The wire held /3 but not /2 (the broker failed /2's batch and took a later one);
    the relay then re-sends both in order. The gap's dead letter must not have used up
    sequence 3, or /2 would be dropped as already applied and /3 as a duplicate."""
    adapter, topic, (_, second, third) = _third_without_the_second(tmp_path, bootstrap, "5")
    assert adapter.consumer.stats.dead_lettered == 1
    assert set(_versions(adapter).values()) == {"5.0"}
    publish(bootstrap, topic, [second, third])  # the relay's re-send, in order
    drain([adapter], lambda: applied(adapter) == 4)
    stats = adapter.consumer.stats
    assert (stats.applied, stats.dead_lettered, stats.duplicates) == (3, 1, 0)
    assert set(_versions(adapter).values()) == {"5.2"}
    with adapter.engine.connect() as conn:
        assert set(register.last_sequences(conn, adapter.config.consumer_name).values()) == {3}
    adapter.close()
