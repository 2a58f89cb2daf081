"""The relay's pipeline, ``Relay``: batch N is sent while N-1 is marked and N+1 claimed.

What is the same on both databases lives here: the order of the steps (a batch is sent
only after every earlier one was acknowledged), the stats, and backing off while the
broker or the database is away. Claiming and marking are the database's
(:class:`~events.relay.work_queue.WorkQueue`); building and sending the records is the
sending process's (:mod:`events.relay_sender`).
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

from kafka.errors import KafkaError
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from events.relay.postgres import PostgresQueue, Sessions
from events.relay.sqlite import SqliteQueue
from events.relay.status import outbox_status
from events.relay.wire import WireRow, sent_fields
from events.relay.work_queue import Batch, WorkQueue
from events.relay_sender import Outcome, ProducerFactory, SenderProcess
from events.tables import OutboxTables

log = logging.getLogger("events.relay")  # the relay's one logger, whichever module logs

#: Events claimed, sent and marked together. Larger batches spread each batch's round
#: trips and acknowledgement wait over more events (``bench.relay`` measures this size).
DEFAULT_BATCH_SIZE = 2000


@dataclass
class RelayStats:
    published: int = 0
    failed_batches: int = 0
    last_error: str | None = None
    last_published_at: datetime | None = None


class RelayError(RuntimeError):
    """The broker did not acknowledge every event of a batch."""


@dataclass
class Relay:
    """Publishes the outbox's pending rows to Kafka, then marks them, batch by batch."""

    engine: Engine
    tables: OutboxTables
    # Called in the sending process, so it must pickle: a module-level function or a
    # ``functools.partial`` of one (``partial(idempotent_producer, servers)``).
    producer_factory: ProducerFactory
    batch_size: int = DEFAULT_BATCH_SIZE
    max_backoff: float = 30.0
    stats: RelayStats = field(default_factory=RelayStats)
    # A test hook: called after the broker acknowledged a batch and before it is marked.
    after_ack: Callable[[list[WireRow]], None] | None = None
    _sender: SenderProcess | None = None

    def connect(self) -> SenderProcess:
        """The sending process, started (its producer connected) on first use."""
        if self._sender is None:
            self._sender = SenderProcess(self.producer_factory)
        return self._sender

    def close(self) -> None:
        """Stop the sending process and close the relay's own database connections."""
        self._close_sender()
        self._queue.close()

    def _close_sender(self) -> None:
        if self._sender is not None:
            self._sender.close()
            self._sender = None

    @cached_property
    def _queue(self) -> WorkQueue:
        """The work queue as this database claims and marks it."""
        if self.engine.dialect.name == "postgresql":
            return PostgresQueue(self.engine, self.tables)
        return SqliteQueue(self.engine, self.tables)

    @property
    def _sessions(self) -> Sessions:
        """PostgreSQL: the relay's own connections, one per batch in flight."""
        queue = self._queue
        assert isinstance(queue, PostgresQueue), "SQLite: the relay keeps no sessions"
        return queue.sessions

    # -- the steps of a batch -------------------------------------------------------

    def _submit(self, batch: Batch) -> None:
        """Hand the batch to the sending process: of each row what it sends, as a plain
        tuple (they unpickle fastest)."""
        self.connect().submit(list(map(sent_fields, batch.rows)))

    def _acked(self, batch: Batch, outcome: Outcome) -> list[WireRow]:
        """The rows of ``batch`` safe to mark, given the indices the broker did not ack.

        After a failure the rest of that aggregate's rows are not marked either, so
        a retry resends them in order (duplicates are dropped by consumers).
        """
        failed, error = outcome
        if not failed:
            acked = batch.rows
        else:
            missing = set(failed)
            broken = {batch.rows[index].aggregate_key for index in missing}
            acked = [row for index, row in enumerate(batch.rows)
                     if index not in missing and row.aggregate_key not in broken]
            self.stats.last_error = error
            log.warning("relay: %d of %d events not acknowledged: %s",
                        len(batch.rows) - len(acked), len(batch.rows), error)
        if self.after_ack:
            self.after_ack(acked)
        return acked

    def _finish(self, batch: Batch, acked: list[WireRow]) -> None:
        """Mark the acknowledged rows and end the batch's transaction."""
        self._queue.finish(batch, acked)
        if acked:
            self.stats.published += len(acked)
            self.stats.last_published_at = datetime.now(UTC)
        if len(acked) < len(batch.rows):
            self.stats.failed_batches += 1
            self._close_sender()  # a fresh producer after errors: no stale idempotence state
            raise RelayError(self.stats.last_error or "some events were not acknowledged")

    def _abandon(self, batch: Batch | None) -> None:
        if batch is not None:
            self._queue.give_back(batch)

    # -- one batch, and the pipelined loop ------------------------------------------

    def publish_batch(self) -> int:
        """Claim, send, await and mark one batch; returns how many were published."""
        batch = self._queue.claim(None, self.batch_size)
        if batch is None:
            return 0
        try:
            self._submit(batch)
            acked = self._acked(batch, self.connect().outcome())
        except BaseException:
            self._close_sender()  # an answer may be outstanding: that sender is done with
            self._abandon(batch)
            raise
        self._finish(batch, acked)
        return len(acked)

    def drain(self) -> int:
        """Publish everything pending now, pipelined; returns how many were published."""
        before = self.stats.published
        self.publish_pipelined(threading.Event(), idle_wait=0.0, until_idle=True)
        return self.stats.published - before

    def publish_pipelined(self, stop: threading.Event, idle_wait: float,
                          until_idle: bool = False) -> None:
        """Publish until ``stop``, the database work overlapping the sending.

        While the sending process sends batch N, this thread marks batch N-1 and
        claims batch N+1 (after N's rows, still locked or in flight). A batch is sent
        only after every earlier batch was acknowledged, so a failure can never let a
        later event of an aggregate overtake an earlier one: the batch claimed
        meanwhile is given back unsent.
        """
        queue = self._queue
        inflight: Batch | None = None  # with the sending process
        upcoming: Batch | None = None  # claimed, to be sent next
        answered: tuple[Batch, list[WireRow]] | None = None  # acknowledged, to be marked
        try:
            upcoming = queue.claim(None, self.batch_size)
            while True:
                if upcoming is not None and not stop.is_set():
                    self._submit(upcoming)
                    inflight, upcoming = upcoming, None
                if answered is not None:
                    done, answered = answered, None
                    self._finish(*done)
                if inflight is not None:
                    upcoming = None if stop.is_set() else queue.claim(inflight, self.batch_size)
                    acked = self._acked(inflight, self.connect().outcome())
                    batch, inflight = inflight, None
                    if len(acked) < len(batch.rows):
                        self._abandon(upcoming)
                        upcoming = None
                        self._finish(batch, acked)  # raises RelayError once the rest is marked
                    answered = (batch, acked)
                    continue
                self._abandon(upcoming)  # claimed as ``stop`` was set: never sent
                upcoming = None
                if until_idle or stop.is_set() or stop.wait(idle_wait):
                    return
                upcoming = queue.claim(None, self.batch_size)
        except BaseException:
            self._close_sender()  # an answer may be outstanding: that sender is done with
            raise
        finally:
            self._abandon(inflight)
            self._abandon(upcoming)
            if answered is not None:  # acknowledged, then an error came before its marking
                try:
                    self._finish(*answered)
                except Exception as exc:  # its rows are re-sent; consumers drop duplicates
                    log.warning("relay: an acknowledged batch was not marked: %s", exc)

    def run(self, stop: threading.Event, idle_wait: float = 0.2,
            report_every: float = 30.0) -> None:
        """Publish until ``stop`` is set, backing off while the broker is down."""
        backoff, published_before = 0.0, self.stats.published
        reporter = threading.Thread(target=self._report, args=(stop, report_every),
                                    daemon=True)
        reporter.start()
        while not stop.is_set():
            try:
                self.publish_pipelined(stop, idle_wait)
            except (RelayError, KafkaError, OSError, OperationalError) as exc:
                # The broker or the database is away (a lost connection, SQLite busy past
                # its timeout): nothing acknowledged is lost, unmarked rows are re-sent.
                if self.stats.published > published_before:  # it worked for a while
                    backoff, published_before = 0.0, self.stats.published
                backoff = min(self.max_backoff, max(0.5, backoff * 2))
                log.warning("relay: %s; retrying in %.1fs", exc, backoff)
                self.close()
                stop.wait(backoff)
        self.close()

    def _report(self, stop: threading.Event, every: float) -> None:
        while not stop.wait(every):
            try:
                status = outbox_status(self.engine, self.tables)
            except OperationalError as exc:
                log.warning("relay: no outbox status: %s", exc)
                continue
            log.info("relay: published=%d pending=%d oldest_pending_age=%s",
                     self.stats.published, status.pending, status.oldest_pending_age_seconds)
