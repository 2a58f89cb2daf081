"""``trust-adapter run`` killed with SIGKILL while applying, then restarted: nothing is
applied twice, nothing is lost, and the register and files equal a clean application.

The adapter applies each poll's batch (up to 500 events) in one transaction, so it is
killed as soon as its first batch has committed, while the next one is being applied:
that batch is lost whole, and redelivered because its offsets were never committed."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from adapters import register
from tests.adapter_support import (
    TRUST_A,
    Stream,
    apply_all,
    direct_adapter,
    files,
    fresh_topics,
    publish,
)

pytestmark = pytest.mark.kafka
ORDERS = 400


def _start(out: Path, bootstrap: str, topic: str, ack_topic: str, group: str
           ) -> subprocess.Popen[bytes]:
    script = Path(sys.executable).with_name("trust-adapter")
    return subprocess.Popen(
        [str(script), "run", "--trust", TRUST_A, "--out", str(out), "--topics", topic,
         "--ack-topic", ack_topic, "--group", group],
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _applied(out: Path) -> int:
    path = out / "register.db"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM event_inbox").fetchone()[0])
    except sqlite3.OperationalError:  # tables not created yet
        return 0


def _wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)
    assert condition(), what  # type: ignore[operator]


def test_killed_mid_batch_and_restarted_applies_nothing_twice(tmp_path: Path,
                                                              bootstrap: str) -> None:
    topic, ack_topic = fresh_topics(bootstrap, 2)
    stream = Stream().reference_data(unlimited=True)
    for n in range(ORDERS):
        stream.purchase_to_pay(TRUST_A, n, funded=False)
    total = len(stream.events)
    publish(bootstrap, topic, stream.events)
    out, group = tmp_path / "adapter", f"trust.{TRUST_A}.{uuid.uuid4().hex[:6]}"

    first = _start(out, bootstrap, topic, ack_topic, group)
    _wait(lambda: _applied(out) > 0, 60, "the adapter never committed a batch")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    killed_at = _applied(out)
    assert 0 < killed_at < total, f"killed too late to test anything ({killed_at})"

    second = _start(out, bootstrap, topic, ack_topic, group)
    try:
        _wait(lambda: _applied(out) == total, 90, "the restarted adapter did not finish")
        time.sleep(1.0)  # anything applied twice would show up now
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0, second.stderr.read().decode()[-2000:]
    assert _applied(out) == total

    clean = direct_adapter(tmp_path, TRUST_A)
    apply_all(clean, stream)
    engine = register.make_engine(register.default_url(out))
    with engine.connect() as conn, clean.engine.connect() as expected:
        counts = register.counts(conn)
        assert counts == register.counts(expected)
        assert register.hashes(conn) == register.hashes(expected)
    engine.dispose()
    assert counts["purchase_order"] == counts["invoice"] == counts["payment"] == ORDERS
    assert counts["journal_line"] == ORDERS * 9 + 2  # PO 2, invoice 5, payment 2; budget 2
    journal = [line for path in sorted((out / "journal").glob("*.csv"))
               for line in path.read_text().splitlines()[1:]]
    assert len(journal) == len(set(journal)) == counts["journal_line"]
    assert files(out) == files(clean.config.out_dir)
