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
up by it), and the partition moves on. A record that failed on a gap nobody could
fill (``UnhealedGap``) is not marked: the missing events may still come.

A poll's records are applied together (:meth:`EventConsumer.apply_records`): one
transaction, the inbox and the sequences read once for the batch and written once at
its end, no savepoint per event. If anything in the batch fails, the transaction is
rolled back and the records are applied one by one as above, so a bad record costs
its neighbours a second attempt, never their effect.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from functools import cached_property
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import OffsetAndMetadata, TopicPartition
from sqlalchemy import ColumnElement, Connection, Engine, Select, Table, bindparam, case, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from events.cloudevents import EventEnvelope, envelope_from_record
from events.prepared import Prepared
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

    @cached_property
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


class UnhealedGap(RuntimeError):
    """Raised by a gap handler that could not fill a gap: the missing events may still come.

    A record dead-lettered for this is not marked consumed: its stream's sequence stays
    where it was, so the missing events are applied when they arrive, and the record
    itself when it is published again (a relay re-sends an aggregate's events from the
    first one the broker did not acknowledge, in order).
    """


Handler = Callable[[Connection, ConsumedEvent], None]
# Called inside the transaction when a sequence gap is seen, before the handler.
# It may heal the gap (apply the missing events itself) or raise (``UnhealedGap``) to
# retry later.
GapHandler = Callable[[Connection, ConsumedEvent, Gap], None]


@dataclass
class ConsumerStats:
    applied: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    retries: int = 0
    gaps: list[Gap] = field(default_factory=list)
    by_type: dict[str, int] = field(default_factory=dict)


