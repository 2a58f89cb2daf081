"""Trust conformance: which trust adapters are current, lagging or diverged, and since when.

Adapters acknowledge with ``route.applied`` (last applied sequence per aggregate and
the hash of their shared route state). ``marketplace acks`` consumes those into
``trust_conformance`` (:func:`record_ack`); :func:`report` judges each trust:

* **lagging**: behind the outbox's latest *published* sequence of some aggregate;
  since the earliest publication it has not applied.
* **diverged**: another trust at exactly the same position (the same last sequences,
  under the same route version) reports a different state hash and this trust is not
  in the strict majority; since it reached that position. Same events, same rules,
  different state: the route was not applied identically.
* **current**: at the head and agreeing; since it reached that position.

The marketplace never runs the route itself (it does not import ``adapters``):
agreement among trusts at the same position is the central check.
"""
from __future__ import annotations

import logging
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, func, or_, select

from events.consumer import ConsumedEvent, EventConsumer, Gap
from marketplace.conformance.models import TrustConformance
from marketplace.kernel.clock import utcnow
from marketplace.kernel.outbox import (
    consumer_sequence,
    event_feed,
    event_sequence,
    inbox,
    outbox,
    outbox_pending,
)
from schemas.api.conformance import CONFORMANCE_STATUSES
from schemas.events import registry
from schemas.events.topics import ACKS

log = logging.getLogger(__name__)
ACKS_CONSUMER = "marketplace.acks"
_ACK_AGGREGATE = registry.by_name("route.applied").aggregate
ROUTE_APPLIED = registry.by_name("route.applied").ce_type
conformance = TrustConformance.__table__


# --- consuming acknowledgements ---------------------------------------------------------
def record_ack(conn: Connection, event: ConsumedEvent) -> None:
    """Keep the newest ack per trust; note when its position last changed."""
    if event.type != ROUTE_APPLIED:
        return
    data = registry.validate(event.type, event.data)
    trust = data["trust_ods"]
    if event.envelope.source != f"/trusts/{trust}":
        log.warning("ack for %s from %s ignored: a trust acknowledges only for itself",
                    trust, event.envelope.source)
        return
    row = conn.execute(select(conformance).where(conformance.c.trust_ods == trust)).first()
    if row is not None and row.ack_sequence >= event.envelope.sequence:
        return  # an older ack, overtaken
    position = (data["route_version"], data["last_sequence"], data["state_hash"])
    unchanged = row is not None and (row.route_version, row.last_sequence,
                                     row.state_hash) == position
    values = {
        "route_version": data["route_version"], "last_sequence": data["last_sequence"],
        "state_hash": data["state_hash"], "applied_count": data["applied_count"],
        "acked_at": data["at"], "received_at": utcnow(), "ack_id": event.envelope.id,
        "ack_sequence": event.envelope.sequence,
        "position_since": row.position_since if unchanged and row else data["at"],
        "acks_received": (row.acks_received if row else 0) + 1,
    }
    if row is None:
        conn.execute(conformance.insert().values(trust_ods=trust, **values))
    else:
        conn.execute(conformance.update().where(conformance.c.trust_ods == trust)
                     .values(**values))


def accept_gap(conn: Connection, event: ConsumedEvent, gap: Gap) -> None:
    """Acks are numbered, not counted (see ``adapters.acks``): a gap loses nothing."""


def acks_consumer(engine: Engine, bootstrap_servers: str,
                  topics: tuple[str, ...] = (ACKS,)) -> EventConsumer:
    """The consumer of ``route.applied`` that keeps ``trust_conformance`` (``marketplace
    acks``)."""
    return EventConsumer(name=ACKS_CONSUMER, bootstrap_servers=bootstrap_servers,
                         topics=list(topics), engine=engine, inbox=inbox,
                         sequences=consumer_sequence, handler=record_ack, on_gap=accept_gap)


