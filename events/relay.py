"""The relay: publishes outbox rows to Kafka, then marks them, in per-aggregate order.

The work queue is ``outbox_pending``; marking a row published deletes it there and
appends it to ``event_feed``. A row is marked only after the broker acknowledged
it, so a crash between the two re-sends it (consumers drop the duplicate by
``ce_id``), and nothing is ever lost. Order per aggregate holds with several
relays at once:

* PostgreSQL: pending rows are claimed with ``FOR UPDATE SKIP LOCKED`` and stay
  locked while they are sent; a relay publishes an aggregate's rows only from that
  aggregate's oldest pending sequence, as an unbroken run, so it can never
  overtake rows another relay holds.
* SQLite: one writer. Rows are read, sent, then marked in a second short
  transaction, so web requests are never blocked behind a broker round trip.

Marking assigns feed positions under the feed-counter row lock: positions become
visible in order, which is what keeps the ``/events`` cursor exact.

Throughput: building Kafka records is CPU work in Python, and so is reading and
marking rows; the records are built and sent in a process of their own
(:mod:`events.relay_sender`) while this one marks the batch before and claims the
batch after (see ``BENCHMARKS.md``).
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from operator import itemgetter
from typing import Any, NamedTuple

from kafka.errors import KafkaError
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Delete,
    Engine,
    Insert,
    Integer,
    Row,
    Select,
    Table,
    Text,
    and_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from events.cloudevents import EventEnvelope
from events.database import READ_ONLY
from events.prepared import Prepared
from events.relay_sender import FIELDS as SENT_FIELDS
from events.relay_sender import Outcome, ProducerFactory, SenderProcess
from events.tables import OutboxTables

log = logging.getLogger(__name__)

#: Events claimed, sent and marked together. Larger batches spread each batch's round
#: trips and acknowledgement wait over more events (``bench.relay`` measures this size).
DEFAULT_BATCH_SIZE = 2000


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


def outbox_status(engine: Engine, tables: OutboxTables,
                  now: datetime | None = None) -> OutboxStatus:
    """Pending and published counts and the age of the oldest pending row.

    Cheap at any outbox size: the pending table holds only the backlog, and the
    feed counter is the number of published events (positions have no holes).
    """
    now = now or datetime.now(UTC)
    o, p, counter = tables.outbox, tables.pending, tables.feed_counter
    with engine.connect() as conn, conn.execution_options(**READ_ONLY).begin():
        pending, oldest = conn.execute(
            select(func.count(), func.min(o.c.created_at))
            .select_from(p.join(o, o.c.id == p.c.outbox_id))).one()
        published = conn.execute(select(func.coalesce(func.max(counter.c.last_position), 0))
                                 ).scalar_one()
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    age = (now - oldest).total_seconds() if oldest is not None else None
    return OutboxStatus(int(pending), int(published), age)


def envelope(row: Row[Any]) -> EventEnvelope:
    """An outbox row (as the ``outbox`` table reads it) as the event it carries."""
    return EventEnvelope(id=row.event_id, source=row.ce_source, type=row.ce_type,
                         time=row.ce_time, subject=row.ce_subject, sequence=row.sequence,
                         key=row.record_key, data=row.data.encode())


class WireRow(NamedTuple):
    """What the relay reads of an outbox row: only what goes on the wire.

    Claimed rows are read as the DBAPI returns them and made into these directly:
    SQLAlchemy's result rows and its SQLite timestamp parsing were a measurable share of
    the relay's time, and the timestamp is only ever written out again as text.
    """

    id: int
    event_id: str
    topic: str
    aggregate_key: str
    record_key: str
    sequence: int
    ce_type: str
    ce_source: str
    ce_subject: str | None
    data: str
    ce_time: str  # ISO 8601, UTC, as the ``ce_time`` header carries it (read last: converted)


def _wire_columns(outbox: Table, postgres: bool) -> list[ColumnElement[Any]]:
    """The claim's columns; PostgreSQL renders ``ce_time`` as the header carries it."""
    columns: list[ColumnElement[Any]] = [outbox.c[name] for name in WireRow._fields]
    if postgres:
        columns[-1] = iso_utc_sql(outbox.c.ce_time).label("ce_time")
    return columns


