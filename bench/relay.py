"""Relay throughput next to a raw idempotent kafka-python producer, same broker, same run.

    python -m bench.relay [--events 20000] [--rounds 9] [--database-url URL] [--bootstrap HOST:PORT]

Both sides send the same payloads (the outbox rows' data and CloudEvents headers)
with the same producer settings; the relay additionally claims rows, waits for the
acknowledgements and marks them published with their feed positions. The raw
producer is timed twice per round, flushing once at the end and flushing every
``--batch-size`` records; the relay is compared with the faster of the two.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import uuid
from contextlib import ExitStack
from functools import partial
from pathlib import Path

from sqlalchemy import func, select

from events.broker import EmbeddedBroker, bootstrap_servers_from_env
from events.cloudevents import EventEnvelope
from events.producer import idempotent_producer
from events.relay import DEFAULT_BATCH_SIZE, Relay, envelope
from events.topics import ensure_topics
from marketplace import migrate
from marketplace.kernel.actor import Actor
from marketplace.kernel.db import make_engine, make_session_factory
from marketplace.kernel.outbox import outbox, outbox_tables
from marketplace.kernel.unit_of_work import UnitOfWork
from schemas.events import registry

GRANTED = registry.by_name("approval.granted")


def fill_outbox(database_url: str, events: int, aggregates: int = 200) -> int:
    """Commit ``events`` outbox rows; returns the id before the first (for this round's rows)."""
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        first = int(conn.execute(select(func.coalesce(func.max(outbox.c.id), 0))).scalar_one())
    keys = [str(uuid.uuid4()) for _ in range(aggregates)]
    factory = make_session_factory(engine)
    per_txn = 500
    for start in range(0, events, per_txn):
        with UnitOfWork(factory, Actor(id="bench", role="admin")) as uow:
            for n in range(start, min(events, start + per_txn)):
                uow.emit(GRANTED.ce_type, {**GRANTED.example, "approval_id": keys[n % aggregates],
                                           "product_version": f"1.{n}"})
            uow.commit()
    engine.dispose()
    return first


def outbox_records(database_url: str, after_id: int) -> list[tuple[str, EventEnvelope]]:
    """This round's outbox rows as (topic, envelope): what the raw producer sends."""
    engine = make_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(select(outbox).where(outbox.c.id > after_id)
                            .order_by(outbox.c.id)).all()
    engine.dispose()
    return [(r.topic, envelope(r)) for r in rows]


def raw_producer_rate(bootstrap: str, records: list[tuple[str, EventEnvelope]],
                      flush_every: int) -> float:
    """Send ``records`` with a bare idempotent producer, flushing every ``flush_every``; events/s.

    Flushing only at the end leaves kafka-python with the whole backlog's batches and
    futures at once, which on this host is often slower than flushing as it goes, so
    the benchmark measures both and compares the relay with the faster.
    """
    producer = idempotent_producer(bootstrap)
    began = time.perf_counter()
    for start in range(0, len(records), flush_every):
        futures = [producer.send(topic, key=env.key.encode(), value=env.data,
                                 headers=env.headers())
                   for topic, env in records[start:start + flush_every]]
        producer.flush()
        for future in futures:
            future.get(timeout=30)
    elapsed = time.perf_counter() - began
    producer.close()
    return len(records) / elapsed


def relay_rate(database_url: str, bootstrap: str, batch_size: int, expected: int) -> float:
    """Drain the outbox with the relay, as ``marketplace relay`` publishes; events/s."""
    relay = Relay(engine=make_engine(database_url), tables=outbox_tables,
                  producer_factory=partial(idempotent_producer, bootstrap), batch_size=batch_size)
    relay.connect()  # connect before timing, as the raw producer's constructor does
    began = time.perf_counter()
    published = relay.drain()
    elapsed = time.perf_counter() - began
    relay.close()
    relay.engine.dispose()
    if published != expected:
        raise SystemExit(f"the relay published {published} of {expected} events")
    return published / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--bootstrap", default=bootstrap_servers_from_env())
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    with ExitStack() as stack:
        bootstrap = args.bootstrap
        if not bootstrap:
            bootstrap = stack.enter_context(EmbeddedBroker()).bootstrap_servers
        ensure_topics(bootstrap)
        results = []
        for round_ in range(args.rounds):
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
            first = fill_outbox(url, args.events)
            records = outbox_records(url, first)
            steps = [
                ("raw_one_flush_per_s", partial(raw_producer_rate, bootstrap, records,
                                                len(records))),
                ("raw_batched_per_s", partial(raw_producer_rate, bootstrap, records,
                                              args.batch_size)),
                ("relay_per_s", partial(relay_rate, url, bootstrap, args.batch_size,
                                        len(records))),
            ]
            # Alternate the order so neither side always meets a warmer broker.
            rates = {name: step() for name, step in (steps if round_ % 2 == 0
                                                     else reversed(steps))}
            raw = max(rates["raw_one_flush_per_s"], rates["raw_batched_per_s"])
            results.append({"round": round_ + 1, "events": len(records),
                            **{name: round(rate) for name, rate in rates.items()},
                            "raw_per_s": round(raw), "ratio": round(rates["relay_per_s"] / raw, 3)})
            print(json.dumps(results[-1]))
        ratios = sorted(r["ratio"] for r in results)
        summary = {"database": (args.database_url or "sqlite").split(":")[0],
                   "events_per_round": args.events, "batch_size": args.batch_size,
                   "median_raw_per_s": sorted(r["raw_per_s"] for r in results)[len(results) // 2],
                   "median_relay_per_s": sorted(r["relay_per_s"]
                                                for r in results)[len(results) // 2],
                   "median_ratio": ratios[len(ratios) // 2],
                   "cpus": os.cpu_count(), "python": platform.python_version()}
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
