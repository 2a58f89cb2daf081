"""Engines for the marketplace database and the trust adapters' registers alike.

Both sides need the same two things: ``postgresql://`` URLs driven by psycopg 3,
and SQLite configured as the single writer it is.

SQLite lets one transaction write at a time and makes the others poll for the lock
(its busy handler sleeps up to 100 ms between tries). Polling is unfair: a writer
that commits on a steady beat (a request stream, the benchmark's load) can phase-lock
with the poller and starve it for seconds; the relay's claim was seen waiting 3.5 s
for it. So writers of one process queue for a file (:class:`WriterQueue`, first come
first served) just before ``BEGIN IMMEDIATE`` and leave the queue when the transaction
ends; the next one is woken at once. Writers in other processes still meet SQLite's
busy timeout, as before.
"""
from __future__ import annotations

import os
import sqlite3
import threading
from collections import deque
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import StaticPool

#: How long a writer waits for the lock, in this process's queue or SQLite's.
BUSY_TIMEOUT_SECONDS = 10.0
#: Execution option for a transaction that only reads: plain ``BEGIN`` on SQLite, which
#: takes no write lock (readers of a WAL database never wait), and no place in the queue.
READ_ONLY = {"sqlite_read_only": True}


class WriterQueue:
    """The writers of one SQLite file in this process, served in arrival order.

    A plain lock would do the waking but not the order: a writer that commits and
    begins again at once could keep overtaking one that has been waiting.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: deque[threading.Lock] = deque()
        self._held = False

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def acquire(self, timeout: float) -> bool:
        """Wait for this writer's turn, at most ``timeout`` seconds; whether it came."""
        with self._mutex:
            if not self._held and not self._waiters:
                self._held = True
                return True
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        if turn.acquire(timeout=timeout):
            return True  # handed over by release(): the queue stays held
        with self._mutex:
            try:
                self._waiters.remove(turn)
            except ValueError:  # handed over just as the wait timed out
                return True
            return False

    def release(self) -> None:
        """End this writer's turn: hand it to the next writer waiting, if any."""
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()
            else:
                self._held = False


_writer_queues: dict[str, WriterQueue] = {}
_writer_queues_guard = threading.Lock()


def writer_queue(path: str) -> WriterQueue:
    """The queue that this process's writers of the SQLite file at ``path`` wait in."""
    key = os.path.realpath(path)
    with _writer_queues_guard:
        return _writer_queues.setdefault(key, WriterQueue())


class QueuedWriterConnection(sqlite3.Connection):
    """A ``sqlite3`` connection that waits its turn in its file's writer queue for each
    write transaction."""

    writer: WriterQueue | None = None  # None: an in-memory database, no queue
    _holds_writer = False

    def begin_write(self) -> None:
        """``BEGIN IMMEDIATE``, once this process's earlier writers are done."""
        if self.writer is not None:
            if not self.writer.acquire(timeout=BUSY_TIMEOUT_SECONDS):
                raise sqlite3.OperationalError(
                    "database is locked (another writer of this process held it for "
                    f"{BUSY_TIMEOUT_SECONDS:.0f} s)")
            self._holds_writer = True
        try:
            self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._release_writer()
            raise

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            if not self.in_transaction:  # a failed COMMIT leaves it open, to roll back
                self._release_writer()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release_writer()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release_writer()

    def _release_writer(self) -> None:
        if self._holds_writer:
            self._holds_writer = False
            assert self.writer is not None
            self.writer.release()


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs (SQLAlchemy would pick psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _configure_sqlite(engine: Engine) -> None:
    database = engine.url.database
    on_file = database not in (None, "", ":memory:")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy emit BEGIN itself so BEGIN IMMEDIATE can take the write lock.
        dbapi_conn.isolation_level = None
        if on_file:
            dbapi_conn.writer = writer_queue(database)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
        if on_file:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        if conn.get_execution_options().get("sqlite_read_only"):
            conn.exec_driver_sql("BEGIN")
            return
        # SQLite is a single writer: take the write lock at BEGIN so a
        # read-then-write transaction cannot fail half way with SQLITE_BUSY.
        dbapi_conn = conn.connection.dbapi_connection
        if not isinstance(dbapi_conn, QueuedWriterConnection):  # a factory of the caller's
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        try:
            dbapi_conn.begin_write()
        except sqlite3.Error as exc:
            raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_database_url(url)
    if url.startswith("sqlite"):
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs.setdefault("poolclass", StaticPool)
        kwargs.setdefault("connect_args", {})
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": BUSY_TIMEOUT_SECONDS,
                                  "factory": QueuedWriterConnection, **kwargs["connect_args"]}
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)