def iso_utc_sql(moment: ColumnElement[Any]) -> ColumnElement[str]:
    """A PostgreSQL ``timestamptz`` as ISO 8601 UTC text, exactly as ``isoformat`` gives it.

    Whole seconds have no fraction, as in ``isoformat``. Reading the value as a datetime
    and formatting it in Python cost 3 µs an event.
    """
    text = func.to_char(func.timezone("UTC", moment), 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')
    return func.replace(text, ".000000+", "+", type_=Text)


def iso_utc(value: datetime | str) -> str:
    """A stored ``UtcDateTime`` as ISO 8601 text, exactly as ``datetime.isoformat`` gives it.

    SQLite holds naive UTC text in SQLAlchemy's fixed ``YYYY-MM-DD HH:MM:SS.ffffff``
    form; that is rewritten here as text (a fifth of the cost of parsing it). Anything
    else (a driver's datetime, other text) is read as the column type would read it.
    (The PostgreSQL claim needs none of this: the server renders it, ``iso_utc_sql``.)
    """
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " ":
            seconds = value[11:19] if value.endswith(".000000") else value[11:]
            return f"{value[:10]}T{seconds}+00:00"
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC).isoformat()
    return value.astimezone(UTC).isoformat()


_make_wire_row = WireRow._make
_sent_fields = itemgetter(*(WireRow._fields.index(name) for name in SENT_FIELDS))


def _wire_rows(fetched: list[tuple[Any, ...]]) -> list[WireRow]:
    """SQLite's claimed rows, their stored time rewritten as the header carries it."""
    return [_make_wire_row((*row[:-1], iso_utc(row[-1]))) for row in fetched]


@dataclass
class _Batch:
    """Rows claimed together; on PostgreSQL ``conn`` is the transaction holding their locks.

    On SQLite the rows are every pending row after ``after_id`` up to the last of them
    (see ``Relay._claim``), which lets a fully acknowledged batch be marked as a range.
    """

    rows: list[WireRow]
    conn: Connection | None = None
    after_id: int = 0

    @property
    def last_id(self) -> int:
        return int(self.rows[-1].id)

    def next_sequences(self) -> dict[str, int]:
        """Per aggregate, the sequence that follows this batch."""
        return {row.aggregate_key: row.sequence + 1 for row in self.rows}


