"""Helpers for the trust adapter tests: a consistent story of contract events built from
the registry's examples, applied directly or published to a test's own topics."""
from __future__ import annotations

import json
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from adapters import register
from adapters.runtime import AdapterConfig, TrustAdapter
from events.cloudevents import EventEnvelope
from events.consumer import ConsumedEvent
from events.producer import idempotent_producer
from events.topics import TopicSpec, ensure_topics
from schemas.events import registry
from schemas.events.common import (
    EX_ALLOCATION,
    EX_INVOICE,
    EX_ORDER,
    EX_ORDER_LINES,
    compute_totals,
)
from schemas.events.topics import dlq_topic

TRUST_A, TRUST_B = "R0A", "RBV"
START = datetime.fromisoformat("2026-07-06T12:00:00+01:00")


def data_for(name: str, **overrides: Any) -> dict[str, Any]:
    """A valid payload of event ``name``: the registry example with ``overrides``."""
    et = registry.by_name(name)
    return registry.dump(et.ce_type, {**et.example, **overrides})


def order_data(trust: str = TRUST_A, order_id: str = EX_ORDER, lines: list[dict[str, Any]]
               | None = None, **overrides: Any) -> dict[str, Any]:
    lines = lines if lines is not None else EX_ORDER_LINES
    return data_for("order.placed", trust_ods=trust, order_id=order_id, lines=lines,
                    totals=compute_totals(lines), delivery_site_ods=None, **overrides)


def invoice_data(trust: str = TRUST_A, order_id: str = EX_ORDER,
                 invoice_id: str = EX_INVOICE, lines: list[dict[str, Any]] | None = None,
                 **overrides: Any) -> dict[str, Any]:
    lines = lines if lines is not None else [{**line, "order_line_id": line["line_id"]}
                                             for line in EX_ORDER_LINES]
    return data_for("invoice.issued", trust_ods=trust, order_id=order_id,
                    invoice_id=invoice_id, lines=lines, totals=compute_totals(lines),
                    **overrides)


ORDER_GROSS = compute_totals(EX_ORDER_LINES)["gross_pence"]


