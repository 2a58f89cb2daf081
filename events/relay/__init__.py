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

Its modules, one concept each:

* :mod:`events.relay.work_queue`: a claimed ``Batch``, and the ``WorkQueue`` steps
  each database implements: :mod:`events.relay.postgres` (its claim and marking
  statements, the relay's own sessions) and :mod:`events.relay.sqlite`.
* :mod:`events.relay.wire`: what is read of a row (``WireRow``) and how its time is
  rendered for the ``ce_time`` header.
* :mod:`events.relay.pipeline`: ``Relay``, the claim / send / mark overlap, its
  stats and backoff.
* :mod:`events.relay.status`: the backlog as ``/readyz`` reports it.
"""
from events.relay.pipeline import DEFAULT_BATCH_SIZE, Relay, RelayError, RelayStats
from events.relay.status import OutboxStatus, outbox_status
from events.relay.wire import WireRow, envelope, iso_utc, iso_utc_sql

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "OutboxStatus",
    "Relay",
    "RelayError",
    "RelayStats",
    "WireRow",
    "envelope",
    "iso_utc",
    "iso_utc_sql",
    "outbox_status",
]