@dataclass
class Relay:
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

    @property
    def _postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def connect(self) -> SenderProcess:
        """The sending process, started (its producer connected) on first use."""
        if self._sender is None:
            self._sender = SenderProcess(self.producer_factory)
        return self._sender

    def close(self) -> None:
        """Stop the sending process and close the relay's own database connections."""
        self._close_sender()
        self._sessions.close()

    def _close_sender(self) -> None:
        if self._sender is not None:
            self._sender.close()
            self._sender = None

    @cached_property
    def _sessions(self) -> _Sessions:
        return _Sessions(self.engine)

    # -- the steps of a batch -------------------------------------------------------

    def _claim(self, after: _Batch | None = None) -> _Batch | None:
        """Claim the next rows to send, continuing after ``after`` (still in flight)."""
        if not self._postgres:
            # One writer (SQLite): ids become visible in order, so the first unpublished
            # rows past those in flight hold every aggregate's next row: unbroken runs.
            # A read: no write lock, so the claim never waits behind a writer.
            after_id = after.last_id if after else 0
            with self.engine.connect() as conn, conn.execution_options(**READ_ONLY).begin():
                rows = self._sqlite_claim.tuples(conn, {"after_id": after_id,
                                                        "limit": self.batch_size})
            return _Batch(_wire_rows(rows), after_id=after_id) if rows else None
        inflight = after.next_sequences() if after is not None else {}
        conn = self._sessions.take()
        try:
            rows = self._postgres_claim.tuples(conn, {
                "inflight_keys": list(inflight), "inflight_next": list(inflight.values()),
                "limit": self.batch_size})
        except BaseException:
            self._sessions.release(conn, commit=False)
            raise
        if not rows:
            self._sessions.release(conn, commit=False)
            return None
        return _Batch(list(map(_make_wire_row, rows)), conn)  # ready to send as read

    @cached_property
    def _sqlite_claim(self) -> Prepared:
        o, p = self.tables.outbox, self.tables.pending
        return Prepared.of(select(*_wire_columns(o, postgres=False))
                           .select_from(p.join(o, o.c.id == p.c.outbox_id))
                           .where(p.c.outbox_id > bindparam("after_id"))
                           .order_by(p.c.outbox_id).limit(bindparam("limit", type_=Integer)))

    @cached_property
    def _postgres_claim(self) -> Prepared:
        """Lock the first pending rows, keeping per aggregate only an unbroken run.

        Rows in flight are locked by their own transaction and other relays' rows by
        theirs, so ``SKIP LOCKED`` passes both. A claimed row is kept only if its
        aggregate's rows before it are all accounted for: its sequence is the one
        expected next (after this relay's batch in flight, or else the aggregate's
        oldest pending row, one index probe) plus its rank among the aggregate's
        claimed rows. So a relay never overtakes a row another relay holds, and after
        a hole it takes nothing more of that aggregate.
        """
        o, p = self.tables.outbox, self.tables.pending
        claimed = (select(p).order_by(p.c.outbox_id).limit(bindparam("limit", type_=Integer))
                   .with_for_update(skip_locked=True).cte("claimed"))
        inflight = func.unnest(
            bindparam("inflight_keys", type_=ARRAY(p.c.aggregate_key.type)),
            bindparam("inflight_next", type_=ARRAY(BigInteger)),
        ).table_valued("key", "next").render_derived("inflight")
        keys = select(claimed.c.aggregate_key).distinct().subquery("keys")
        older = p.alias("older")
        oldest = (select(older.c.sequence).where(older.c.aggregate_key == keys.c.aggregate_key)
                  .order_by(older.c.sequence).limit(1).scalar_subquery())
        expected = (select(keys.c.aggregate_key,
                           func.coalesce(inflight.c.next, oldest).label("next"))
                    .select_from(keys.outerjoin(inflight,
                                                inflight.c.key == keys.c.aggregate_key))
                    .cte("expected").prefix_with("MATERIALIZED"))  # one probe per aggregate
        ranked = select(claimed, func.row_number().over(
            partition_by=claimed.c.aggregate_key, order_by=claimed.c.outbox_id).label("run")
        ).subquery("ranked")
        return Prepared.of(
            select(*_wire_columns(o, postgres=True))
            .select_from(ranked.join(expected, expected.c.aggregate_key == ranked.c.aggregate_key)
                         .join(o, o.c.id == ranked.c.outbox_id))
            .where(ranked.c.sequence == expected.c.next + ranked.c.run - 1)
            .order_by(ranked.c.outbox_id))

    def _submit(self, batch: _Batch) -> None:
        """Hand the batch to the sending process: of each row what it sends, as a plain
        tuple (they unpickle fastest)."""
        self.connect().submit(list(map(_sent_fields, batch.rows)))

    def _acked(self, batch: _Batch, outcome: Outcome) -> list[WireRow]:
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

    def _mark(self, conn: Connection, batch: _Batch, rows: list[WireRow]) -> None:
        """Move ``rows`` of ``batch`` from pending to the feed, positions in id order (as sent)."""
        if not rows:
            return
        if self._postgres:
            # The ids as one array literal: psycopg would build a list parameter element
            # by element in Python.
            ids = ",".join(map(str, sorted(row.id for row in rows)))
            conn.execute(self._postgres_publish, {"ids": f"{{{ids}}}", "now": datetime.now(UTC)})
            return
        counter = self.tables.feed_counter
        last = int(conn.execute(select(counter.c.last_position).where(counter.c.id == 1))
                   .scalar_one())
        params: dict[str, Any] = {"last": last, "now": datetime.now(UTC)}
        # Two single statements (SQLite is one writer; the lock is held since BEGIN); only
        # what is still pending moves to the feed. A whole batch is every pending row of
        # its id range, so it is named by the range, not by 2,000 ids.
        whole = len(rows) == len(batch.rows)
        if whole:
            params.update(low=batch.after_id, high=batch.last_id)
        else:
            params["ids"] = sorted(row.id for row in rows)
        publish, unpend = self._sqlite_marking[whole]
        fed = conn.execute(publish, params).rowcount
        conn.execute(unpend, params)
        conn.execute(update(counter).where(counter.c.id == 1).values(last_position=last + fed))

    @cached_property
    def _sqlite_marking(self) -> dict[bool, tuple[Insert, Delete]]:
        """Per ``whole`` batch or not: the feed insert and the pending delete (SQLite)."""
        p, feed = self.tables.pending, self.tables.feed

        def marking(which: ColumnElement[bool]) -> tuple[Insert, Delete]:
            publish = insert(feed).from_select(
                ["position", "outbox_id", "published_at"],
                select(bindparam("last", type_=BigInteger)
                       + func.row_number().over(order_by=p.c.outbox_id),
                       p.c.outbox_id, bindparam("now", type_=feed.c.published_at.type))
                .where(which))
            return publish, delete(p).where(which)

        return {True: marking(and_(p.c.outbox_id > bindparam("low", type_=BigInteger),
                                   p.c.outbox_id <= bindparam("high", type_=BigInteger))),
                False: marking(p.c.outbox_id.in_(bindparam("ids", expanding=True)))}

    @cached_property
    def _postgres_publish(self) -> Select[Any]:
        """Delete the rows from pending, take their positions and append them to the feed.

        One statement, one round trip: the feed counter's ``UPDATE ... RETURNING`` locks
        its row (held until commit, so positions become visible in order) and reads the
        latest committed value; the rows get the positions below the new value, in id
        order. The ids are one array literal (a plan of primary-key probes whatever the
        statistics, and no 2,000-parameter statement to build).
        """
        p, feed, counter = self.tables.pending, self.tables.feed, self.tables.feed_counter
        batch = (func.unnest(cast(bindparam("ids", type_=Text), ARRAY(BigInteger)))
                 .table_valued("id", with_ordinality="n").render_derived("batch"))
        gone = (delete(p).where(p.c.outbox_id == batch.c.id)
                .returning(p.c.outbox_id, batch.c.n).cte("gone"))
        moved = select(func.count()).select_from(gone).scalar_subquery()
        bumped = (update(counter).where(counter.c.id == 1)
                  .values(last_position=counter.c.last_position + moved)
                  .returning(counter.c.last_position).cte("bumped"))
        fed = (insert(feed).from_select(
            ["position", "outbox_id", "published_at"],
            select(bumped.c.last_position - moved
                   + func.row_number().over(order_by=gone.c.n),
                   gone.c.outbox_id, bindparam("now", type_=feed.c.published_at.type))
            .select_from(gone.join(bumped, true())))
               .returning(feed.c.position).cte("fed"))
        return select(func.count()).select_from(fed)

    def _finish(self, batch: _Batch, acked: list[WireRow]) -> None:
        """Mark the acknowledged rows and end the batch's transaction."""
        if batch.conn is None:
            with self.engine.begin() as conn:
                self._mark(conn, batch, acked)
        else:
            try:
                self._mark(batch.conn, batch, acked)
            except BaseException:
                self._sessions.release(batch.conn, commit=False)
                raise
            self._sessions.release(batch.conn, commit=True)
        if acked:
            self.stats.published += len(acked)
            self.stats.last_published_at = datetime.now(UTC)
        if len(acked) < len(batch.rows):
            self.stats.failed_batches += 1
            self._close_sender()  # a fresh producer after errors: no stale idempotence state
            raise RelayError(self.stats.last_error or "some events were not acknowledged")

    def _abandon(self, batch: _Batch | None) -> None:
        if batch is not None and batch.conn is not None:
            self._sessions.release(batch.conn, commit=False)

    # -- one batch, and the pipelined loop ------------------------------------------

    def publish_batch(self) -> int:
        """Claim, send, await and mark one batch; returns how many were published."""
        batch = self._claim()
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
        inflight: _Batch | None = None  # with the sending process
        upcoming: _Batch | None = None  # claimed, to be sent next
        answered: tuple[_Batch, list[WireRow]] | None = None  # acknowledged, to be marked
        try:
            upcoming = self._claim()
            while True:
                if upcoming is not None and not stop.is_set():
                    self._submit(upcoming)
                    inflight, upcoming = upcoming, None
                if answered is not None:
                    done, answered = answered, None
                    self._finish(*done)
                if inflight is not None:
                    upcoming = None if stop.is_set() else self._claim(inflight)
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
                upcoming = self._claim()
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


