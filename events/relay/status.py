"""The outbox backlog (pending, published, oldest pending age), as ``/readyz`` shows it.

Not a step of publishing: the health check and the relay's periodic report read it,
in a read-only transaction of its own (on SQLite no write lock, so it never waits for
a writer), whatever the relay is doing.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select

from events.database import READ_ONLY
from events.tables import OutboxTables


@dataclass
class OutboxStatus:
    pending: int
    published: int
    oldest_pending_age_seconds: float | None

    def as_dict(self) -> dict[str, Any]:
        return {"pending": self.pending, "published": self.published,
                "oldest_pending_age_seconds": self.oldest_pending_age_seconds}


def outbox_status(engine: Engine, tables: OutboxTables,
                  now: datetime | None = None) -> OutboxStatus:
    """Pending and published counts and the age of the oldest pending row.

    Cheap at any outbox size: the pending table holds only the backlog, and the
    feed counter is the number of published events (positions have no holes).
    """
    now = now or datetime.now(UTC)
    o, p, counter = tables.outbox, tables.pending, tables.feed_counter
    with engine.connect() as conn, conn.execution_options(**READ_ONLY).begin():
        pending, oldest = conn.execute(
            select(func.count(), func.min(o.c.created_at))
            .select_from(p.join(o, o.c.id == p.c.outbox_id))).one()
        published = conn.execute(select(func.coalesce(func.max(counter.c.last_position), 0))
                                 ).scalar_one()
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    age = (now - oldest).total_seconds() if oldest is not None else None
    return OutboxStatus(int(pending), int(published), age)
