"""The marketplace's event tables (outbox, feed, inbox), defined once in ``events``."""
from __future__ import annotations

from events.tables import (
    consumer_sequence_table,
    event_sequence_table,
    feed_counter_table,
    inbox_table,
    outbox_table,
)
from marketplace.db import metadata

outbox = outbox_table(metadata)
event_sequence = event_sequence_table(metadata)
feed_counter = feed_counter_table(metadata)
inbox = inbox_table(metadata)
consumer_sequence = consumer_sequence_table(metadata)
