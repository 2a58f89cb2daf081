"""``route.applied``: what the adapter tells the marketplace after applying events.

The ack carries the trust, the route version, the last applied ``sequence`` of every
aggregate the trust has seen and the state hash of the shared route state, as a
binary-mode CloudEvent from ``/trusts/<ODS>`` keyed by the trust's ODS code.

Each ack is a full snapshot, so missing one loses nothing. Its ``ce_sequence`` is
a strictly increasing ack number (milliseconds since the epoch, or the previous
number plus one), not a dense counter: an adapter replayed into a fresh register
keeps acking *above* its earlier acks, and the marketplace treats gaps between acks
as expected (see ``marketplace.services.conformance``).
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime

from sqlalchemy import Connection, func, select

from adapters import register, route
from events.cloudevents import EventEnvelope
from schemas.events import registry

ROUTE_APPLIED = registry.by_name("route.applied")


def source_of(trust: str) -> str:
    return f"/trusts/{trust}"


def next_ack_sequence(previous: int, at: datetime) -> int:
    return max(previous + 1, int(at.timestamp() * 1000))


def build(conn: Connection, trust: str, consumer: str, at: datetime) -> EventEnvelope:
    """The next ack, from the register as committed; records its number."""
    state_hash, _ = register.hashes(conn)
    applied = conn.execute(select(func.count()).select_from(register.inbox)
                           .where(register.inbox.c.consumer == consumer)).scalar_one()
    data = registry.dump(ROUTE_APPLIED.ce_type, {
        "trust_ods": trust, "route_version": route.ROUTE_VERSION,
        "last_sequence": register.last_sequences(conn, consumer),
        "state_hash": state_hash, "applied_count": int(applied), "at": at.isoformat()})
    sequence = next_ack_sequence(int(register.get_meta(conn, "ack_sequence") or 0), at)
    register.set_meta(conn, "ack_sequence", str(sequence))
    return EventEnvelope(id=str(uuid.uuid4()), source=source_of(trust),
                         type=ROUTE_APPLIED.ce_type, time=at, subject=trust,
                         sequence=sequence, key=trust,
                         data=json.dumps(data, separators=(",", ":"), sort_keys=True).encode())
