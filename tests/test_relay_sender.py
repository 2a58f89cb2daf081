"""The relay's sending process: its loss marks nothing and a new one takes over; it ends
with the relay; a broker it cannot reach fails the batch, not the relay."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from events.broker import _free_port as free_port
from events.producer import idempotent_producer
from events.relay import outbox_status
from events.relay_sender import SenderFailed, SenderLost
from marketplace.kernel.outbox import outbox_tables
from marketplace.kernel.unit_of_work import UnitOfWork
from schemas.events.topics import APPROVALS
from tests.event_helpers import emit_approvals, end_offsets, make_relay, read_from


def _gone(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie awaiting its reaper counts as exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except FileNotFoundError:
        return True


def _wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_a_lost_sender_marks_nothing_and_a_new_one_takes_over(
        database_url: str, bootstrap: str, uow_factory: Callable[..., UnitOfWork]) -> None:
    start = end_offsets(bootstrap, APPROVALS)
    approval_id, ids = emit_approvals(uow_factory, count=3)
    relay = make_relay(database_url, bootstrap)
    lost = relay.connect().pid
    assert lost is not None
    os.kill(lost, signal.SIGKILL)
    assert _wait_until(lambda: _gone(lost))
    with pytest.raises(SenderLost):
        relay.publish_batch()
    assert outbox_status(relay.engine, outbox_tables).pending == 3  # claimed, given back
    assert relay.publish_batch() == 3  # a new sending process; the rows were not left locked
    assert relay.connect().pid != lost
    relay.close()
    records = read_from(bootstrap, start, count=3,
                        predicate=lambda r: r.key == approval_id.encode())
    assert [dict(r.headers)["ce_id"].decode() for r in records] == ids


RELAY_DIES = """
import os, signal, sys
from tests.event_helpers import make_relay
relay = make_relay(sys.argv[1], sys.argv[2])
print(relay.connect().pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_sender_ends_when_the_relay_dies(database_url: str, bootstrap: str) -> None:
    died = subprocess.run([sys.executable, "-c", RELAY_DIES, database_url, bootstrap],
                          env={**os.environ, "PYTHONPATH": os.getcwd()}, check=False,
                          capture_output=True, text=True, timeout=60)
    assert died.returncode == -9, died.stderr
    sender = int(died.stdout.split()[0])
    assert _wait_until(lambda: _gone(sender)), "the sending process outlived its relay"


def test_an_unreachable_broker_fails_the_batch_and_marks_nothing(
        database_url: str, uow_factory: Callable[..., UnitOfWork]) -> None:
    emit_approvals(uow_factory, count=2)
    nobody = f"127.0.0.1:{free_port('127.0.0.1')}"  # nothing listens there
    relay = make_relay(database_url, nobody)
    relay.producer_factory = partial(idempotent_producer, nobody, bootstrap_timeout_ms=1000)
    with pytest.raises(SenderFailed, match="Unable to bootstrap"):
        relay.publish_batch()
    assert outbox_status(relay.engine, outbox_tables).pending == 2
    relay.close()
