"""Helpers for event tests: emitting contract events and reading topics back."""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import Engine, delete, insert, select, update

from events.producer import idempotent_producer
from events.relay import Relay
from marketplace.kernel.db import make_engine
from marketplace.kernel.outbox import event_feed, outbox, outbox_pending, outbox_tables
from marketplace.kernel.unit_of_work import UnitOfWork
from schemas.events import registry

GRANTED = registry.by_name("approval.granted")
SUSPENDED = registry.by_name("approval.suspended")


def approval_event(approval_id: str, n: int = 0) -> dict[str, Any]:
    """A valid ``approval.granted`` payload for ``approval_id`` (``n`` varies the data)."""
    return {**GRANTED.example, "approval_id": approval_id, "product_version": f"3.{n}"}


def emit_approvals(uow_factory: Callable[..., UnitOfWork], approval_id: str | None = None,
                   count: int = 1) -> tuple[str, list[str]]:
    """Emit ``count`` events for one approval in one committed transaction."""
    approval_id = approval_id or str(uuid.uuid4())
    ids = []
    with uow_factory() as uow:
        for n in range(count):
            ids.append(uow.emit(GRANTED.ce_type, approval_event(approval_id, n)))
        uow.commit()
    return approval_id, ids


def make_relay(database_url: str, bootstrap: str, **kwargs: Any) -> Relay:
    return Relay(engine=make_engine(database_url), tables=outbox_tables,
                 producer_factory=partial(idempotent_producer, bootstrap), **kwargs)


def relay_pending_to(database_url: str, bootstrap: str, topic: str) -> int:
    """Publish every pending outbox row on this test's own ``topic`` (a shared broker's
    ``marketplace.*`` topics carry other tests' history); how many were published."""
    relay = make_relay(database_url, bootstrap)
    with relay.engine.begin() as conn:
        conn.execute(update(outbox).where(outbox.c.id.in_(select(outbox_pending.c.outbox_id)))
                     .values(topic=topic))
    published = relay.drain()
    relay.close()
    relay.engine.dispose()
    return published


def unpublish_all(engine: Engine) -> None:
    """Make every outbox row pending again, as if a relay had crashed before marking."""
    with engine.begin() as conn:
        conn.execute(delete(event_feed))
        conn.execute(insert(outbox_pending).from_select(
            ["outbox_id", "aggregate_key", "sequence"],
            select(outbox.c.id, outbox.c.aggregate_key, outbox.c.sequence)))


def end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return consumer.end_offsets(partitions)
    finally:
        consumer.close()


def read_from(bootstrap: str, start: dict[TopicPartition, int], *, count: int,
              timeout: float = 20.0, predicate: Callable[[Any], bool] = lambda r: True
              ) -> list[Any]:
    """Records after ``start`` offsets (no consumer group: assigned partitions)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    consumer.assign(list(start))
    for tp, offset in start.items():
        consumer.seek(tp, offset)
    found: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(found) < count and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                found.extend(r for r in records if predicate(r))
        # A short extra poll catches records beyond the expected count (duplicates).
        for records in consumer.poll(timeout_ms=500).values():
            found.extend(r for r in records if predicate(r))
    finally:
        consumer.close()
    return found