@dataclass
class _Book:
    """The runtime's bookkeeping for the events applied in one transaction.

    Which events are already applied and where each stream stands are read once for
    the batch; the inbox rows and sequences are written in two statements at its end.
    (Four statements per event were most of a trust adapter's cost per event.)
    """

    conn: Connection
    consumer: str
    seen: set[tuple[str, str]] = field(default_factory=set)  # (ce_source, ce_id) applied
    last: dict[str, int] = field(default_factory=dict)  # stream -> last sequence applied
    inbox_rows: list[dict[str, Any]] = field(default_factory=list)
    raised: set[str] = field(default_factory=set)  # streams whose sequence was noted
    outcomes: list[tuple[ConsumedEvent, Outcome]] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)

    def note(self, event: ConsumedEvent) -> None:
        """``event`` is applied (or consumed): its inbox row, its stream's sequence."""
        env = event.envelope
        self.seen.add((env.source, env.id))
        self.inbox_rows.append({
            "consumer": self.consumer, "ce_source": env.source, "ce_id": env.id,
            "ce_type": env.type, "topic": event.topic, "partition": event.partition,
            "offset": event.offset, "processed_at": datetime.now(UTC)})
        if env.sequence > 0:
            stream = event.stream
            self.last[stream] = max(self.last.get(stream, 0), env.sequence)
            self.raised.add(stream)


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
    _book: _Book | None = None  # while events are being applied
    # Creating the consumer once even when two threads ask at once (a host joining its
    # group while a monitor reads the assignment): a second KafkaConsumer would join the
    # same group, take some partitions and never poll them.
    _creating: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # -- Kafka plumbing -------------------------------------------------------------

    def consumer(self) -> KafkaConsumer:
        if self._consumer is not None:
            return self._consumer
        with self._creating:
            if self._consumer is not None:
                return self._consumer
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
            consumer = KafkaConsumer(**config)
            consumer.subscribe(list(self.topics))
            self._consumer = consumer
            return consumer

    def dlq_producer(self) -> KafkaProducer:
        with self._creating:
            if self._dlq is None:
                self._dlq = idempotent_producer(self.bootstrap_servers,
                                                client_id=f"{self.name}-dlq")
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
        # The per-batch ones run on the DBAPI cursor (events.prepared): through
        # Connection.execute they cost as much as a small batch's events.
        inbox, seqs = self.inbox, self.sequences
        self._q_applied = _InLookup(lambda ids: select(inbox.c.ce_id).where(
            inbox.c.consumer == bindparam("c"), inbox.c.ce_source == bindparam("source"),
            inbox.c.ce_id.in_(ids)), inbox.c.ce_id)
        self._q_last = _InLookup(lambda streams: select(
            seqs.c.aggregate_key, seqs.c.last_sequence).where(
            seqs.c.consumer == bindparam("c"), seqs.c.aggregate_key.in_(streams)),
            seqs.c.aggregate_key)
        self._ins_inbox = Prepared.of(inbox.insert())
        self._upsert_sequence = Prepared(self._sequence_upsert)

    def _already_applied(self, conn: Connection, env: EventEnvelope) -> bool:
        params = {"c": self.name, "source": env.source}
        return bool(self._q_applied.rows(conn, params, [env.id]))

    def _open_book(self, conn: Connection, events: Sequence[ConsumedEvent]) -> _Book:
        """What the inbox and the sequences say about ``events``, in a few queries."""
        book = _Book(conn, self.name)
        ids: dict[str, list[str]] = {}
        for event in events:
            ids.setdefault(event.envelope.source, []).append(event.envelope.id)
        for source, wanted in ids.items():
            book.seen.update((source, row["ce_id"]) for row in self._q_applied.rows(
                conn, {"c": self.name, "source": source}, wanted))
        streams = sorted({e.stream for e in events if e.envelope.sequence > 0})
        book.last.update((row["aggregate_key"], int(row["last_sequence"]))
                         for row in self._q_last.rows(conn, {"c": self.name}, streams))
        return book

    def _close_book(self, book: _Book) -> None:
        """Write what ``book`` noted: the inbox rows, then each stream's new sequence."""
        conn = book.conn
        self._ins_inbox.executemany(conn, book.inbox_rows)
        self._upsert_sequence.executemany(conn, (
            {"consumer": self.name, "aggregate_key": stream, "last_sequence": book.last[stream]}
            for stream in sorted(book.raised)))
        book.inbox_rows, book.raised = [], set()

    def _sequence_upsert(self, dialect: str) -> Any:
        """Insert the stream's sequence, or raise it (never lower it), in one statement."""
        seqs = self.sequences
        stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(seqs)
        return stmt.on_conflict_do_update(
            index_elements=[seqs.c.consumer, seqs.c.aggregate_key],
            set_={"last_sequence": case(
                (stmt.excluded.last_sequence > seqs.c.last_sequence,
                 stmt.excluded.last_sequence), else_=seqs.c.last_sequence)})

    def record_applied(self, conn: Connection, event: ConsumedEvent) -> None:
        """Note ``event`` as applied: its inbox row and its stream's sequence.

        Public for handlers that apply events themselves (e.g. a gap healed from the
        marketplace's feed), in the same transaction as their effect: while a batch is
        being applied on ``conn``, the rows join the batch's (written at its end, and
        a later copy of the event in the batch is then a duplicate).
        """
        book = self._book
        if book is not None and book.conn is conn:
            book.note(event)
            return
        book = _Book(conn, self.name)
        book.note(event)
        self._close_book(book)

    def _apply_events(self, conn: Connection, events: Sequence[ConsumedEvent]) -> _Book:
        """Apply ``events`` in order on ``conn`` (in its transaction); raises on the first
        failure, leaving the transaction for the caller to roll back."""
        book = self._open_book(conn, events)
        self._book = book
        try:
            for event in events:
                book.outcomes.append((event, self._apply_one(conn, event, book)))
            self._close_book(book)
        finally:
            self._book = None
        return book

    def _apply_one(self, conn: Connection, event: ConsumedEvent, book: _Book) -> Outcome:
        env = event.envelope
        if (env.source, env.id) in book.seen:
            return Outcome.DUPLICATE
        last = book.last.get(event.stream, 0) if env.sequence > 0 else 0
        if 0 < env.sequence <= last:
            # Same position, another id: a re-publication we have already applied.
            log.warning("%s: %s sequence %d already applied (last %d): skipped",
                        self.name, event.stream, env.sequence, last)
            book.note(event)
            return Outcome.DUPLICATE
        if env.sequence > last + 1:
            gap = Gap(event.stream, last + 1, env.sequence)
            book.gaps.append(gap)
            log.warning("%s: gap in %s: expected sequence %d, got %d", self.name,
                        gap.stream, gap.expected, gap.received)
            if self.on_gap is not None:
                self.on_gap(conn, event, gap)
        self.handler(conn, event)
        book.note(event)
        return Outcome.APPLIED

    def _tally(self, book: _Book) -> None:
        """Count a committed book's outcomes (never before its commit)."""
        stats = self.stats
        for event, outcome in book.outcomes:
            if outcome is Outcome.APPLIED:
                stats.applied += 1
                stats.by_type[event.type] = stats.by_type.get(event.type, 0) + 1
            else:
                stats.duplicates += 1
        stats.gaps.extend(book.gaps)

    def apply(self, event: ConsumedEvent) -> Outcome:
        """Apply one event in one transaction (idempotent)."""
        with self.engine.begin() as conn:
            book = self._apply_events(conn, [event])
        self._tally(book)
        return book.outcomes[0][1]

    def apply_records(self, records: Sequence[Any],
                      decoded: Sequence[ConsumedEvent | None] | None = None) -> None:
        """Apply ``records`` in order, in one transaction with batched bookkeeping.

        If any of them fails (undecodable, a handler error, a gap not healed), the
        transaction is rolled back and they are applied one by one instead
        (:meth:`process`: retries, then the DLQ), so a bad record never takes the
        others' effects with it, and the good ones are still applied exactly once.
        ``decoded``, if given, holds the records already decoded (``None`` for any not).
        """
        try:
            events = [decode(record) if event is None else event for record, event in
                      zip(records, decoded or [None] * len(records), strict=True)]
            with self.engine.begin() as conn:
                book = self._apply_events(conn, events)
        except Exception as exc:  # any failure: the one-by-one path sorts it out
            log.info("%s: a batch of %d records failed (%s: %s); applying them one by one",
                     self.name, len(records), type(exc).__name__, exc)
            self._one_by_one(records)
            return
        self._tally(book)

    def _one_by_one(self, records: Sequence[Any]) -> None:
        for record in records:
            self.process(record)

    def dead_letter(self, record: Any, error: BaseException) -> None:
        """Publish ``record`` to its DLQ, then mark it consumed so the partition moves on.

        Not after an ``UnhealedGap``: marking it would raise its stream's sequence past
        the missing events, and they would be dropped as already applied on arrival.
        """
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
        if event is not None and not isinstance(error, UnhealedGap):
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
            return outcome
        raise AssertionError("unreachable")

    # -- the loop ---------------------------------------------------------------------

    def poll_once(self, timeout_ms: int = 500) -> int:
        """Process one poll's worth of records; commit offsets after they are applied."""
        consumer = self.consumer()
        batches = consumer.poll(timeout_ms=timeout_ms)
        count = 0
        for tp, records in batches.items():
            self.apply_records(records)
            count += len(records)
            consumer.commit({TopicPartition(tp.topic, tp.partition):
                             OffsetAndMetadata(records[-1].offset + 1, "", -1)})
        return count

    def run(self, stop: threading.Event, timeout_ms: int = 500) -> None:
        try:
            while not stop.is_set():
                self.poll_once(timeout_ms)
        finally:
            self.close()


class _InLookup:
    """A SELECT with ``column IN (...)`` over any number of values, as a few prepared shapes.

    The values are sent in slices padded (with their last value, which changes no
    ``IN``) to the next of a few sizes, so each shape is compiled once and the slices
    stay within every backend's bound-parameter limit.
    """

    SIZES = (1, 8, 64, 512)

    def __init__(self, build: Callable[[list[Any]], Select[Any]], column: ColumnElement[Any]
                 ) -> None:
        self._shapes = {size: Prepared.of(build([
            bindparam(f"in_{n}", type_=column.type) for n in range(size)]))
            for size in self.SIZES}

    def rows(self, conn: Connection, params: Mapping[str, Any], values: Sequence[str]
             ) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        largest = self.SIZES[-1]
        for start in range(0, len(values), largest):
            part = list(values[start:start + largest])
            size = next(size for size in self.SIZES if size >= len(part))
            part += part[-1:] * (size - len(part))
            found += self._shapes[size].rows(
                conn, {**params, **{f"in_{n}": value for n, value in enumerate(part)}})
        return found