# --- judging --------------------------------------------------------------------------
def _heads(conn: Connection) -> dict[str, int]:
    """The latest published sequence of every aggregate (acknowledgements aside).

    An aggregate's pending rows are the tail of its stream (the relay publishes in
    order), so its head is the sequence before its oldest pending row, or its last
    sequence when nothing is pending: read from two small tables, never by scanning
    the outbox, which grows with every event.
    """
    pending = (select(outbox_pending.c.aggregate_key,
                      func.min(outbox_pending.c.sequence).label("oldest"))
               .group_by(outbox_pending.c.aggregate_key).subquery())
    seqs = event_sequence
    head = case((pending.c.oldest.is_not(None), pending.c.oldest - 1),
                else_=seqs.c.last_sequence)
    rows = conn.execute(
        select(seqs.c.aggregate_key, head)
        .outerjoin(pending, pending.c.aggregate_key == seqs.c.aggregate_key)
        .where(~seqs.c.aggregate_key.startswith(f"{_ACK_AGGREGATE}/")))
    return {key: int(value) for key, value in rows if value > 0}


def _behind(heads: dict[str, int], position: dict[str, int]) -> dict[str, int]:
    """Per aggregate the trust is behind on: its last applied sequence."""
    return {key: position.get(key, 0) for key, head in heads.items()
            if position.get(key, 0) < head}


def _lagging_since(conn: Connection, behind: dict[str, int]) -> datetime | None:
    """When the earliest event the trust has not applied was published."""
    earliest: datetime | None = None
    items = sorted(behind.items())
    for start in range(0, len(items), 200):
        chunk = items[start:start + 200]
        wanted = or_(*(and_(outbox.c.aggregate_key == key, outbox.c.sequence == seq + 1)
                       for key, seq in chunk))
        value = conn.execute(select(func.min(event_feed.c.published_at))
                             .join(outbox, outbox.c.id == event_feed.c.outbox_id)
                             .where(wanted)).scalar()
        if value is not None and (earliest is None or value < earliest):
            earliest = value
    return earliest


def _disagreeing(rows: list[Any]) -> set[str]:
    """Trusts whose hash is not the strict majority's among trusts at the same position."""
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in rows:
        key = (row.route_version, _position_key(row.last_sequence))
        groups[key].append(row)
    out: set[str] = set()
    for members in groups.values():
        hashes = Counter(m.state_hash for m in members)
        if len(hashes) < 2:
            continue
        (top, top_n), *rest = hashes.most_common()
        majority = top if top_n > rest[0][1] else None
        out |= {m.trust_ods for m in members if m.state_hash != majority}
    return out


def _position_key(position: dict[str, Any]) -> str:
    """A position (last sequence per aggregate) in a comparable form."""
    return ",".join(f"{k}={position[k]}" for k in sorted(position))


def report(conn: Connection, now: datetime | None = None) -> dict[str, Any]:
    """Every acknowledging trust judged against the published head and the others."""
    now = now or utcnow()
    heads = _heads(conn)
    rows = conn.execute(select(conformance).order_by(conformance.c.trust_ods)).all()
    diverged = _disagreeing(rows)
    trusts = []
    for row in rows:
        behind = _behind(heads, row.last_sequence)
        if row.trust_ods in diverged:
            status, since = "diverged", row.position_since
        elif behind:
            status = "lagging"
            since = _lagging_since(conn, behind) or row.position_since
        else:
            status, since = "current", row.position_since
        trusts.append({
            "trust_ods": row.trust_ods, "status": status, "since": since,
            "route_version": row.route_version, "state_hash": row.state_hash,
            "applied_count": row.applied_count, "acked_at": row.acked_at,
            "received_at": row.received_at,
            "behind": {"aggregates": len(behind),
                       "events": sum(heads[k] - s for k, s in behind.items())},
        })
    summary = Counter(t["status"] for t in trusts)
    return {"checked_at": now, "head": {"aggregates": len(heads),
                                        "events": sum(heads.values())},
            "summary": {s: summary.get(s, 0) for s in CONFORMANCE_STATUSES},
            "trusts": trusts}
