"""The consumer runtime: each event applied once, in order, or dead-lettered.

For every record, in one database transaction: skip it if the inbox already
holds its (``ce_source``, ``ce_id``); check its per-aggregate ``sequence``
against the last one applied (a gap or a step back is detected, never silently
passed over); run the handler; record the inbox row and the new sequence.
Kafka offsets are committed only after that transaction commits, so a crash
at any point means a redelivery, which the inbox turns into a no-op.

A handler that keeps failing is retried a bounded number of times; then the
record goes to ``<topic>.dlq`` with headers naming its origin and the error,
its sequence is marked consumed (so the aggregate's later events are not held
up by it), and the partition moves on.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import OffsetAndMetadata, TopicPartition
from sqlalchemy import Connection, Engine, Table, bindparam, case, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from events.cloudevents import EventEnvelope, envelope_from_record
from events.producer import idempotent_producer
from schemas.events import registry
from schemas.events.topics import dlq_topic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConsumedEvent:
    """A decoded record and where it came from."""

    envelope: EventEnvelope
    topic: str
    partition: int
    offset: int
    data: dict[str, Any]

    @property
    def type(self) -> str:
        return self.envelope.type

    @property
    def stream(self) -> str:
        """``<aggregate>/<key>``: the sequence stream this event belongs to."""
        return registry.get(self.envelope.type).aggregate + "/" + self.envelope.key


class Outcome(Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"


class PoisonEvent(Exception):
    """A record that can never be applied (undecodable, unknown type): no retries."""


@dataclass(frozen=True)
class Gap:
    stream: str
    expected: int
    received: int


Handler = Callable[[Connection, ConsumedEvent], None]
# Called inside the transaction when a sequence gap is seen, before the handler.
# It may heal the gap (apply the missing events itself) or raise to retry later.
GapHandler = Callable[[Connection, ConsumedEvent, Gap], None]


@dataclass
class ConsumerStats:
    applied: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    retries: int = 0
    gaps: list[Gap] = field(default_factory=list)
    by_type: dict[str, int] = field(default_factory=dict)


def decode(record: Any) -> ConsumedEvent:
    """A Kafka record as a :class:`ConsumedEvent`; :class:`PoisonEvent` if it cannot be."""
    try:
        envelope = envelope_from_record(record.key, record.value, record.headers)
        registry.get(envelope.type)
        data = json.loads(envelope.data)
    except (ValueError, KeyError, UnicodeDecodeError) as exc:
        raise PoisonEvent(str(exc)) from exc
    if not isinstance(data, dict):
        raise PoisonEvent("event data is not a JSON object")
    return ConsumedEvent(envelope, record.topic, record.partition, record.offset, data)


def _envelope_only(record: Any) -> ConsumedEvent | None:
    """What can be read of a dead record's identity (to mark its sequence), even if its
    data is broken; ``None`` when not even the envelope or the type can be read."""
    try:
        envelope = envelope_from_record(record.key, record.value, record.headers)
        registry.get(envelope.type)
    except (ValueError, KeyError):
        return None
    return ConsumedEvent(envelope, record.topic, record.partition, record.offset, {})


@dataclass
class EventConsumer:
    """Consumes ``topics`` as group ``name`` and applies events with ``handler``."""

    name: str
    bootstrap_servers: str
    topics: Iterable[str]
    engine: Engine
    inbox: Table
    sequences: Table
    handler: Handler
    on_gap: GapHandler | None = None
    max_attempts: int = 3
    retry_backoff: float = 0.2
    session_timeout_ms: int = 6000
    consumer_config: dict[str, Any] = field(default_factory=dict)
    stats: ConsumerStats = field(default_factory=ConsumerStats)
    _consumer: KafkaConsumer | None = None
    _dlq: KafkaProducer | None = None

    # -- Kafka plumbing -------------------------------------------------------------

    def consumer(self) -> KafkaConsumer:
        if self._consumer is None:
            config: dict[str, Any] = {
                "bootstrap_servers": self.bootstrap_servers.split(","),
                "group_id": self.name,
                "client_id": self.name,
                "enable_auto_commit": False,
                "auto_offset_reset": "earliest",
                "session_timeout_ms": self.session_timeout_ms,
                "heartbeat_interval_ms": max(500, self.session_timeout_ms // 3),
                "max_poll_records": 500,
            }
            config.update(self.consumer_config)
            self._consumer = KafkaConsumer(**config)
            self._consumer.subscribe(list(self.topics))
        return self._consumer

    def dlq_producer(self) -> KafkaProducer:
        if self._dlq is None:
            self._dlq = idempotent_producer(self.bootstrap_servers, client_id=f"{self.name}-dlq")
        return self._dlq

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
        if self._dlq is not None:
            self._dlq.close(timeout=5)
            self._dlq = None

    def lag(self) -> dict[str, int]:
        """Records not yet consumed, per ``topic:partition`` of the current assignment."""
        consumer = self.consumer()
        assigned = list(consumer.assignment())
        if not assigned:
            return {}
        ends = consumer.end_offsets(assigned)
        return {f"{tp.topic}:{tp.partition}": max(0, ends[tp] - consumer.position(tp))
                for tp in assigned}

    # -- applying one event -----------------------------------------------------------

    def __post_init__(self) -> None:
        # Statements are built once: rebuilding them per event was half the CPU of a
        # trust adapter's apply.
        inbox, seqs = self.inbox, self.sequences
        self._q_applied = select(inbox.c.ce_id).where(
            inbox.c.consumer == bindparam("c"), inbox.c.ce_source == bindparam("source"),
            inbox.c.ce_id == bindparam("ce_id"))
        self._q_last = select(seqs.c.last_sequence).where(
            seqs.c.consumer == bindparam("c"), seqs.c.aggregate_key == bindparam("stream"))
        self._ins_inbox = inbox.insert()
        self._upserts: dict[str, Any] = {}

    def _already_applied(self, conn: Connection, env: EventEnvelope) -> bool:
        params = {"c": self.name, "source": env.source, "ce_id": env.id}
        return conn.execute(self._q_applied, params).first() is not None

    def _last_sequence(self, conn: Connection, stream: str) -> int:
        value = conn.execute(self._q_last, {"c": self.name, "stream": stream}).scalar()
        return int(value or 0)

    def _sequence_upsert(self, dialect: str) -> Any:
        """Insert the stream's sequence, or raise it (never lower it), in one statement."""
        if dialect not in self._upserts:
            seqs = self.sequences
            stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(seqs)
            self._upserts[dialect] = stmt.on_conflict_do_update(
                index_elements=[seqs.c.consumer, seqs.c.aggregate_key],
                set_={"last_sequence": case(
                    (stmt.excluded.last_sequence > seqs.c.last_sequence,
                     stmt.excluded.last_sequence), else_=seqs.c.last_sequence)})
        return self._upserts[dialect]

    def record_applied(self, conn: Connection, event: ConsumedEvent) -> None:
        """Note ``event`` as applied: its inbox row and its stream's sequence.

        Public for handlers that apply events themselves (e.g. a gap healed from the
        marketplace's feed), in the same transaction as their effect.
        """
        env = event.envelope
        conn.execute(self._ins_inbox, {
            "consumer": self.name, "ce_source": env.source, "ce_id": env.id,
            "ce_type": env.type, "topic": event.topic, "partition": event.partition,
            "offset": event.offset, "processed_at": datetime.now(UTC)})
        if env.sequence > 0:
            conn.execute(self._sequence_upsert(conn.dialect.name), {
                "consumer": self.name, "aggregate_key": event.stream,
                "last_sequence": env.sequence})

    def apply(self, event: ConsumedEvent) -> Outcome:
        """Apply one event in one transaction (idempotent)."""
        env = event.envelope
        with self.engine.begin() as conn:
            if self._already_applied(conn, env):
                return Outcome.DUPLICATE
            last = self._last_sequence(conn, event.stream) if env.sequence > 0 else 0
            if 0 < env.sequence <= last:
                # Same position, another id: a re-publication we have already applied.
                log.warning("%s: %s sequence %d already applied (last %d): skipped",
                            self.name, event.stream, env.sequence, last)
                self._record_duplicate(conn, event)
                return Outcome.DUPLICATE
            if env.sequence > last + 1:
                gap = Gap(event.stream, last + 1, env.sequence)
                self.stats.gaps.append(gap)
                log.warning("%s: gap in %s: expected sequence %d, got %d", self.name,
                            gap.stream, gap.expected, gap.received)
                if self.on_gap is not None:
                    self.on_gap(conn, event, gap)
            self.handler(conn, event)
            self.record_applied(conn, event)
        self.stats.applied += 1
        self.stats.by_type[env.type] = self.stats.by_type.get(env.type, 0) + 1
        return Outcome.APPLIED

    def _record_duplicate(self, conn: Connection, event: ConsumedEvent) -> None:
        try:
            with conn.begin_nested():
                self.record_applied(conn, event)
        except IntegrityError:
            pass

    def dead_letter(self, record: Any, error: BaseException) -> None:
        """Publish ``record`` to its DLQ, then mark it consumed so the partition moves on."""
        headers = list(record.headers or []) + [
            ("dlq_origin_topic", record.topic.encode()),
            ("dlq_origin_partition", str(record.partition).encode()),
            ("dlq_origin_offset", str(record.offset).encode()),
            ("dlq_consumer", self.name.encode()),
            ("dlq_error", f"{type(error).__name__}: {error}"[:1000].encode()),
            ("dlq_at", datetime.now(UTC).isoformat().encode()),
        ]
        future = self.dlq_producer().send(dlq_topic(record.topic), key=record.key,
                                          value=record.value, headers=headers)
        self.dlq_producer().flush()
        future.get(timeout=30)
        event = _envelope_only(record)
        if event is not None:
            with self.engine.begin() as conn:
                if not self._already_applied(conn, event.envelope):
                    self.record_applied(conn, event)
        self.stats.dead_lettered += 1
        log.error("%s: %s:%d@%d dead-lettered: %s", self.name, record.topic, record.partition,
                  record.offset, error)

    def process(self, record: Any) -> Outcome:
        """Apply with bounded retries; dead-letter what still fails."""
        try:
            event = decode(record)
        except PoisonEvent as exc:
            self.dead_letter(record, exc)
            return Outcome.DEAD_LETTERED
        for attempt in range(1, self.max_attempts + 1):
            try:
                outcome = self.apply(event)
            except Exception as exc:
                if attempt == self.max_attempts:
                    self.dead_letter(record, exc)
                    return Outcome.DEAD_LETTERED
                self.stats.retries += 1
                time.sleep(self.retry_backoff * attempt)
                continue
            if outcome is Outcome.DUPLICATE:
                self.stats.duplicates += 1
            return outcome
        raise AssertionError("unreachable")

    # -- the loop ---------------------------------------------------------------------

    def poll_once(self, timeout_ms: int = 500) -> int:
        """Process one poll's worth of records; commit offsets after they are applied."""
        consumer = self.consumer()
        batches = consumer.poll(timeout_ms=timeout_ms)
        count = 0
        for tp, records in batches.items():
            for record in records:
                self.process(record)
                count += 1
            consumer.commit({TopicPartition(tp.topic, tp.partition):
                             OffsetAndMetadata(records[-1].offset + 1, "", -1)})
        return count

    def run(self, stop: threading.Event, timeout_ms: int = 500) -> None:
        try:
            while not stop.is_set():
                self.poll_once(timeout_ms)
        finally:
            self.close()
