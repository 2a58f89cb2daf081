"""``GET /api/v1/trusts/conformance``: trust adapters acknowledge through the real broker, the
``marketplace acks`` consumer records them, and the marketplace reports each trust as
current, lagging or diverged against the outbox's published head and the other trusts."""
from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from adapters.acks import ROUTE_APPLIED, source_of
from events.cloudevents import EventEnvelope
from events.consumer import EventConsumer
from marketplace.conformance.service import acks_consumer, conformance
from marketplace.kernel.db import make_engine
from marketplace.kernel.outbox import event_feed, outbox
from marketplace.kernel.unit_of_work import UnitOfWork
from schemas.events import registry
from tests.adapter_support import (
    TRUST_A,
    TRUST_B,
    applied,
    broker_adapter,
    drain,
    fresh_topics,
    publish,
    wait_assigned,
)
from tests.conftest import bearer
from tests.event_helpers import emit_approvals, relay_pending_to

pytestmark = pytest.mark.kafka


def _recorded(consumer: EventConsumer) -> dict[str, Any]:
    with consumer.engine.connect() as conn:
        return {r.trust_ods: r for r in conn.execute(select(conformance))}


def _poll_until(consumer: EventConsumer, until: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not until() and time.monotonic() < deadline:
        consumer.poll_once(100)
    assert until(), "the acks consumer did not record the acknowledgements"


def _forged_ack(trust: str, like: Any, state_hash: str) -> tuple[EventEnvelope, None]:
    """An ack as another trust's adapter would send it, at ``like``'s position."""
    at = datetime.now(UTC)
    data = registry.dump(ROUTE_APPLIED.ce_type, {
        "trust_ods": trust, "route_version": like.route_version,
        "last_sequence": like.last_sequence, "state_hash": state_hash,
        "applied_count": like.applied_count, "at": at.isoformat()})
    return EventEnvelope(id=str(uuid.uuid4()), source=source_of(trust),
                         type=ROUTE_APPLIED.ce_type, time=at, subject=trust,
                         sequence=int(at.timestamp() * 1000), key=trust,
                         data=json.dumps(data).encode()), None


def test_conformance_reports_current_lagging_and_diverged_trusts(
        tmp_path: Path, bootstrap: str, database_url: str, client: FlaskClient,
        uow_factory: Callable[..., UnitOfWork], make_token: Callable[..., str]) -> None:
    topic, ack_topic = fresh_topics(bootstrap, 2)
    a = broker_adapter(tmp_path, bootstrap, topic, ack_topic, TRUST_A)
    b = broker_adapter(tmp_path, bootstrap, topic, ack_topic, TRUST_B)
    marketplace = acks_consumer(make_engine(database_url), bootstrap, topics=(ack_topic,))
    joined = threading.Thread(target=_poll_until, args=(
        marketplace, lambda: bool(marketplace.consumer().assignment())))
    joined.start()
    wait_assigned(a, b)
    joined.join()

    # Phase 1: two events published; both trusts apply them and acknowledge.
    first, _ = emit_approvals(uow_factory, count=1)
    second, _ = emit_approvals(uow_factory, count=1)
    assert relay_pending_to(database_url, bootstrap, topic) == 2
    drain([a, b], lambda: applied(a) == applied(b) == 2)
    a.maybe_ack(force=True)
    b.maybe_ack(force=True)
    _poll_until(marketplace, lambda: all(
        r.last_sequence == {f"approval/{first}": 1, f"approval/{second}": 1}
        for r in _recorded(marketplace).values()) and len(_recorded(marketplace)) == 2)
    phase_one = _recorded(marketplace)[TRUST_B]
    # Two more trusts at the same position: one agreeing with A and B, one not.
    publish(bootstrap, ack_topic, [_forged_ack("RRV", phase_one, phase_one.state_hash),
                                   _forged_ack("RAL", phase_one, "0" * 64)])

    # Phase 2: one more event; only A applies it.
    emit_approvals(uow_factory, approval_id=first, count=1)
    assert relay_pending_to(database_url, bootstrap, topic) == 1
    drain([a], lambda: applied(a) == 3)
    a.maybe_ack(force=True)
    _poll_until(marketplace, lambda: len(_recorded(marketplace)) == 4 and _recorded(
        marketplace)[TRUST_A].last_sequence[f"approval/{first}"] == 2)
    marketplace.close()
    a.close()
    b.close()

    response = client.get("/api/v1/trusts/conformance", headers=bearer(make_token("admin")))
    assert response.status_code == 200, response.get_json()
    report = response.get_json()
    status = {t["trust_ods"]: t for t in report["trusts"]}
    assert {k: v["status"] for k, v in status.items()} == {
        TRUST_A: "current", TRUST_B: "lagging", "RRV": "lagging", "RAL": "diverged"}
    assert report["summary"] == {"current": 1, "lagging": 2, "diverged": 1}
    assert status[TRUST_B]["behind"] == {"aggregates": 1, "events": 1}
    with marketplace.engine.connect() as conn:
        published = conn.execute(
            select(event_feed.c.published_at).join(outbox, outbox.c.id == event_feed.c.outbox_id)
            .where(outbox.c.aggregate_key == f"approval/{first}", outbox.c.sequence == 2)
        ).scalar()
    assert datetime.fromisoformat(status[TRUST_B]["since"]) == published
    assert datetime.fromisoformat(status["RAL"]["since"]) <= datetime.now(UTC)
    assert report["head"] == {"aggregates": 2, "events": 3}
    marketplace.engine.dispose()


def test_conformance_is_empty_before_any_ack(client: FlaskClient,
                                             make_token: Callable[..., str]) -> None:
    response = client.get("/api/v1/trusts/conformance",
                          headers=bearer(make_token("trust_system")))
    assert response.status_code == 200
    assert response.get_json()["trusts"] == []
    assert client.get("/api/v1/trusts/conformance",
                      headers=bearer(make_token("innovator"))).status_code == 403