class Stream:
    """Events with per-aggregate sequences, as the marketplace's outbox would number them."""

    def __init__(self, source: str = "/marketplace") -> None:
        self.source = source
        self.sequences: dict[str, int] = defaultdict(int)
        self.events: list[tuple[EventEnvelope, dict[str, Any]]] = []

    def add(self, name: str, data: dict[str, Any], *, sequence: int | None = None
            ) -> EventEnvelope:
        et = registry.by_name(name)
        payload = registry.dump(et.ce_type, data)
        stream = et.aggregate_ref(payload)
        if sequence is None:
            self.sequences[stream] += 1
            sequence = self.sequences[stream]
        envelope = EventEnvelope(
            id=str(uuid.uuid4()), source=self.source, type=et.ce_type,
            time=START + timedelta(seconds=len(self.events)),  # causes before effects
            subject=et.key(payload), sequence=sequence, key=et.key(payload),
            data=json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        self.events.append((envelope, payload))
        return envelope

    def reference_data(self, trusts: Iterable[str] = (TRUST_A, TRUST_B),
                       funding_pence: int = 6_000_000, unlimited: bool = False) -> Stream:
        """Approval, framework and award, a contract both trusts may call off, funding to A.

        ``unlimited``: no quantity cap on the contract, so any number of orders is
        accepted whatever order they are applied in.
        """
        self.add("approval.granted", data_for("approval.granted"))
        self.add("framework.published", data_for("framework.published"))
        self.add("framework.award.granted", data_for("framework.award.granted"))
        contract = data_for("contract.signed", eligible_trusts=sorted(trusts))
        if unlimited:
            contract["lines"] = [{**line, "max_quantity": None} for line in contract["lines"]]
        self.add("contract.signed", contract)
        self.add("funding.allocated", data_for("funding.allocated", recipient_ods=TRUST_A,
                                               amount_pence=funding_pence))
        return self

    def purchase_to_pay(self, trust: str = TRUST_A, n: int = 0, funded: bool = True
                        ) -> Stream:
        """Order, invoice and payment of one order at ``trust`` (funded: by A's line)."""
        order_id, invoice_id = f"ord-{trust}-{n}", f"inv-{trust}-{n}"
        self.add("order.placed", order_data(trust, order_id, order_number=f"{trust}-PO-{n}",
                                            funding_allocation_id=EX_ALLOCATION
                                            if trust == TRUST_A and funded else None))
        self.add("invoice.issued", invoice_data(trust, order_id, invoice_id,
                                                invoice_number=f"INV-{trust}-{n}",
                                                order_number=f"{trust}-PO-{n}"))
        self.add("payment.received", data_for(
            "payment.received", trust_ods=trust, order_id=order_id, invoice_id=invoice_id,
            payment_id=f"pay-{trust}-{n}"))
        return self


def two_trust_story(orders: int = 3) -> Stream:
    """Reference data, then ``orders`` purchase-to-pay runs at each trust (A's first funded)."""
    stream = Stream().reference_data(unlimited=True)
    for n in range(orders):
        stream.purchase_to_pay(TRUST_A, n, funded=n == 0).purchase_to_pay(TRUST_B, n)
    return stream


def consumed(envelope: EventEnvelope, payload: dict[str, Any], offset: int = 0
             ) -> ConsumedEvent:
    return ConsumedEvent(envelope, registry.get(envelope.type).topic, 0, offset, payload)


def direct_adapter(tmp_path: Path, trust: str = TRUST_A, **kwargs: Any) -> TrustAdapter:
    """An adapter whose consumer never connects: tests call ``apply`` on it directly."""
    return TrustAdapter(AdapterConfig(trust=trust, out_dir=tmp_path / trust,
                                      bootstrap_servers="127.0.0.1:1", **kwargs))


def apply_all(adapter: TrustAdapter, stream: Stream) -> None:
    for n, (envelope, payload) in enumerate(stream.events):
        adapter.consumer.apply(consumed(envelope, payload, n))
    adapter.outputs.sync_new()


def rows(adapter: TrustAdapter, table: str) -> dict[str, dict[str, Any]]:
    with adapter.engine.connect() as conn:
        return {r[next(iter(r))]: r for r in register.SqlView(conn).where(table)}


# --- the broker ---------------------------------------------------------------------------
def fresh_topics(bootstrap: str, n: int = 1) -> list[str]:
    """Fresh topics (and their DLQs) for one test: a shared broker's history can't leak in."""
    names = [f"adapter-test-{uuid.uuid4().hex[:10]}" for _ in range(n)]
    specs = [spec for name in names for spec in (
        TopicSpec(name, 3, 86_400_000, 1), TopicSpec(dlq_topic(name), 1, 86_400_000, 1))]
    ensure_topics(bootstrap, specs)
    return names


def publish(bootstrap: str, topic: str, events: Iterable[tuple[EventEnvelope, Any]],
            value: Callable[[EventEnvelope], bytes] = lambda env: env.data) -> None:
    producer = idempotent_producer(bootstrap, client_id="adapter-tests")
    futures = [producer.send(topic, key=env.key.encode(), value=value(env),
                             headers=env.headers()) for env, _ in events]
    producer.flush()
    for future in futures:
        future.get(timeout=20)
    producer.close()


def broker_adapter(tmp_path: Path, bootstrap: str, topic: str, ack_topic: str,
                   trust: str = TRUST_A, name: str | None = None, **kwargs: Any
                   ) -> TrustAdapter:
    return TrustAdapter(AdapterConfig(
        trust=trust, out_dir=tmp_path / (name or trust), bootstrap_servers=bootstrap,
        topics=(topic,), ack_topic=ack_topic, group=f"trust.{trust}.{uuid.uuid4().hex[:6]}",
        ack_interval=0.0, **kwargs))


def _in_threads(adapters: Iterable[TrustAdapter], done: Callable[[TrustAdapter], bool],
                timeout: float) -> None:
    """Poll each adapter in its own thread until ``done`` (a client only talks to the
    broker while it polls, so polling several in turn would slow each one's join)."""
    deadline = time.monotonic() + timeout

    def work(adapter: TrustAdapter) -> None:
        while not done(adapter) and time.monotonic() < deadline:
            adapter.poll_once(100)

    threads = [threading.Thread(target=work, args=(a,)) for a in adapters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def wait_assigned(*adapters: TrustAdapter, timeout: float = 30) -> None:
    """Join every adapter's group (tansu: about session_timeout_ms / 2 each, in parallel)."""
    _in_threads(adapters, lambda a: bool(a.consumer.consumer().assignment()), timeout)
    assert all(a.consumer.consumer().assignment() for a in adapters), "group join timed out"


def drain(adapters: Iterable[TrustAdapter], until: Callable[[], bool],
          timeout: float = 30) -> None:
    _in_threads(list(adapters), lambda _: until(), timeout)
    assert until(), "timed out waiting for the adapters"


def applied(adapter: TrustAdapter) -> int:
    stats = adapter.consumer.stats
    return stats.applied + stats.dead_lettered


def files(out_dir: Path) -> dict[str, bytes]:
    """Every output file under ``out_dir`` except the register database."""
    return {str(p.relative_to(out_dir)): p.read_bytes() for p in sorted(out_dir.rglob("*"))
            if p.is_file() and not p.name.startswith("register.db")}