# A relay session's setup: walk the pending index in id order whatever the statistics
# say. Planned as a bitmap scan (a fresh or stale table looks nearly empty) the claim
# sorts the whole backlog, every batch, just when a backlog needs draining.
_SESSION_SETUP = "SELECT set_config('enable_bitmapscan', 'off', false)"


class _Sessions:
    """The relay's own PostgreSQL connections, each kept open from batch to batch.

    A batch's transaction holds its claimed rows' locks while they are sent, so there
    is a connection per batch in flight. Checking one out of the engine's pool for every
    batch cost a liveness ping, and the planner setting a ``SET LOCAL`` in each
    transaction: round trips on every batch. A new session is set up once
    (``_SESSION_SETUP``).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._idle: deque[Connection] = deque()

    def take(self) -> Connection:
        """A connection with a transaction begun."""
        try:
            conn = self._idle.pop()
        except IndexError:
            conn = self.engine.connect()
            try:
                conn.exec_driver_sql(_SESSION_SETUP).all()
                conn.commit()
            except BaseException:
                conn.close()
                raise
        conn.begin()
        return conn

    def release(self, conn: Connection, commit: bool) -> None:
        """End the transaction; the connection is kept for the next batch if that worked.

        A failed commit is raised (the batch is not marked). A failed rollback is not:
        the connection is dropped either way, and the error that led to the rollback
        (a claim on a lost connection, say) is the one worth raising.
        """
        try:
            if commit:
                conn.commit()
            else:
                conn.rollback()
        except Exception as exc:
            conn.invalidate()
            conn.close()
            if commit:
                raise
            log.warning("relay: session dropped after a failed rollback: %s", exc)
            return
        if conn.invalidated:  # SQLAlchemy saw it disconnect: a reconnect would skip the setup
            conn.close()
            return
        self._idle.append(conn)

    def close(self) -> None:
        """Give the idle connections back to the pool, as they were taken."""
        while self._idle:
            conn = self._idle.pop()
            try:
                conn.exec_driver_sql("RESET enable_bitmapscan")
                conn.commit()
            except SQLAlchemyError:
                conn.invalidate()
            finally:
                conn.close()


class RelayError(RuntimeError):
    """The broker did not acknowledge every event of a batch."""
