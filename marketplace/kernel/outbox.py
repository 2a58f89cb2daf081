"""The marketplace's event tables (outbox, feed, inbox), defined once in ``events``."""
from __future__ import annotations

from events.tables import (
    OutboxTables,
    consumer_sequence_table,
    event_feed_table,
    event_sequence_table,
    feed_counter_table,
    inbox_table,
    outbox_pending_table,
    outbox_table,
)
from marketplace.kernel.db import metadata

outbox = outbox_table(metadata)
outbox_pending = outbox_pending_table(metadata)
event_feed = event_feed_table(metadata)
event_sequence = event_sequence_table(metadata)
feed_counter = feed_counter_table(metadata)
inbox = inbox_table(metadata)
consumer_sequence = consumer_sequence_table(metadata)

#: What the unit of work appends to and the relay publishes from.
outbox_tables = OutboxTables(outbox=outbox, pending=outbox_pending, feed=event_feed,
                             feed_counter=feed_counter, sequences=event_sequence)
