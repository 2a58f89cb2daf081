"""The conformance report's head: published sequences only, acknowledgements aside."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select

from marketplace.conformance.service import report
from marketplace.kernel.db import make_engine
from marketplace.kernel.outbox import event_feed, outbox, outbox_pending
from marketplace.kernel.unit_of_work import UnitOfWork
from schemas.events import registry
from tests.event_helpers import emit_approvals

ACK = registry.by_name("route.applied")


def _publish(database_url: str, *conditions: object) -> None:
    """Do what the relay's mark does to the matching rows: out of pending, into the feed."""
    engine = make_engine(database_url)
    with engine.begin() as conn:
        ids = conn.execute(select(outbox.c.id).where(*conditions).order_by(outbox.c.id)
                           ).scalars().all()
        last = conn.execute(select(event_feed.c.position).order_by(event_feed.c.position.desc())
                            ).scalar() or 0
        conn.execute(delete(outbox_pending).where(outbox_pending.c.outbox_id.in_(ids)))
        conn.execute(insert(event_feed), [
            {"position": last + n, "outbox_id": outbox_id, "published_at": datetime.now(UTC)}
            for n, outbox_id in enumerate(ids, start=1)])
    engine.dispose()


def test_head_counts_published_events_only(database_url: str,
                                           uow_factory: Callable[..., UnitOfWork]) -> None:
    first, _ = emit_approvals(uow_factory, count=3)
    emit_approvals(uow_factory, count=1)  # never published: no head
    with uow_factory() as uow:
        uow.emit(ACK.ce_type, ACK.example)
        uow.commit()
    _publish(database_url, outbox.c.record_key == first, outbox.c.sequence <= 2)
    _publish(database_url, outbox.c.topic == ACK.topic)
    engine = make_engine(database_url)
    with engine.connect() as conn:
        head = report(conn)["head"]
    engine.dispose()
    assert head == {"aggregates": 1, "events": 2}
