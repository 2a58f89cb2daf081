"""Several trusts' adapters in one process, taking turns on one thread.

A trust normally runs its own adapter (``trust-adapter run``). A host that serves
several trusts (a shared-services finance provider, or the fan-out benchmark packing
twenty trusts onto two cores) can run their adapters side by side instead: each keeps
everything of its own (consumer group ``trust.<ODS>``, register, journal and Peppol
files, acknowledgements) and only the thread is shared.

Why one thread rather than a thread each: every SQLite statement releases the GIL,
and with ten adapter threads in a process each release hands it to another adapter,
so a batch of fifty events waited behind the others' batches statement by statement
(BENCHMARKS.md, fan-out). Taking turns, an adapter applies the whole batch it polled
in one go, and no adapter waits longer than one round.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from adapters.runtime import TrustAdapter

log = logging.getLogger(__name__)

#: After a round in which no adapter had anything, wait this long, doubling while it
#: stays quiet up to ``IDLE_WAIT_MAX`` (a quiet host polls ten times a second, a busy
#: one goes straight on to the next round).
IDLE_WAIT_MIN = 0.005
IDLE_WAIT_MAX = 0.1

#: kafka-python moves a group join (coordinator, JoinGroup, SyncGroup) only while the
#: consumer waits in ``poll``, and joins interleaved with other consumers' polls had
#: not finished after 25 s in a test: so joining is done in polls of its own (``_join``).
JOIN_POLL_MS = 100

#: Called after each adapter's turn with the adapter and how many events it applied.
TurnHook = Callable[[TrustAdapter, int], None]


def run_adapters(adapters: Sequence[TrustAdapter], stop: threading.Event,
                 on_turn: TurnHook | None = None) -> None:
    """Give each adapter a turn (one poll, and the batch it brings) until ``stop``.

    The adapters are closed on the way out, each having acknowledged what it applied.
    """
    names = ", ".join(a.trust for a in adapters)
    log.info("hosting trust adapters %s on one thread", names)
    idle = IDLE_WAIT_MIN
    try:
        _join_all(adapters, stop)
        while not stop.is_set():
            applied = 0
            for adapter in adapters:
                if not _joined(adapter):  # a rebalance: this one rejoins, the others wait
                    _join(adapter, stop)
                count = adapter.poll_once(0)
                applied += count
                if on_turn is not None:
                    on_turn(adapter, count)
            if applied:
                idle = IDLE_WAIT_MIN
            elif not stop.wait(idle):
                idle = min(IDLE_WAIT_MAX, idle * 2)
        for adapter in adapters:
            adapter.maybe_ack(force=adapter.ack_due)
    finally:
        for adapter in adapters:
            try:
                adapter.close()
            except Exception:  # the others must still be closed
                log.exception("%s: closing failed", adapter.trust)


def _joined(adapter: TrustAdapter) -> bool:
    return bool(adapter.consumer.consumer().assignment())


def _join(adapter: TrustAdapter, stop: threading.Event) -> None:
    """Poll ``adapter`` alone until it is in its group (or ``stop``)."""
    while not stop.is_set() and not _joined(adapter):
        adapter.poll_once(JOIN_POLL_MS)


def _join_all(adapters: Sequence[TrustAdapter], stop: threading.Event) -> None:
    """Join every adapter's group at once, a thread each (a join takes seconds)."""
    threads = [threading.Thread(target=_join, args=(a, stop), name=f"join-{a.trust}")
               for a in adapters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
