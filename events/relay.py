"""The relay: publishes outbox rows to Kafka, then marks them, in per-aggregate order.

A row is marked published only after the broker acknowledged it, so a crash
between the two re-sends it (consumers drop the duplicate by ``ce_id``), and
nothing is ever lost. Order per aggregate holds with several relays at once:

* PostgreSQL: rows are claimed with ``FOR UPDATE SKIP LOCKED`` and stay locked
  while they are sent; a relay publishes an aggregate's rows only from that
  aggregate's oldest unpublished sequence, as an unbroken run, so it can never
  overtake rows another relay holds.
* SQLite: one writer. Rows are read, sent, then marked in a second short
  transaction, so web requests are never blocked behind a broker round trip.

Marking assigns ``feed_position`` under the feed-counter row lock: positions
become visible in order, which is what keeps the ``/events`` cursor exact.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError
from sqlalchemy import Connection, Engine, Row, Table, and_, bindparam, func, select, update

from events.cloudevents import EventEnvelope

log = logging.getLogger(__name__)


@dataclass
class RelayStats:
    published: int = 0
    failed_batches: int = 0
    last_error: str | None = None
    last_published_at: datetime | None = None


@dataclass
class OutboxStatus:
    pending: int
    published: int
    oldest_pending_age_seconds: float | None

    def as_dict(self) -> dict[str, Any]:
        return {"pending": self.pending, "published": self.published,
                "oldest_pending_age_seconds": self.oldest_pending_age_seconds}


def outbox_status(engine: Engine, outbox: Table, now: datetime | None = None) -> OutboxStatus:
    """Pending and published counts and the age of the oldest pending row."""
    now = now or datetime.now(UTC)
    with engine.connect() as conn:
        pending, oldest = conn.execute(
            select(func.count(), func.min(outbox.c.created_at))
            .where(outbox.c.published_at.is_(None))).one()
        published = conn.execute(select(func.count()).select_from(outbox)
                                 .where(outbox.c.published_at.is_not(None))).scalar_one()
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    age = (now - oldest).total_seconds() if oldest is not None else None
    return OutboxStatus(int(pending), int(published), age)


def envelope(row: Row[Any]) -> EventEnvelope:
    return EventEnvelope(id=row.event_id, source=row.ce_source, type=row.ce_type,
                         time=row.ce_time, subject=row.ce_subject, sequence=row.sequence,
                         key=row.record_key, data=row.data.encode())


def unbroken_runs(rows: Sequence[Row[Any]], oldest_pending: dict[str, int]) -> list[Row[Any]]:
    """Keep, per aggregate, only rows continuing from its oldest unpublished sequence.

    Rows of an aggregate whose oldest pending row is held elsewhere (another
    relay) are left alone, so no relay can overtake another on one aggregate.
    """
    expected = dict(oldest_pending)
    kept = []
    for row in rows:  # ordered by id, which follows sequence within an aggregate
        if expected.get(row.aggregate_key) == row.sequence:
            kept.append(row)
            expected[row.aggregate_key] = row.sequence + 1
        else:
            expected[row.aggregate_key] = -1  # a hole: nothing more of this aggregate now
    return kept


@dataclass
class Relay:
    engine: Engine
    outbox: Table
    feed_counter: Table
    producer_factory: Callable[[], KafkaProducer]
    batch_size: int = 500
    max_backoff: float = 30.0
    stats: RelayStats = field(default_factory=RelayStats)
    # A test hook: called after the broker acknowledged a batch and before it is marked.
    after_ack: Callable[[list[Row[Any]]], None] | None = None
    _producer: KafkaProducer | None = None

    @property
    def _postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = self.producer_factory()
        return self._producer

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None

    # -- one batch ------------------------------------------------------------------

    def _claim(self, conn: Connection) -> list[Row[Any]]:
        o = self.outbox
        stmt = (select(o).where(o.c.published_at.is_(None)).order_by(o.c.id)
                .limit(self.batch_size))
        if self._postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        rows = conn.execute(stmt).all()
        if not rows:
            return []
        keys = sorted({r.aggregate_key for r in rows})
        oldest = dict(conn.execute(
            select(o.c.aggregate_key, func.min(o.c.sequence))
            .where(o.c.published_at.is_(None), o.c.aggregate_key.in_(keys))
            .group_by(o.c.aggregate_key)).all())
        return unbroken_runs(rows, oldest)

    def _send(self, rows: list[Row[Any]]) -> list[Row[Any]]:
        """Send and wait for acknowledgements; returns the rows safe to mark.

        After a failure the rest of that aggregate's rows are not marked either, so
        a retry resends them in order (duplicates are dropped by consumers).
        """
        producer = self.producer()
        futures = []
        for row in rows:
            env = envelope(row)
            futures.append(producer.send(row.topic, key=env.key.encode(), value=env.data,
                                         headers=env.headers()))
        producer.flush()
        acked, broken, error = [], set(), None
        for row, future in zip(rows, futures, strict=True):
            try:
                future.get(timeout=0)
            except Exception as exc:
                broken.add(row.aggregate_key)
                error = exc
                continue
            if row.aggregate_key not in broken:
                acked.append(row)
        if error is not None:
            self.stats.last_error = f"{type(error).__name__}: {error}"
            log.warning("relay: %d of %d events not acknowledged: %s",
                        len(rows) - len(acked), len(rows), error)
            self.close()  # a fresh producer after errors: no stale idempotence state
        return acked

    def _mark(self, conn: Connection, rows: list[Row[Any]]) -> None:
        if not rows:
            return
        counter = self.feed_counter
        stmt = select(counter.c.last_position).where(counter.c.id == 1)
        if self._postgres:
            stmt = stmt.with_for_update()
        last = int(conn.execute(stmt).scalar_one())
        now = datetime.now(UTC)
        o = self.outbox
        conn.execute(
            update(o).where(and_(o.c.id == bindparam("row_id"), o.c.published_at.is_(None)))
            .values(published_at=now, feed_position=bindparam("position")),
            [{"row_id": row.id, "position": last + n} for n, row in enumerate(rows, 1)],
        )
        conn.execute(update(counter).where(counter.c.id == 1)
                     .values(last_position=last + len(rows)))

    def publish_batch(self) -> int:
        """Publish one batch; returns how many events were published."""
        if self._postgres:
            with self.engine.begin() as conn:
                rows = self._claim(conn)
                acked = self._send(rows) if rows else []
                if self.after_ack:
                    self.after_ack(acked)
                self._mark(conn, acked)
        else:
            with self.engine.begin() as conn:
                rows = self._claim(conn)
            acked = self._send(rows) if rows else []
            if self.after_ack:
                self.after_ack(acked)
            with self.engine.begin() as conn:
                self._mark(conn, acked)
        if acked:
            self.stats.published += len(acked)
            self.stats.last_published_at = datetime.now(UTC)
        if len(acked) < len(rows):
            self.stats.failed_batches += 1
            raise RelayError(self.stats.last_error or "some events were not acknowledged")
        return len(acked)

    # -- the loop -------------------------------------------------------------------

    def run(self, stop: threading.Event, idle_wait: float = 0.2,
            report_every: float = 30.0) -> None:
        """Publish until ``stop`` is set, backing off while the broker is down."""
        backoff = 0.0
        next_report = time.monotonic() + report_every
        while not stop.is_set():
            try:
                published = self.publish_batch()
                backoff = 0.0
            except (RelayError, KafkaError, OSError) as exc:
                backoff = min(self.max_backoff, max(0.5, backoff * 2))
                log.warning("relay: broker unavailable (%s); retrying in %.1fs", exc, backoff)
                self.close()
                stop.wait(backoff)
                continue
            if time.monotonic() >= next_report:
                status = outbox_status(self.engine, self.outbox)
                log.info("relay: published=%d pending=%d oldest_pending_age=%s",
                         self.stats.published, status.pending, status.oldest_pending_age_seconds)
                next_report = time.monotonic() + report_every
            if published < self.batch_size:
                stop.wait(idle_wait)
        self.close()


class RelayError(RuntimeError):
    """The broker did not acknowledge every event of a batch."""
