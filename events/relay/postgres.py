"""The PostgreSQL claim: rows locked while they are sent, so several relays can run.

Pending rows are claimed with ``FOR UPDATE SKIP LOCKED`` and stay locked, in the
batch's own transaction, until they are marked; a relay publishes an aggregate's rows
only from that aggregate's oldest pending sequence, as an unbroken run, so it can never
overtake rows another relay holds. The transactions run on the relay's own sessions
(:class:`Sessions`), one per batch in flight, kept from batch to batch.
"""
from __future__ import annotations

import logging
from collections import deque
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Integer,
    Select,
    Text,
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
from sqlalchemy.exc import SQLAlchemyError

from events.prepared import Prepared
from events.relay.wire import WireRow, make_wire_row, wire_columns
from events.relay.work_queue import Batch
from events.tables import OutboxTables

log = logging.getLogger("events.relay")  # the relay's one logger, whichever module logs

# A relay session's setup: walk the pending index in id order whatever the statistics
# say. Planned as a bitmap scan (a fresh or stale table looks nearly empty) the claim
# sorts the whole backlog, every batch, just when a backlog needs draining.
SESSION_SETUP = "SELECT set_config('enable_bitmapscan', 'off', false)"


class PostgresQueue:
    """``outbox_pending`` on PostgreSQL: each batch a transaction holding its rows' locks."""

    def __init__(self, engine: Engine, tables: OutboxTables) -> None:
        self.tables = tables
        self.sessions = Sessions(engine)

    def claim(self, after: Batch | None, limit: int) -> Batch | None:
        """Lock the next rows to send, after those of ``after`` (still locked, in flight)."""
        inflight = after.next_sequences() if after is not None else {}
        conn = self.sessions.take()
        try:
            rows = self._claim.tuples(conn, {
                "inflight_keys": list(inflight), "inflight_next": list(inflight.values()),
                "limit": limit})
        except BaseException:
            self.sessions.release(conn, commit=False)
            raise
        if not rows:
            self.sessions.release(conn, commit=False)
            return None
        return Batch(list(map(make_wire_row, rows)), conn)  # ready to send as read

    def finish(self, batch: Batch, acked: list[WireRow]) -> None:
        """Mark ``acked`` in the batch's transaction, then commit it (its locks go)."""
        conn = batch.conn
        assert conn is not None  # claimed here: the transaction holding the rows' locks
        try:
            if acked:
                # The ids as one array literal: psycopg would build a list parameter
                # element by element in Python.
                ids = ",".join(map(str, sorted(row.id for row in acked)))
                conn.execute(self._publish, {"ids": f"{{{ids}}}", "now": datetime.now(UTC)})
        except BaseException:
            self.sessions.release(conn, commit=False)
            raise
        self.sessions.release(conn, commit=True)

    def give_back(self, batch: Batch) -> None:
        """Roll the batch's transaction back: its rows are unlocked, still pending."""
        if batch.conn is not None:
            self.sessions.release(batch.conn, commit=False)

    def close(self) -> None:
        self.sessions.close()

    @cached_property
    def _claim(self) -> Prepared:
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
            select(*wire_columns(o, postgres=True))
            .select_from(ranked.join(expected, expected.c.aggregate_key == ranked.c.aggregate_key)
                         .join(o, o.c.id == ranked.c.outbox_id))
            .where(ranked.c.sequence == expected.c.next + ranked.c.run - 1)
            .order_by(ranked.c.outbox_id))

    @cached_property
    def _publish(self) -> Select[Any]:
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


class Sessions:
    """The relay's own PostgreSQL connections, each kept open from batch to batch.

    A batch's transaction holds its claimed rows' locks while they are sent, so there
    is a connection per batch in flight. Checking one out of the engine's pool for every
    batch cost a liveness ping, and the planner setting a ``SET LOCAL`` in each
    transaction: round trips on every batch. A new session is set up once
    (``SESSION_SETUP``).
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
                conn.exec_driver_sql(SESSION_SETUP).all()
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
