"""The relay's work queue, ``outbox_pending``: a claimed batch, and what each database does.

The pipeline (:mod:`events.relay.pipeline`) is the same on both databases; how rows are
claimed, kept from other relays and marked published is not. PostgreSQL
(:mod:`events.relay.postgres`) locks the rows it claims until they are marked, so
several relays can run; SQLite (:mod:`events.relay.sqlite`) has one writer, reads the
rows and marks them later in a short transaction of its own.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Connection

from events.relay.wire import WireRow


@dataclass
class Batch:
    """Rows claimed together; on PostgreSQL ``conn`` is the transaction holding their locks.

    On SQLite the rows are every pending row after ``after_id`` up to the last of them
    (see ``SqliteQueue.claim``), which lets a fully acknowledged batch be marked as a range.
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


class WorkQueue(Protocol):
    """``outbox_pending`` as one database claims and marks it."""

    def claim(self, after: Batch | None, limit: int) -> Batch | None:
        """Claim up to ``limit`` rows to send next, continuing after ``after`` (in flight)."""

    def finish(self, batch: Batch, acked: list[WireRow]) -> None:
        """Move ``acked``, rows of ``batch``, from pending to the feed (positions in id
        order, as sent) and end the batch's transaction."""

    def give_back(self, batch: Batch) -> None:
        """Release a batch that is not to be marked: its rows stay pending."""

    def close(self) -> None:
        """Close the connections the queue keeps of its own, if any."""
