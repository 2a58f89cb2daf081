"""The consumer runtime against the real broker: exactly-once effect through
redelivery, dead-lettering with the partition moving on, gap detection."""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from kafka import KafkaProducer
from sqlalchemy import Column, Connection, Engine, MetaData, String, Table, func, select, update

from events.cloudevents import EventEnvelope
from events.consumer import ConsumedEvent, EventConsumer, Gap
from events.producer import idempotent_producer
from events.tables import consumer_sequence_table, inbox_table
from events.topics import TopicSpec, ensure_topics
from marketplace.kernel.db import make_engine
from marketplace.kernel.outbox import outbox
from marketplace.kernel.unit_of_work import UnitOfWork
from schemas.events.topics import APPROVALS, dlq_topic
from tests.event_helpers import (
    GRANTED,
    approval_event,
    emit_approvals,
    end_offsets,
    make_relay,
    read_from,
    unpublish_all,
)

pytestmark = pytest.mark.kafka

consumer_metadata = MetaData()
inbox = inbox_table(consumer_metadata)
sequences = consumer_sequence_table(consumer_metadata)
applied = Table("applied", consumer_metadata, Column("ce_id", String(100), primary_key=True),
                Column("approval_id", String(100)), Column("product_version", String(20)))


@pytest.fixture
def topic(bootstrap: str) -> str:
    """A topic (and its DLQ) of this test's own, so a shared broker's history can't leak in.

    (tansu also reports a multi-record batch's end offset as its first offset + 1, so
    ``auto_offset_reset='latest'`` is not a reliable way to skip history there.)
    """
    name = f"{APPROVALS}.test-{uuid.uuid4().hex[:8]}"
    specs = [TopicSpec(name, 3, 86_400_000, 1), TopicSpec(dlq_topic(name), 1, 86_400_000, 1)]
    ensure_topics(bootstrap, specs)
    return name


def retarget(database_url: str, topic: str) -> None:
    """Send this test's outbox rows to its own topic."""
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(update(outbox).values(topic=topic))
    engine.dispose()


@pytest.fixture
def consumer_db(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'consumer.db'}")
    consumer_metadata.create_all(engine)
    yield engine
    engine.dispose()


def record_handler(conn: Connection, event: ConsumedEvent) -> None:
    conn.execute(applied.insert().values(ce_id=event.envelope.id,
                                         approval_id=event.data["approval_id"],
                                         product_version=event.data["product_version"]))


def make_consumer(bootstrap: str, topic: str, engine: Engine,
                  handler: Callable[..., None] = record_handler, group: str | None = None,
                  **kwargs: Any) -> EventConsumer:
    return EventConsumer(name=group or f"test-{uuid.uuid4().hex[:8]}",
                         bootstrap_servers=bootstrap, topics=[topic], engine=engine,
                         inbox=inbox, sequences=sequences, handler=handler,
                         retry_backoff=0.01, **kwargs)


def wait_assigned(consumer: EventConsumer, timeout: float = 30) -> None:
    """Join the group (tansu takes about session_timeout_ms / 2) before producing."""
    kafka = consumer.consumer()
    deadline = time.monotonic() + timeout
    while not kafka.assignment() and time.monotonic() < deadline:
        consumer.poll_once(200)
    assert kafka.assignment(), "consumer group join timed out"


