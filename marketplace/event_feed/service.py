"""The published events as a feed, for consumers without Kafka.

The cursor is the ``event_feed`` position, handed out by the relay under a row
lock at the moment it marks events published, so positions become visible
strictly in order: reading ``after=N`` can never miss an event that committed late.
"""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from marketplace.kernel.outbox import event_feed, outbox
from marketplace.kernel.unit_of_work import UnitOfWork


def page(uow: UnitOfWork, after: int, limit: int, topic: str | None = None) -> dict[str, Any]:
    stmt = (select(outbox, event_feed.c.position.label("feed_position"))
            .join(event_feed, event_feed.c.outbox_id == outbox.c.id)
            .where(event_feed.c.position > after)
            .order_by(event_feed.c.position).limit(limit))
    if topic:
        stmt = stmt.where(outbox.c.topic == topic)
    rows = uow.session.execute(stmt).all()
    items = [{**row._mapping, "data": json.loads(row.data)} for row in rows]
    return {"items": items, "next_cursor": rows[-1].feed_position if rows else after}
