"""SQLite writers of one process take turns in arrival order; readers never queue.

SQLite's own busy handler polls, and a writer committing on a steady beat starved
the relay for seconds (BENCHMARKS.md, fan-out); these tests pin the queue's order.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from events import database
from events.database import READ_ONLY, WriterQueue, make_engine, writer_queue


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'queue.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE log (n INTEGER PRIMARY KEY AUTOINCREMENT, who TEXT)"))
    yield engine
    engine.dispose()


def _wait_until(condition, seconds: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.005)


def _queue(tmp_path: Path) -> WriterQueue:
    return writer_queue(str(tmp_path / "queue.db"))


def test_a_waiting_writer_goes_before_one_that_comes_back(engine: Engine, tmp_path: Path
                                                          ) -> None:
    """The holder commits and begins again at once: the writer already waiting goes first."""
    queue = _queue(tmp_path)
    holder = engine.connect()
    holder.begin()
    holder.execute(text("INSERT INTO log (who) VALUES ('holder 1')"))

    def waiter() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO log (who) VALUES ('waiter')"))

    thread = threading.Thread(target=waiter)
    thread.start()
    _wait_until(lambda: queue.waiting == 1)
    holder.commit()
    holder.begin()  # straight back: must queue behind the waiter
    holder.execute(text("INSERT INTO log (who) VALUES ('holder 2')"))
    holder.commit()
    holder.close()
    thread.join(10)
    with engine.connect() as conn:
        order = conn.execute(text("SELECT who FROM log ORDER BY n")).scalars().all()
    assert order == ["holder 1", "waiter", "holder 2"]


def test_writers_are_served_in_arrival_order(engine: Engine, tmp_path: Path) -> None:
    queue = _queue(tmp_path)
    holder = engine.connect()
    holder.begin()
    threads = []
    for n in range(5):
        def write(n: int = n) -> None:
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO log (who) VALUES (:who)"), {"who": f"w{n}"})

        threads.append(threading.Thread(target=write))
        threads[-1].start()
        _wait_until(lambda n=n: queue.waiting == n + 1)
    holder.rollback()
    holder.close()
    for thread in threads:
        thread.join(10)
    with engine.connect() as conn:
        order = conn.execute(text("SELECT who FROM log ORDER BY n")).scalars().all()
    assert order == [f"w{n}" for n in range(5)]
    assert queue.waiting == 0


def test_a_read_only_transaction_does_not_queue(engine: Engine, tmp_path: Path) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO log (who) VALUES ('committed')"))
    holder = engine.connect()
    holder.begin()
    holder.execute(text("INSERT INTO log (who) VALUES ('uncommitted')"))
    try:
        with engine.connect() as conn, conn.execution_options(**READ_ONLY).begin():
            seen = conn.execute(text("SELECT who FROM log")).scalars().all()
        assert seen == ["committed"]  # the snapshot, without waiting for the writer
        assert _queue(tmp_path).waiting == 0
    finally:
        holder.rollback()
        holder.close()


def test_a_writer_that_waits_too_long_gets_database_locked(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "BUSY_TIMEOUT_SECONDS", 0.2)
    holder = engine.connect()
    holder.begin()
    try:
        with pytest.raises(OperationalError, match="database is locked"), engine.begin():
            pass
    finally:
        holder.rollback()
        holder.close()
    with engine.begin() as conn:  # the queue is free again: the timed-out writer left it
        conn.execute(text("INSERT INTO log (who) VALUES ('after')"))


def test_a_failed_begin_leaves_the_queue(engine: Engine, tmp_path: Path) -> None:
    """If BEGIN IMMEDIATE itself fails (another process holds the lock past the busy
    timeout), the writer's turn is given back."""
    other_process = database.sqlite3.connect(str(tmp_path / "queue.db"), isolation_level=None)
    other_process.execute("BEGIN IMMEDIATE")
    try:
        with engine.connect() as conn:
            conn.connection.dbapi_connection.execute("PRAGMA busy_timeout=50")  # type: ignore[union-attr]
            with pytest.raises(OperationalError, match="locked"):
                conn.begin()
            assert _queue(tmp_path).waiting == 0
    finally:
        other_process.rollback()
        other_process.close()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO log (who) VALUES ('after')"))
