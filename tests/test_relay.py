"""The outbox relay against the real broker: CloudEvents on the wire, nothing sent for a
rolled-back change, positions for the feed, a crash between ack and mark."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from events.relay import outbox_status
from marketplace.kernel.db import make_engine
from marketplace.kernel.outbox import event_feed, outbox, outbox_pending, outbox_tables
from marketplace.kernel.unit_of_work import UnitOfWork
from schemas.events.topics import APPROVALS
from tests.conftest import bearer
from tests.event_helpers import (
    GRANTED,
    approval_event,
    emit_approvals,
    end_offsets,
    make_relay,
    read_from,
)

pytestmark = pytest.mark.kafka


def _decode_with_sdk(record: Any) -> Any:
    from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
    from cloudevents.core.formats.json import JSONFormat

    message = KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value)
    return from_binary(message, JSONFormat())


def test_round_trip_is_a_binary_mode_cloudevent(database_url: str, bootstrap: str,
                                                uow_factory: Callable[..., UnitOfWork]) -> None:
    start = end_offsets(bootstrap, APPROVALS)
    approval_id, ids = emit_approvals(uow_factory, count=3)
    relay = make_relay(database_url, bootstrap)
    assert relay.publish_batch() == 3
    relay.close()

    records = read_from(bootstrap, start, count=3,
                        predicate=lambda r: r.key == approval_id.encode())
    assert len(records) == 3
    assert len({r.partition for r in records}) == 1  # one key, one partition, one order
    engine = make_engine(database_url)
    with engine.connect() as conn:
        times = dict(conn.execute(select(outbox.c.event_id, outbox.c.ce_time)
                                  .where(outbox.c.event_id.in_(ids))).all())
    engine.dispose()
    for n, (record, event_id) in enumerate(zip(records, ids, strict=True)):
        event = _decode_with_sdk(record)
        assert event.get_specversion() == "1.0"
        assert event.get_id() == event_id
        assert event.get_source() == "/marketplace"
        assert event.get_type() == GRANTED.ce_type
        assert event.get_subject() == approval_id
        assert event.get_time() == times[event_id] and event.get_time().tzinfo is not None
        assert dict(record.headers)["ce_time"] == times[event_id].isoformat().encode()
        assert event.get_extension("sequence") in (str(n + 1), n + 1)
        assert json.loads(record.value) == approval_event(approval_id, n)
        headers = dict(record.headers)
        assert headers["content-type"] == b"application/json"
        assert {"ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject",
                "ce_sequence"} <= set(headers)


def test_rolled_back_change_publishes_nothing(database_url: str, bootstrap: str,
                                              uow_factory: Callable[..., UnitOfWork]) -> None:
    start = end_offsets(bootstrap, APPROVALS)
    with uow_factory() as uow:
        uow.emit(GRANTED.ce_type, approval_event("rolled-back"))
        uow.rollback()
    with uow_factory() as uow:
        uow.emit(GRANTED.ce_type, approval_event("never-committed"))
    relay = make_relay(database_url, bootstrap)
    assert relay.publish_batch() == 0
    relay.close()
    assert end_offsets(bootstrap, APPROVALS) == start
    with uow_factory() as uow:
        assert uow.session.scalar(select(func.count()).select_from(outbox)) == 0


def test_published_rows_get_feed_positions_in_order(database_url: str, bootstrap: str,
                                                    uow_factory: Callable[..., UnitOfWork],
                                                    client: FlaskClient,
                                                    make_token: Callable[..., str]) -> None:
    first, _ = emit_approvals(uow_factory, count=2)
    second, _ = emit_approvals(uow_factory, count=1)
    relay = make_relay(database_url, bootstrap)
    status = outbox_status(relay.engine, outbox_tables)
    assert status.pending == 3 and status.oldest_pending_age_seconds is not None
    assert relay.publish_batch() == 3
    status = outbox_status(relay.engine, outbox_tables)
    assert (status.pending, status.published, status.oldest_pending_age_seconds) == (3 - 3, 3,
                                                                                      None)
    relay.close()
    token = make_token("trust_system")
    page = client.get("/api/v1/events?after=0&limit=2", headers=bearer(token)).get_json()
    assert [e["cursor"] for e in page["items"]] == [1, 2]
    assert [e["key"] for e in page["items"]] == [first, first]
    assert [e["sequence"] for e in page["items"]] == [1, 2]
    rest = client.get(f"/api/v1/events?after={page['next_cursor']}", headers=bearer(token)
                      ).get_json()
    assert [(e["cursor"], e["key"]) for e in rest["items"]] == [(3, second)]
    assert rest["items"][0]["data"]["approval_id"] == second
    ready = client.get("/readyz").get_json()["checks"]["outbox"]
    assert ready["published"] == 3 and ready["pending"] == 0


def test_a_relay_never_overtakes_a_row_another_relay_holds(
        database_url: str, bootstrap: str, uow_factory: Callable[..., UnitOfWork]) -> None:
    """A held row (another relay's claim) stops its aggregate there, and only there."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer: one relay claims at a time")
    held, free = str(uuid.uuid4()), str(uuid.uuid4())
    emit_approvals(uow_factory, held, count=3)
    emit_approvals(uow_factory, free, count=2)
    relay = make_relay(database_url, bootstrap)
    other = relay.engine.connect()
    other.begin()
    other.execute(select(outbox_pending.c.outbox_id).where(
        outbox_pending.c.aggregate_key == f"approval/{held}", outbox_pending.c.sequence == 2
    ).with_for_update())
    try:
        assert relay.publish_batch() == 3  # held/1, free/1, free/2; not held/3 past held/2
    finally:
        other.rollback()
        other.close()
    assert relay.publish_batch() == 2  # held/2, held/3
    relay.close()
    with relay.engine.connect() as conn:
        positions = conn.execute(
            select(outbox.c.sequence).join(event_feed, event_feed.c.outbox_id == outbox.c.id)
            .where(outbox.c.record_key == held).order_by(event_feed.c.position)).scalars().all()
    assert positions == [1, 2, 3]


CRASH_SCRIPT = """
import os, signal, sys
from tests.event_helpers import make_relay
relay = make_relay(sys.argv[1], sys.argv[2],
                   after_ack=lambda rows: rows and os.kill(os.getpid(), signal.SIGKILL))
relay.publish_batch()
"""


def test_relay_killed_between_ack_and_mark_resends(database_url: str, bootstrap: str,
                                                   uow_factory: Callable[..., UnitOfWork]
                                                   ) -> None:
    start = end_offsets(bootstrap, APPROVALS)
    approval_id, ids = emit_approvals(uow_factory, count=2)
    crashed = subprocess.run([sys.executable, "-c", CRASH_SCRIPT, database_url, bootstrap],
                             env={**os.environ, "PYTHONPATH": os.getcwd()}, check=False,
                             capture_output=True, text=True, timeout=60)
    assert crashed.returncode == -9, crashed.stderr
    relay = make_relay(database_url, bootstrap)
    assert outbox_status(relay.engine, outbox_tables).pending == 2  # acked, but never marked
    assert relay.publish_batch() == 2
    relay.close()
    records = read_from(bootstrap, start, count=4,
                        predicate=lambda r: r.key == approval_id.encode())
    on_wire = [dict(r.headers)["ce_id"].decode() for r in records]
    assert on_wire == ids + ids  # the duplicate is on the wire; consumers drop it by ce_id


def test_feed_cursor_never_skips_a_late_committing_event(
        database_url: str, bootstrap: str, uow_factory: Callable[..., UnitOfWork],
        client: FlaskClient, make_token: Callable[..., str]) -> None:
    """An event whose transaction began first (lower outbox id) but committed last
    still appears after the cursor a reader already holds."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer: no transaction can commit late around another")
    token = make_token("trust_system")
    late = uow_factory()
    late.__enter__()
    late.emit(GRANTED.ce_type, approval_event("late"))
    late.session.flush()  # holds the lower outbox id, uncommitted
    emit_approvals(uow_factory, "early")
    relay = make_relay(database_url, bootstrap)
    assert relay.publish_batch() == 1
    page = client.get("/api/v1/events?after=0", headers=bearer(token)).get_json()
    assert [e["key"] for e in page["items"]] == ["early"]
    cursor = page["next_cursor"]
    late.commit()
    late.__exit__(None, None, None)
    assert relay.publish_batch() == 1
    relay.close()
    page = client.get(f"/api/v1/events?after={cursor}", headers=bearer(token)).get_json()
    assert [e["key"] for e in page["items"]] == ["late"]
    with uow_factory() as uow:
        ids = dict(uow.session.execute(select(outbox.c.record_key, outbox.c.id)).all())
    assert ids["late"] < ids["early"]  # an id cursor would have skipped it


def test_relay_sessions_are_reused_and_given_back_as_they_were(
        database_url: str, bootstrap: str, uow_factory: Callable[..., UnitOfWork]) -> None:
    """PostgreSQL: one session serves batch after batch; on close its planner setting
    is reset before the connection goes back to the engine's pool."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite: the relay takes no sessions of its own")
    relay = make_relay(database_url, bootstrap, batch_size=2)
    emit_approvals(uow_factory, count=6)
    relay.after_ack = lambda rows: assert_no_idle_session(relay)
    pids = set()
    for _ in range(3):
        assert relay.publish_batch() == 2
        (session,) = relay._sessions._idle  # the batch's session, kept for the next one
        pids.add(session.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
        assert session.exec_driver_sql("SHOW enable_bitmapscan").scalar_one() == "off"
        session.rollback()
    assert len(pids) == 1
    relay.close()
    assert not relay._sessions._idle
    with relay.engine.connect() as conn:  # the session, back in the pool as it was taken
        assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() in pids
        assert conn.exec_driver_sql("SHOW enable_bitmapscan").scalar_one() == "on"
    relay.engine.dispose()


def assert_no_idle_session(relay: Any) -> None:
    """While a batch is in flight its session is out of the idle list."""
    assert not relay._sessions._idle


def test_a_relay_session_lost_between_batches_fails_one_batch_and_is_replaced(
        database_url: str, bootstrap: str, uow_factory: Callable[..., UnitOfWork]) -> None:
    """PostgreSQL: the server ends the relay's idle session; the next claim fails as a
    lost connection (which ``Relay.run`` backs off from), the session is dropped, and the
    claim after that takes a new one and publishes."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite: the relay takes no sessions of its own")
    relay = make_relay(database_url, bootstrap, batch_size=2)
    emit_approvals(uow_factory, count=4)
    assert relay.publish_batch() == 2
    (session,) = relay._sessions._idle
    pid = session.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    session.rollback()
    engine = make_engine(database_url)
    with engine.begin() as conn:
        assert conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})").scalar_one()
    engine.dispose()
    with pytest.raises(OperationalError):
        relay.publish_batch()
    assert not relay._sessions._idle  # the dead session was dropped, not kept
    assert relay.publish_batch() == 2
    assert outbox_status(relay.engine, outbox_tables).pending == 0
    relay.close()
    relay.engine.dispose()
