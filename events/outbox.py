"""Appending to the transactional outbox, on the caller's connection and transaction.

Every service's state change goes through :func:`append_event`, so its statements are
built once per outbox and dialect, with bound parameters: building an ``insert().values()``
per call (and its cache key) cost more than the three statements' execution.
"""
from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Executable, bindparam, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from events.tables import OutboxTables


class _Statements(NamedTuple):
    next_sequence: Executable
    outbox: Executable
    pending: Executable


@functools.cache
def _statements(tables: OutboxTables, dialect: str) -> _Statements:
    outbox, sequences = tables.outbox, tables.sequences
    # The upsert takes a row lock on PostgreSQL (and SQLite has one writer), so two
    # transactions touching one aggregate get distinct, gap-free numbers in commit order.
    dialect_insert = pg_insert if dialect == "postgresql" else sqlite_insert
    next_sequence = dialect_insert(sequences).values(
        aggregate_key=bindparam("aggregate_key"), last_sequence=1)
    columns = ("event_id", "topic", "aggregate_key", "record_key", "sequence", "ce_type",
               "ce_source", "ce_subject", "ce_time", "data", "created_at")
    return _Statements(
        next_sequence=next_sequence.on_conflict_do_update(
            index_elements=[sequences.c.aggregate_key],
            set_={"last_sequence": sequences.c.last_sequence + 1},
        ).returning(sequences.c.last_sequence),
        outbox=insert(outbox).values({name: bindparam(name, type_=outbox.c[name].type)
                                      for name in columns}).returning(outbox.c.id),
        pending=insert(tables.pending).values(outbox_id=bindparam("outbox_id"),
                                              aggregate_key=bindparam("aggregate_key"),
                                              sequence=bindparam("sequence")),
    )


def append_event(
    conn: Connection,
    tables: OutboxTables,
    *,
    event_id: str,
    topic: str,
    aggregate_key: str,
    record_key: str,
    ce_type: str,
    ce_source: str,
    ce_subject: str | None,
    ce_time: datetime,
    data: dict[str, Any],
) -> int:
    """Insert one outbox row, and its pending entry, in the current transaction;
    returns its sequence."""
    stmts = _statements(tables, conn.dialect.name)
    sequence = int(conn.execute(stmts.next_sequence, {"aggregate_key": aggregate_key}
                                ).scalar_one())
    outbox_id = conn.execute(stmts.outbox, {
        "event_id": event_id, "topic": topic, "aggregate_key": aggregate_key,
        "record_key": record_key, "sequence": sequence, "ce_type": ce_type,
        "ce_source": ce_source, "ce_subject": ce_subject, "ce_time": ce_time,
        "data": json.dumps(data, separators=(",", ":"), sort_keys=True),
        "created_at": datetime.now(UTC),
    }).scalar_one()
    conn.execute(stmts.pending, {"outbox_id": outbox_id, "aggregate_key": aggregate_key,
                                 "sequence": sequence})
    return sequence
