"""Applying events across partitions in event-time order, one transaction per batch.

Kafka orders one aggregate's events (one key, one partition), but the route has rules
across aggregates: an order is checked against a contract, an approval and a funding
line that travel under other keys, often on other partitions or topics. A consumer
reading several partitions may see an order before the contract it calls off, which
would make the outcome depend on fetch timing, and two trusts (or a replay) disagree.

:class:`EventTimeConsumer` therefore merges the partitions by ``ce_time`` (the
marketplace's commit time, so causes come before effects): it buffers what a poll
returns and applies the earliest buffered event only once every assigned partition
either has a buffered event or has been read to its high-water mark. Everything
else (inbox, sequences, retries, DLQ, commit after apply) is the runtime's own;
offsets are committed only for what was applied, so buffered events are simply
redelivered after a crash.
"""
from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kafka.structs import OffsetAndMetadata, TopicPartition
from sqlalchemy import Connection, Engine

from events.cloudevents import parse_headers
from events.consumer import EventConsumer

log = logging.getLogger(__name__)
_EARLIEST = datetime.min.replace(tzinfo=UTC)


def event_time(record: Any) -> datetime:
    """A record's ``ce_time``; undecodable records sort first (they go straight to the DLQ)."""
    try:
        return datetime.fromisoformat(parse_headers(record.headers)["ce_time"])
    except (KeyError, ValueError):
        return _EARLIEST


class BatchEngine:
    """The engine the runtime sees: inside :meth:`batch`, ``begin()`` is a savepoint of
    the batch's transaction; outside, an ordinary transaction of the real engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None

    @contextmanager
    def batch(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            self._conn = conn
            try:
                yield conn
            finally:
                self._conn = None

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        if self._conn is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._conn.begin_nested():
            yield self._conn

    def connect(self) -> Any:
        return self.engine.connect()

    def dispose(self) -> None:
        self.engine.dispose()


@dataclass
class EventTimeConsumer(EventConsumer):
    """An :class:`EventConsumer` that applies a poll's records merged by event time, in one
    transaction per poll."""

    _buffer: dict[TopicPartition, deque[tuple[datetime, Any]]] = field(default_factory=dict)
    #: ``ce_id`` of the events of the last committed batch, and when it committed.
    last_batch: list[str] = field(default_factory=list)
    last_commit_at: datetime | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.batches = BatchEngine(self.engine)
        self.engine = self.batches  # type: ignore[assignment]

    def _caught_up(self, tp: TopicPartition) -> bool:
        consumer = self.consumer()
        highwater = consumer.highwater(tp)
        if highwater is None:
            return False
        try:
            return consumer.position(tp, timeout_ms=0) >= highwater
        except Exception:  # not assigned any more, or no position yet
            return False

    def poll_once(self, timeout_ms: int = 500) -> int:
        consumer = self.consumer()
        for tp, records in consumer.poll(timeout_ms=timeout_ms).items():
            key = TopicPartition(tp.topic, tp.partition)
            self._buffer.setdefault(key, deque()).extend(
                (event_time(record), record) for record in records)
        assigned = {TopicPartition(tp.topic, tp.partition) for tp in consumer.assignment()}
        for tp in list(self._buffer):
            if tp not in assigned:  # revoked: its new owner re-reads from the commit
                del self._buffer[tp]
        caught_up: dict[TopicPartition, bool] = {}  # positions only move on poll
        applied: dict[TopicPartition, int] = {}
        batch: list[str] = []
        if not any(self._buffer.values()):
            return 0
        try:
            self._apply_batch(assigned, caught_up, applied, batch)
        except BaseException:
            self._rewind(assigned)
            raise
        if applied:
            self.last_batch, self.last_commit_at = batch, datetime.now(UTC)
            consumer.commit({tp: OffsetAndMetadata(offset + 1, "", -1)
                             for tp, offset in applied.items()})
        return len(batch)

    def _apply_batch(self, assigned: set[TopicPartition], caught_up: dict[TopicPartition, bool],
                     applied: dict[TopicPartition, int], batch: list[str]) -> None:
        with self.batches.batch():
            while True:
                heads = {tp: queue[0][0] for tp, queue in self._buffer.items() if queue}
                if not heads:
                    break
                for tp in assigned:
                    if tp not in heads and tp not in caught_up:
                        caught_up[tp] = self._caught_up(tp)
                if not all(caught_up[tp] for tp in assigned if tp not in heads):
                    break  # an assigned partition may still hold something earlier
                tp = min(heads, key=lambda t: (heads[t], t.topic, t.partition))
                _, record = self._buffer[tp].popleft()
                self.process(record)
                applied[tp] = record.offset
                batch.append(parse_headers(record.headers).get("ce_id", ""))

    def _rewind(self, assigned: set[TopicPartition]) -> None:
        """After a failed batch (rolled back): forget the buffer, re-read from the commits."""
        consumer = self.consumer()
        self._buffer.clear()
        for tp in assigned:
            committed = consumer.committed(tp)
            if committed is None:
                consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, committed)
