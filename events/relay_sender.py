"""The relay's sending process: Kafka records are built and sent in an interpreter of its own.

kafka-python builds every record in Python, so sending is CPU work that holds the
GIL, and the relay's database work (claiming rows, reading them, marking them) is
Python work too. In one process they took turns: on PostgreSQL the relay reached
0.73 of a bare producer's rate, against 0.90 with the sending moved here (medians
of 8 paired rounds, ``BENCHMARKS.md``). So the relay's own process claims and marks
while this one sends the batch before, each on its own core.

The protocol is one request at a time over a pipe: the relay sends a batch's rows,
this process sends them, flushes, and answers with the indices of the records the
broker did not acknowledge and the first error. A batch is sent only after the one
before it was answered, so per-aggregate order holds as it did in one process.

The process holds no database state: if the relay dies it reads end-of-file and
exits; if it dies, the relay reads end-of-file, marks nothing of the batch (it is
re-sent, and consumers drop duplicates by ``ce_id``) and starts another.
"""
from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

from kafka import KafkaProducer

from events.cloudevents import binary_headers

ProducerFactory = Callable[[], KafkaProducer]
#: What the relay passes of each claimed row, in this order (``events.relay.wire.WireRow``
#: names them the same).
FIELDS = ("topic", "record_key", "data", "event_id", "ce_source", "ce_type", "ce_time",
          "ce_subject", "sequence")
Row = Sequence[Any]
#: The answer for a batch: indices of the records not acknowledged, and the first error.
Outcome = tuple[list[int], str | None]

_STOP = None


class SenderLost(ConnectionError):
    """The sending process ended; its batch's outcome is unknown (nothing is marked)."""


class SenderFailed(ConnectionError):
    """The sending process could not start its producer (the broker is unreachable)."""


class SenderProcess:
    """One sending process and the relay's end of its pipe."""

    def __init__(self, producer_factory: ProducerFactory) -> None:
        context = multiprocessing.get_context(_start_method())
        self._conn, child = context.Pipe()
        # The factory must pickle (a module-level function or a functools.partial).
        self._process = context.Process(target=_serve, args=(child, producer_factory),
                                        name="relay-sender", daemon=True)
        self._process.start()
        child.close()  # only the child holds its end: its death reads as end-of-file here
        error = self._receive()
        if error is not None:
            self.close()
            raise SenderFailed(error)

    def submit(self, rows: list[Row]) -> None:
        """Hand a batch to the process; :meth:`outcome` waits for its answer."""
        try:
            self._conn.send(rows)
        except OSError as exc:
            raise SenderLost(f"the sending process is gone: {exc}") from exc

    def outcome(self) -> Outcome:
        return self._receive()  # type: ignore[no-any-return]

    def _receive(self) -> Any:
        try:
            return self._conn.recv()
        except (EOFError, OSError) as exc:
            raise SenderLost(f"the sending process ended (exit code "
                             f"{self._process.exitcode})") from exc

    def close(self) -> None:
        """Stop the process (it closes its producer, waiting for what is in flight)."""
        with contextlib.suppress(OSError):  # already gone
            self._conn.send(_STOP)
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._conn.close()

    @property
    def pid(self) -> int | None:
        return self._process.pid


def _start_method() -> str:
    # A fork server forks each sender from a small, single-threaded process: fast to
    # start, and safe in a relay that already runs threads (plain fork is not).
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def _serve(conn: Connection, producer_factory: ProducerFactory) -> None:
    """The sending process: answer each batch until the relay stops it or goes away."""
    try:
        producer = producer_factory()
    except Exception as exc:
        conn.send(_describe(exc))
        return
    conn.send(None)
    try:
        while True:
            try:
                rows = conn.recv()
            except EOFError:  # the relay is gone
                return
            if rows is _STOP:
                return
            conn.send(send_batch(producer, rows))
    finally:
        producer.close(timeout=5)


def send_batch(producer: KafkaProducer, rows: list[Row]) -> Outcome:
    """Send the rows as CloudEvents (binary mode), flush, and report what failed."""
    send, futures = producer.send, []
    try:
        for (topic, record_key, data, event_id, ce_source, ce_type, ce_time, ce_subject,
             sequence) in rows:  # FIELDS; the headers straight from the row
            futures.append(send(topic, key=record_key.encode(), value=data.encode(),
                                headers=binary_headers(event_id, ce_source, ce_type, ce_time,
                                                       ce_subject, sequence)))
    except Exception as exc:  # the broker is away (metadata wait), or a record is refused:
        # no flush (it would wait out the delivery timeout); none counts as acknowledged.
        return list(range(len(rows))), _describe(exc)
    producer.flush()
    failed: list[int] = []
    error: str | None = None
    for index, future in enumerate(futures):
        try:
            future.get(timeout=0)
        except Exception as exc:
            failed.append(index)
            error = error or _describe(exc)
    return failed, error


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
