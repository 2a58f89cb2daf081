"""Tables of the event transport, attachable to any SQLAlchemy ``MetaData``.

The marketplace puts the outbox (and an inbox, for the acknowledgements it
consumes) in its own database; a trust adapter puts an inbox in its register.
Defining them here once keeps both sides on the same shape.
"""
from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from events.sqltypes import UtcDateTime

_BigId = BigInteger().with_variant(Integer, "sqlite")


def outbox_table(metadata: MetaData) -> Table:
    """Events written in the same transaction as the change that caused them.

    ``aggregate_key`` (``<aggregate>/<id>``) names the stream ``sequence`` counts
    in; ``record_key`` (the aggregate id) is the Kafka record key.
    ``feed_position`` is assigned when the relay marks a row published, under a
    lock on ``event_feed_counter``, so positions become visible in order and the
    ``/events`` feed cursor never skips a late-committing row.
    """
    table = Table(
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
        Column("published_at", UtcDateTime),
        Column("feed_position", BigInteger, unique=True),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("last_error", Text),
        UniqueConstraint("aggregate_key", "sequence"),
    )
    Index(
        "ix_outbox_unpublished",
        table.c.id,
        postgresql_where=table.c.published_at.is_(None),
        sqlite_where=table.c.published_at.is_(None),
    )
    Index(
        "ix_outbox_pending_by_aggregate",
        table.c.aggregate_key,
        table.c.sequence,
        postgresql_where=table.c.published_at.is_(None),
        sqlite_where=table.c.published_at.is_(None),
    )
    return table


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
