"""Appending to the transactional outbox, on the caller's connection and transaction."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from events.tables import OutboxTables


def next_sequence(conn: Connection, sequences: Table, aggregate_key: str) -> int:
    """Hand out the aggregate's next sequence number atomically.

    The upsert takes a row lock on PostgreSQL (and SQLite has one writer), so two
    transactions touching one aggregate get distinct, gap-free numbers in commit order.
    """
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = dialect_insert(sequences).values(aggregate_key=aggregate_key, last_sequence=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[sequences.c.aggregate_key],
        set_={"last_sequence": sequences.c.last_sequence + 1},
    ).returning(sequences.c.last_sequence)
    return int(conn.execute(stmt).scalar_one())


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
    sequence = next_sequence(conn, tables.sequences, aggregate_key)
    outbox_id = conn.execute(
        insert(tables.outbox).values(
            event_id=event_id,
            topic=topic,
            aggregate_key=aggregate_key,
            record_key=record_key,
            sequence=sequence,
            ce_type=ce_type,
            ce_source=ce_source,
            ce_subject=ce_subject,
            ce_time=ce_time,
            data=json.dumps(data, separators=(",", ":"), sort_keys=True),
            created_at=datetime.now(UTC),
        ).returning(tables.outbox.c.id)
    ).scalar_one()
    conn.execute(insert(tables.pending).values(outbox_id=outbox_id, aggregate_key=aggregate_key,
                                               sequence=sequence))
    return sequence
