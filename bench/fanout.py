"""Trust adapter fan-out: N trusts applying one event stream, latency and CPU per event.

    python -m bench.fanout [--trusts 20] [--rate 200] [--seconds 60] [--processes 2]

Events are committed to the marketplace outbox at ``--rate`` per second (approval
lifecycle events over a fixed set of approvals, plus funding allocations to single
trusts, 1 in 10) and published by the real relay (``events.relay.Relay``), exactly as
``marketplace relay`` does. Every trust runs a full ``TrustAdapter`` (its own consumer
group, route, register in its own SQLite file, journal and Peppol outputs, acks); the
adapters are spread over ``--processes`` worker processes, where they take turns on one
thread (``adapters.hosting``, as a host serving several trusts runs them).

Latency is measured per event and per trust, from the outbox row's ``created_at``
(stamped in the committing transaction) to the moment the trust's transaction that
applied it committed (adapters commit once per poll batch). CPU per event is the workers' user +
system CPU time divided by the events applied across all trusts.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import random
import resource
import sqlite3
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from events.broker import EmbeddedBroker, bootstrap_servers_from_env
from events.producer import idempotent_producer
from events.relay import Relay
from events.topics import ensure_topics

TRUSTS = [f"R{n:02d}" for n in range(1, 100)]


# --- the trust side: worker processes -----------------------------------------------------
def worker(trusts: list[str], out: str, bootstrap: str, ready: Any, stop: Any,
           results: Any) -> None:
    """Host ``trusts``' adapters, taking turns on one thread (``adapters.hosting``), until
    ``stop``; report CPU time and when each event's batch committed at each trust."""
    import logging

    from adapters.hosting import run_adapters
    from adapters.runtime import AdapterConfig, TrustAdapter

    logging.basicConfig(level=logging.ERROR)
    adapters = [TrustAdapter(AdapterConfig(trust=t, out_dir=Path(out) / t,
                                           bootstrap_servers=bootstrap)) for t in trusts]
    halt = threading.Event()
    applied: dict[str, dict[str, float]] = {t: {} for t in trusts}
    seen: dict[str, datetime | None] = dict.fromkeys(trusts)
    waiting = set(trusts)  # not yet in their consumer group

    def on_turn(adapter: TrustAdapter, _count: int) -> None:
        consumer = adapter.consumer
        if adapter.trust in waiting and consumer.consumer().assignment():
            waiting.discard(adapter.trust)
            ready.put(adapter.trust)
        committed = consumer.last_commit_at
        if committed is not None and committed is not seen[adapter.trust]:
            seen[adapter.trust] = committed
            applied[adapter.trust].update(dict.fromkeys(consumer.last_batch,
                                                        committed.timestamp()))

    host = threading.Thread(target=run_adapters, args=(adapters, halt, on_turn), daemon=True)
    host.start()
    stop.wait()
    halt.set()
    host.join(timeout=60)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    results.put({"trusts": trusts, "cpu_seconds": usage.ru_utime + usage.ru_stime,
                 "applied": applied})


# --- the marketplace side ------------------------------------------------------------------
def _load(database_url: str, rate: int, seconds: float, trusts: list[str]) -> int:
    """Commit ``rate`` events a second to the outbox, in small transactions, for ``seconds``."""
    from marketplace.kernel.actor import Actor
    from marketplace.kernel.db import make_engine, make_session_factory
    from marketplace.kernel.unit_of_work import UnitOfWork
    from schemas.events import registry

    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    granted = registry.by_name("approval.granted")
    suspended = registry.by_name("approval.suspended")
    funding = registry.by_name("funding.allocated")
    approvals = [str(uuid.uuid4()) for _ in range(200)]
    rng = random.Random(5)
    per_tick = max(1, round(rate * 0.05))  # a transaction every 50 ms
    began, sent = time.perf_counter(), 0
    while time.perf_counter() - began < seconds:
        with UnitOfWork(factory, Actor(id="bench", role="admin")) as uow:
            for _ in range(per_tick):
                n = sent
                if n % 10 == 9:
                    uow.emit(funding.ce_type, {**funding.example, "allocation_id": f"a-{n}",
                                               "recipient_ods": rng.choice(trusts),
                                               "amount_pence": 100_000 + n})
                elif n % 10 == 4:
                    uow.emit(suspended.ce_type, {**suspended.example,
                                                 "approval_id": rng.choice(approvals)})
                else:
                    uow.emit(granted.ce_type, {**granted.example,
                                               "approval_id": rng.choice(approvals),
                                               "product_version": f"1.{n}"})
                sent += 1
            uow.commit()
        next_at = began + (sent / rate)
        time.sleep(max(0.0, next_at - time.perf_counter()))
    engine.dispose()
    return sent


