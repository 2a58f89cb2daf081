"""The SQLite claim: rows are read, sent, then marked in a second, short transaction.

SQLite has one writer, so one relay runs and nothing needs locking while rows are sent;
the claim is a read and the marking a transaction of its own, so web requests are never
blocked behind a broker round trip.
"""
from __future__ import annotations

from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Delete,
    Engine,
    Insert,
    Integer,
    and_,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)

from events.database import READ_ONLY
from events.prepared import Prepared
from events.relay.wire import WireRow, iso_utc, make_wire_row, wire_columns
from events.relay.work_queue import Batch
from events.tables import OutboxTables


def _wire_rows(fetched: list[tuple[Any, ...]]) -> list[WireRow]:
    """SQLite's claimed rows, their stored time rewritten as the header carries it."""
    return [make_wire_row((*row[:-1], iso_utc(row[-1]))) for row in fetched]


class SqliteQueue:
    """``outbox_pending`` on SQLite: a batch is every pending row of an id range."""

    def __init__(self, engine: Engine, tables: OutboxTables) -> None:
        self.engine = engine
        self.tables = tables

    def claim(self, after: Batch | None, limit: int) -> Batch | None:
        """Read the first pending rows past ``after``'s (in flight, still pending)."""
        # One writer (SQLite): ids become visible in order, so the first unpublished
        # rows past those in flight hold every aggregate's next row: unbroken runs.
        # A read: no write lock, so the claim never waits behind a writer.
        after_id = after.last_id if after else 0
        with self.engine.connect() as conn, conn.execution_options(**READ_ONLY).begin():
            rows = self._claim.tuples(conn, {"after_id": after_id, "limit": limit})
        return Batch(_wire_rows(rows), after_id=after_id) if rows else None

    def finish(self, batch: Batch, acked: list[WireRow]) -> None:
        """Mark ``acked`` in a write transaction of its own (the claim held none)."""
        with self.engine.begin() as conn:
            if not acked:
                return
            counter = self.tables.feed_counter
            last = int(conn.execute(select(counter.c.last_position).where(counter.c.id == 1))
                       .scalar_one())
            params: dict[str, Any] = {"last": last, "now": datetime.now(UTC)}
            # Two single statements (SQLite is one writer; the lock is held since BEGIN);
            # only what is still pending moves to the feed. A whole batch is every pending
            # row of its id range, so it is named by the range, not by 2,000 ids.
            whole = len(acked) == len(batch.rows)
            if whole:
                params.update(low=batch.after_id, high=batch.last_id)
            else:
                params["ids"] = sorted(row.id for row in acked)
            publish, unpend = self._marking[whole]
            fed = conn.execute(publish, params).rowcount
            conn.execute(unpend, params)
            conn.execute(update(counter).where(counter.c.id == 1)
                         .values(last_position=last + fed))

    def give_back(self, batch: Batch) -> None:
        """Nothing to release: the claim was a read, and its rows are still pending."""

    def close(self) -> None:
        """Nothing to close: each claim and marking takes a connection of the engine's."""

    @cached_property
    def _claim(self) -> Prepared:
        o, p = self.tables.outbox, self.tables.pending
        return Prepared.of(select(*wire_columns(o, postgres=False))
                           .select_from(p.join(o, o.c.id == p.c.outbox_id))
                           .where(p.c.outbox_id > bindparam("after_id"))
                           .order_by(p.c.outbox_id).limit(bindparam("limit", type_=Integer)))

    @cached_property
    def _marking(self) -> dict[bool, tuple[Insert, Delete]]:
        """Per ``whole`` batch or not: the feed insert and the pending delete."""
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
