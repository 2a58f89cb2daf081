"""Applying events across partitions in event-time order, one transaction per batch.

Kafka orders one aggregate's events (one key, one partition), but the route has rules
across aggregates: an order is checked against a contract, an approval and a funding
line that travel under other keys, often on other partitions or topics. A consumer
reading several partitions may see an order before the contract it calls off, which
would make the outcome depend on fetch timing, and two trusts (or a replay) disagree.

:class:`EventTimeConsumer` therefore merges the partitions by ``ce_time`` (the
marketplace's commit time, so causes come before effects): it buffers what a poll
returns and applies the earliest buffered event only once every assigned partition
either has a buffered event or has been read to its high-water mark. The events
that can be applied are taken off the buffer in that order and applied as one batch
by the runtime (:meth:`EventConsumer.apply_records`: one transaction; if a record
fails, the batch again one by one, each in a savepoint of one transaction).
Everything else (inbox, sequences, retries, DLQ, commit after apply) is the
runtime's own; offsets are committed only for what was applied, so buffered events
are simply redelivered after a crash.
"""
from __future__ import annotations

import heapq
import logging
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from kafka.structs import OffsetAndMetadata, TopicPartition
from sqlalchemy import Connection, Engine

from events.cloudevents import parse_headers
from events.consumer import ConsumedEvent, EventConsumer, PoisonEvent, decode

log = logging.getLogger(__name__)
_EARLIEST = datetime.min.replace(tzinfo=UTC)


def event_time(record: Any) -> datetime:
    """A record's ``ce_time``; undecodable records sort first (they go straight to the DLQ)."""
    try:
        return datetime.fromisoformat(parse_headers(record.headers)["ce_time"])
    except (KeyError, ValueError):
        return _EARLIEST


class Polled(NamedTuple):
    """A polled record, decoded once (its event time is needed to merge it anyway)."""

    time: datetime
    record: Any
    event: ConsumedEvent | None  # None: undecodable (dead-lettered when applied)

    @classmethod
    def of(cls, record: Any) -> Polled:
        try:
            event = decode(record)
        except PoisonEvent:
            return cls(event_time(record), record, None)
        return cls(event.envelope.time, record, event)


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

    _buffer: dict[TopicPartition, deque[Polled]] = field(default_factory=dict)
    #: ``ce_id`` of the events of the last committed batch, and when it committed.
    last_batch: list[str] = field(default_factory=list)
    last_commit_at: datetime | None = None
    #: Per partition, the high-water mark it was last found read up to (see _caught_up).
    _read_to: dict[TopicPartition, int] = field(default_factory=dict)
    _assigned: set[TopicPartition] = field(default_factory=set)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.batches = BatchEngine(self.engine)
        self.engine = self.batches  # type: ignore[assignment]

    def _caught_up(self, tp: TopicPartition) -> bool:
        """Whether ``tp`` has been read to its high-water mark.

        ``position()`` is costly in kafka-python (it revalidates every assigned
        partition), and most partitions sit idle at their high-water mark poll after
        poll. A partition found caught up stays so until its high-water mark moves or a
        poll returns records of it (or a rewind or rebalance), so that answer is kept;
        "not caught up" is always asked again, as the position may move without records.
        """
        consumer = self.consumer()
        highwater = consumer.highwater(tp)
        if highwater is None:
            return False
        if self._read_to.get(tp) == highwater:
            return True
        try:
            caught_up = consumer.position(tp, timeout_ms=0) >= highwater
        except Exception:  # not assigned any more, or no position yet
            return False
        if caught_up:
            self._read_to[tp] = highwater
        return caught_up

    def _one_by_one(self, records: Sequence[Any]) -> None:
        """The runtime's careful path, in one transaction: each record in a savepoint."""
        with self.batches.batch():
            super()._one_by_one(records)

    def poll_once(self, timeout_ms: int = 500) -> int:
        consumer = self.consumer()
        for tp, records in consumer.poll(timeout_ms=timeout_ms).items():
            key = TopicPartition(tp.topic, tp.partition)
            self._read_to.pop(key, None)
            self._buffer.setdefault(key, deque()).extend(map(Polled.of, records))
        assigned = {TopicPartition(tp.topic, tp.partition) for tp in consumer.assignment()}
        if assigned != self._assigned:  # a rebalance: positions restart from the commits
            self._assigned = assigned
            self._read_to.clear()
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
        merged = self._merged(assigned, caught_up)
        if not merged:
            return
        self.apply_records([polled.record for _, polled in merged],
                           [polled.event for _, polled in merged])
        for tp, (_, record, event) in merged:
            applied[tp] = record.offset
            batch.append(event.envelope.id if event is not None else
                         parse_headers(record.headers).get("ce_id", ""))

    def _merged(self, assigned: set[TopicPartition], caught_up: dict[TopicPartition, bool]
                ) -> list[tuple[TopicPartition, Polled]]:
        """Take off the buffer, earliest first (ties by topic and partition), every record
        that no assigned partition without a buffered record could still precede."""

        def read_to_end(tp: TopicPartition) -> bool:
            if tp not in caught_up:
                caught_up[tp] = self._caught_up(tp)
            return caught_up[tp]

        heads = [(queue[0].time, tp.topic, tp.partition, tp)
                 for tp, queue in self._buffer.items() if queue]
        heapq.heapify(heads)
        # An empty partition that may still hold something earlier blocks the merge.
        blocked = not all(read_to_end(tp) for tp in assigned if not self._buffer.get(tp))
        merged: list[tuple[TopicPartition, Polled]] = []
        while heads and not blocked:
            tp = heapq.heappop(heads)[3]
            queue = self._buffer[tp]
            merged.append((tp, queue.popleft()))
            if queue:
                heapq.heappush(heads, (queue[0].time, tp.topic, tp.partition, tp))
            elif tp in assigned:
                blocked = not read_to_end(tp)
        return merged

    def _rewind(self, assigned: set[TopicPartition]) -> None:
        """After a failed batch (rolled back): forget the buffer, re-read from the commits."""
        consumer = self.consumer()
        self._buffer.clear()
        self._read_to.clear()
        for tp in assigned:
            committed = consumer.committed(tp)
            if committed is None:
                consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, committed)