def _outbox_times(database_url: str) -> dict[str, datetime]:
    from sqlalchemy import select

    from marketplace.kernel.db import make_engine
    from marketplace.kernel.outbox import outbox

    engine = make_engine(database_url)
    with engine.connect() as conn:
        times = {i: _aware(at) for i, at in conn.execute(
            select(outbox.c.event_id, outbox.c.created_at))}
    engine.dispose()
    return times


def _applied(out: Path, trust: str) -> dict[str, datetime]:
    path = out / trust / "register.db"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as conn:
        rows = conn.execute("SELECT ce_id, processed_at FROM event_inbox").fetchall()
    return {ce_id: _aware(datetime.fromisoformat(at)) for ce_id, at in rows}


def _aware(at: datetime) -> datetime:
    """SQLite hands back naive UTC datetimes."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _count(out: Path, trust: str) -> int:
    try:
        with sqlite3.connect(f"file:{out / trust / 'register.db'}?mode=ro", uri=True,
                             timeout=10) as conn:
            return int(conn.execute("SELECT count(*) FROM event_inbox").fetchone()[0])
    except sqlite3.Error:
        return 0


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trusts", type=int, default=20)
    parser.add_argument("--rate", type=int, default=200, help="events per second")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--processes", type=int, default=2, help="adapter worker processes")
    parser.add_argument("--bootstrap", default=bootstrap_servers_from_env())
    args = parser.parse_args()
    trusts = TRUSTS[:args.trusts]
    load_at_start = os.getloadavg()[0]
    from marketplace.kernel.db import make_engine
    from marketplace.kernel.outbox import outbox_tables

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fanout-")))
        bootstrap = args.bootstrap or stack.enter_context(EmbeddedBroker()).bootstrap_servers
        ensure_topics(bootstrap)
        database_url = f"sqlite:///{tmp / 'marketplace.db'}"
        out = tmp / "trusts"
        ctx = mp.get_context("spawn")
        ready, results, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
        groups = [trusts[i::args.processes] for i in range(args.processes)]
        workers = [ctx.Process(target=worker, args=(g, str(out), bootstrap, ready, stop,
                                                    results)) for g in groups if g]
        for process in workers:
            process.start()
        for _ in trusts:
            ready.get(timeout=120)
        # Marketplace: load into the outbox, the relay publishes.
        from marketplace import migrate

        engine = make_engine(database_url)
        migrate.upgrade(engine)
        relay = Relay(engine=engine, tables=outbox_tables,
                      producer_factory=partial(idempotent_producer, bootstrap))
        relay_stop = threading.Event()
        relay_thread = threading.Thread(target=relay.run, args=(relay_stop, 0.02))
        relay_thread.start()
        began = time.perf_counter()
        sent = _load(database_url, args.rate, args.seconds, trusts)
        load_seconds = time.perf_counter() - began
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and min(_count(out, t) for t in trusts) < sent:
            time.sleep(0.5)
        drained_after = time.perf_counter() - began - load_seconds
        relay_stop.set()
        relay_thread.join()
        stop.set()
        reports = [results.get(timeout=120) for _ in workers]
        cpu = sum(r["cpu_seconds"] for r in reports)
        commits = {t: log for r in reports for t, log in r["applied"].items()}
        for process in workers:
            process.join(timeout=60)
        created = {i: at.timestamp() for i, at in _outbox_times(database_url).items()}
        latencies: list[float] = []
        per_trust = {}
        for trust in trusts:
            applied = commits[trust]
            assert len(_applied(out, trust)) == sent, f"{trust} did not apply every event"
            mine = [applied[i] - created[i] for i in created if i in applied]
            latencies += mine
            per_trust[trust] = {"applied": len(mine), "p99_s": round(_percentile(mine, 99), 3)}
        engine.dispose()
        applications = len(latencies)
        summary = {
            "trusts": len(trusts), "processes": len(workers), "rate_per_s": args.rate,
            "seconds": args.seconds, "events": sent,
            "achieved_rate_per_s": round(sent / load_seconds, 1),
            "applications": applications,
            "complete": applications == sent * len(trusts),
            "drained_after_load_s": round(drained_after, 2),
            "latency_p50_s": round(_percentile(latencies, 50), 3),
            "latency_p99_s": round(_percentile(latencies, 99), 3),
            "latency_max_s": round(max(latencies), 3),
            "worst_trust_p99_s": max(v["p99_s"] for v in per_trust.values()),
            "adapter_cpu_s": round(cpu, 1),
            "cpu_ms_per_event_per_trust": round(cpu * 1000 / max(1, applications), 3),
            "cpu_ms_per_event_all_trusts": round(cpu * 1000 / max(1, sent), 2),
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "loadavg_1min_start_end": [load_at_start, os.getloadavg()[0]],
        }
        print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