def drain(consumer: EventConsumer, until: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not until() and time.monotonic() < deadline:
        consumer.poll_once(200)
    assert until(), "timed out waiting for the consumer"


def count(engine: Engine, where: Any = None) -> int:
    stmt = select(func.count()).select_from(applied)
    if where is not None:
        stmt = stmt.where(where)
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def produce_raw(bootstrap: str, topic: str, key: str, value: bytes,
                headers: list[tuple[str, bytes]]) -> None:
    producer: KafkaProducer = idempotent_producer(bootstrap)
    producer.send(topic, key=key.encode(), value=value, headers=headers).get(timeout=20)
    producer.close()


def envelope_headers(key: str, sequence: int, ce_id: str | None = None) -> list[tuple[str, bytes]]:
    from datetime import UTC, datetime

    return EventEnvelope(id=ce_id or str(uuid.uuid4()), source="/test", type=GRANTED.ce_type,
                         time=datetime.now(UTC), subject=key, sequence=sequence, key=key,
                         data=b"").headers()


def test_redelivered_events_are_applied_once(database_url: str, bootstrap: str, topic: str,
                                              consumer_db: Engine,
                                              uow_factory: Callable[..., UnitOfWork]) -> None:
    consumer = make_consumer(bootstrap, topic, consumer_db)
    wait_assigned(consumer)
    emit_approvals(uow_factory, count=3)
    retarget(database_url, topic)
    relay = make_relay(database_url, bootstrap)
    relay.publish_batch()
    # Publish the same outbox rows again, as a relay restarted before marking would.
    unpublish_all(relay.engine)
    relay.publish_batch()
    relay.close()
    drain(consumer, lambda: consumer.stats.applied + consumer.stats.duplicates >= 6)
    assert count(consumer_db) == 3 and consumer.stats.duplicates == 3
    with consumer_db.connect() as conn:
        assert conn.execute(select(sequences.c.last_sequence)).scalar_one() == 3
    consumer.close()


def test_offsets_are_committed_only_after_the_transaction(bootstrap: str, topic: str,
                                                          consumer_db: Engine,
                                                          database_url: str,
                                                          uow_factory: Callable[..., UnitOfWork]
                                                          ) -> None:
    group = f"test-{uuid.uuid4().hex[:8]}"
    first = make_consumer(bootstrap, topic, consumer_db, group=group)
    wait_assigned(first)
    kafka = first.consumer()
    committed_before = {tp: kafka.committed(tp) for tp in kafka.assignment()}
    emit_approvals(uow_factory, count=2)
    retarget(database_url, topic)
    relay = make_relay(database_url, bootstrap)
    relay.publish_batch()
    relay.close()
    # Apply without committing offsets: a crash after the database commit.
    deadline = time.monotonic() + 20
    while count(consumer_db) < 2 and time.monotonic() < deadline:
        for records in kafka.poll(timeout_ms=200).values():
            for record in records:
                first.process(record)
    assert count(consumer_db) == 2
    assert {tp: kafka.committed(tp) for tp in kafka.assignment()} == committed_before
    first.close()  # no commit: the group will deliver the records again

    second = make_consumer(bootstrap, topic, consumer_db, group=group)
    drain(second, lambda: second.stats.duplicates >= 2, timeout=40)
    assert count(consumer_db) == 2 and second.stats.applied == 0
    second.close()


def test_poison_and_failing_events_go_to_the_dlq_and_the_partition_moves_on(
        bootstrap: str, topic: str, consumer_db: Engine) -> None:
    def handler(conn: Connection, event: ConsumedEvent) -> None:
        if event.data["product_version"] == "fails":
            raise RuntimeError("cannot apply this one")
        record_handler(conn, event)

    consumer = make_consumer(bootstrap, topic, consumer_db, handler=handler)
    wait_assigned(consumer)
    dlq_start = end_offsets(bootstrap, dlq_topic(topic))
    key = str(uuid.uuid4())
    produce_raw(bootstrap, topic, key, json.dumps(approval_event(key, 1)).encode(),
                envelope_headers(key, 1))
    produce_raw(bootstrap, topic, key, b"{not json", envelope_headers(key, 2))
    failing = json.dumps({**approval_event(key), "product_version": "fails"}).encode()
    produce_raw(bootstrap, topic, key, failing, envelope_headers(key, 3))
    produce_raw(bootstrap, topic, key, json.dumps(approval_event(key, 4)).encode(),
                envelope_headers(key, 4))
    drain(consumer, lambda: count(consumer_db) >= 2)
    assert consumer.stats.dead_lettered == 2 and consumer.stats.retries == 2
    assert consumer.stats.gaps == []  # dead-lettered sequences count as consumed
    dead = read_from(bootstrap, dlq_start, count=2, predicate=lambda r: r.key == key.encode())
    assert len(dead) == 2
    headers = [dict(r.headers) for r in dead]
    assert headers[0]["dlq_origin_topic"] == topic.encode()
    assert int(headers[0]["dlq_origin_offset"]) < int(headers[1]["dlq_origin_offset"])
    assert b"JSON" in headers[0]["dlq_error"] or b"Expecting" in headers[0]["dlq_error"]
    assert b"cannot apply this one" in headers[1]["dlq_error"]
    assert dead[1].value == failing
    consumer.close()


def test_a_bad_record_in_a_batch_is_dead_lettered_and_the_others_applied_exactly_once(
        bootstrap: str, topic: str, consumer_db: Engine) -> None:
    """A poll's records are applied in one transaction; when one fails, the transaction
    is rolled back and the records applied one by one: the bad ones go to the DLQ and
    every other record takes effect once, with the inbox and sequence covering all."""
    def handler(conn: Connection, event: ConsumedEvent) -> None:
        record_handler(conn, event)  # written, then rolled back for the failing one
        if event.data["product_version"] == "fails":
            raise RuntimeError("cannot apply this one")

    consumer = make_consumer(bootstrap, topic, consumer_db, handler=handler)
    dlq_start = end_offsets(bootstrap, dlq_topic(topic))
    key = str(uuid.uuid4())
    values = [json.dumps(approval_event(key, n)).encode() for n in range(1, 7)]
    values[2] = json.dumps({**approval_event(key), "product_version": "fails"}).encode()
    values[4] = b"{not json"
    records = [SimpleNamespace(topic=topic, partition=0, offset=n, key=key.encode(), value=value,
                               headers=envelope_headers(key, n + 1))
               for n, value in enumerate(values)]
    consumer.apply_records(records)

    assert {v for (v,) in _versions(consumer_db)} == {"3.1", "3.2", "3.4", "3.6"}
    stats = consumer.stats
    assert (stats.applied, stats.dead_lettered, stats.duplicates, stats.gaps) == (4, 2, 0, [])
    dead = read_from(bootstrap, dlq_start, count=2, predicate=lambda r: r.key == key.encode())
    assert [int(dict(r.headers)["dlq_origin_offset"]) for r in dead] == [2, 4]
    with consumer_db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(inbox)).scalar_one() == 6
        assert conn.execute(select(sequences.c.last_sequence)).scalar_one() == 6

    # Redelivered (with one record twice in the batch): nothing applies again.
    good = [r for n, r in enumerate(records) if n not in (2, 4)]
    consumer.apply_records([*good, good[0]])
    assert count(consumer_db) == 4
    assert (stats.applied, stats.dead_lettered, stats.duplicates) == (4, 2, 5)
    consumer.close()


