"""Tables of the event transport, attachable to any SQLAlchemy ``MetaData``.

The marketplace puts the outbox (and an inbox, for the acknowledgements it
consumes) in its own database; a trust adapter puts an inbox in its register.
Defining them here once keeps both sides on the same shape.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from events.sqltypes import UtcDateTime

_BigId = BigInteger().with_variant(Integer, "sqlite")


@dataclass(frozen=True)
class OutboxTables:
    """The tables an outbox is made of, for the code that appends to it and the relay."""

    outbox: Table
    pending: Table
    feed: Table
    feed_counter: Table
    sequences: Table


def outbox_table(metadata: MetaData) -> Table:
    """Events written in the same transaction as the change that caused them.

    Append-only: a row is never updated. ``aggregate_key`` (``<aggregate>/<id>``)
    names the stream ``sequence`` counts in; ``record_key`` (the aggregate id) is the
    Kafka record key. Whether a row is published lives in two narrow tables,
    :func:`outbox_pending_table` and :func:`event_feed_table`, so publishing never
    rewrites the wide row (nor its indexes), and the outbox never bloats.
    """
    return Table(
        "outbox",
        metadata,
        Column("id", _BigId, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("aggregate_key", String(100), nullable=False),
        Column("record_key", String(100), nullable=False),
        Column("sequence", BigInteger, nullable=False),
        Column("ce_type", String(200), nullable=False),
        Column("ce_source", String(200), nullable=False),
        Column("ce_subject", String(200)),
        Column("ce_time", UtcDateTime, nullable=False),
        Column("data", Text, nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        UniqueConstraint("aggregate_key", "sequence"),
    )


def outbox_pending_table(metadata: MetaData) -> Table:
    """The outbox rows not yet published: the relay's work queue.

    Written with the outbox row, deleted when the relay marks it published. Small
    (only the backlog), so claiming it and probing an aggregate's oldest pending
    sequence stay cheap however long the outbox grows.
    """
    return Table(
        "outbox_pending",
        metadata,
        Column("outbox_id", _BigId, ForeignKey("outbox.id"), primary_key=True,
               autoincrement=False),
        Column("aggregate_key", String(100), nullable=False),
        Column("sequence", BigInteger, nullable=False),
        UniqueConstraint("aggregate_key", "sequence"),
    )


def event_feed_table(metadata: MetaData) -> Table:
    """Published events in publish order: the ``/events`` feed and its cursor.

    ``position`` is handed out when the relay marks rows published, under the lock
    on ``event_feed_counter``, so positions become visible in order and a reader's
    cursor never skips a late-committing row. No foreign key to ``outbox``: the
    relay inserts only what it deletes from ``outbox_pending`` (which has one), and
    a key check on PostgreSQL would lock, and so write to, each outbox row again.
    """
    return Table(
        "event_feed",
        metadata,
        Column("position", BigInteger, primary_key=True, autoincrement=False),
        Column("outbox_id", _BigId, nullable=False, unique=True),
        Column("published_at", UtcDateTime, nullable=False),
    )


def event_sequence_table(metadata: MetaData) -> Table:
    """The last sequence number handed out per aggregate (an atomic upsert counter)."""
    return Table(
        "event_sequence",
        metadata,
        Column("aggregate_key", String(100), primary_key=True),
        Column("last_sequence", BigInteger, nullable=False),
    )


def feed_counter_table(metadata: MetaData) -> Table:
    """A single row whose lock serialises feed-position assignment."""
    return Table(
        "event_feed_counter",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("last_position", BigInteger, nullable=False),
    )


def inbox_table(metadata: MetaData) -> Table:
    """Events a consumer has applied, keyed by (consumer, ce_source, ce_id)."""
    return Table(
        "event_inbox",
        metadata,
        Column("consumer", String(100), nullable=False),
        Column("ce_source", String(200), nullable=False),
        Column("ce_id", String(100), nullable=False),
        Column("ce_type", String(200), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("partition", Integer, nullable=False),
        Column("offset", BigInteger, nullable=False),
        Column("processed_at", UtcDateTime, nullable=False),
        PrimaryKeyConstraint("consumer", "ce_source", "ce_id"),
    )


def consumer_sequence_table(metadata: MetaData) -> Table:
    """The last applied ``sequence`` per consumer and aggregate, for gap detection."""
    return Table(
        "consumer_sequence",
        metadata,
        Column("consumer", String(100), nullable=False),
        Column("aggregate_key", String(100), nullable=False),
        Column("last_sequence", BigInteger, nullable=False),
        PrimaryKeyConstraint("consumer", "aggregate_key"),
    )