def test_gaps_and_steps_back_in_sequence_are_detected(bootstrap: str, topic: str,
                                                       consumer_db: Engine) -> None:
    seen_gaps: list[Gap] = []
    consumer = make_consumer(bootstrap, topic, consumer_db,
                             on_gap=lambda conn, event, gap: seen_gaps.append(gap))
    wait_assigned(consumer)
    key = str(uuid.uuid4())
    for sequence in (1, 2, 4, 3):
        produce_raw(bootstrap, topic, key, json.dumps(approval_event(key, sequence)).encode(),
                    envelope_headers(key, sequence))
    drain(consumer, lambda: consumer.stats.applied + consumer.stats.duplicates >= 4)
    assert seen_gaps == [Gap(f"approval/{key}", 3, 4)] == consumer.stats.gaps
    # The late sequence 3 arrives after 4: detected as behind, not applied over newer state.
    assert consumer.stats.duplicates == 1
    assert {v for (v,) in _versions(consumer_db)} == {"3.1", "3.2", "3.4"}
    consumer.close()


def _versions(engine: Engine) -> list[tuple[str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(applied.c.product_version))]


def test_lag_is_reported(bootstrap: str, topic: str, consumer_db: Engine) -> None:
    consumer = make_consumer(bootstrap, topic, consumer_db)
    wait_assigned(consumer)
    assert sum(consumer.lag().values()) == 0
    key = str(uuid.uuid4())
    produce_raw(bootstrap, topic, key, json.dumps(approval_event(key, 1)).encode(),
                envelope_headers(key, 1))
    deadline = time.monotonic() + 10
    while sum(consumer.lag().values()) == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sum(consumer.lag().values()) == 1
    drain(consumer, lambda: consumer.stats.applied >= 1)
    assert sum(consumer.lag().values()) == 0
    consumer.close()
