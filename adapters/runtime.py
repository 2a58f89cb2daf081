"""One trust adapter: the consumer runtime, the route, the register and the outputs wired up.

Built on ``events.consumer.EventConsumer`` (consumer group ``trust.<ODS>``, inbox
dedupe, per-aggregate sequence checks, bounded retries then ``<topic>.dlq``, offsets
committed after the database transaction), merged across partitions by event time
(``adapters.ordering``). The adapter adds the route as the handler, gap healing from
the marketplace's feed as ``on_gap``, and after each poll: files from the register,
webhook deliveries and a ``route.applied`` acknowledgement.
"""
from __future__ import annotations

import functools
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from kafka import KafkaProducer
from kafka.errors import KafkaError
from sqlalchemy import Connection

from adapters import acks, peppol, register, route
from adapters.feed import FeedClient, FeedError
from adapters.ordering import EventTimeConsumer
from adapters.outputs import OutputWriter
from adapters.peppol import TrustIdentity
from adapters.webhook import WebhookSender, enqueue
from events.consumer import ConsumedEvent, Gap, UnhealedGap
from events.producer import idempotent_producer
from schemas.events import registry
from schemas.events.registry import parse_ce_type
from schemas.events.topics import ACKS, ALL_TOPICS

log = logging.getLogger(__name__)

#: Every contract topic except the acknowledgements (adapters ack; they don't read acks).
DEFAULT_TOPICS: tuple[str, ...] = tuple(t for t in ALL_TOPICS if t != ACKS)


@functools.lru_cache(maxsize=8192)
def validate(ce_type: str, raw: bytes) -> None:
    """Check an event's data against its schema; raises ``ValidationError``.

    A pure function of the bytes, so adapters sharing a process (the benchmark runs
    ten trusts per process) validate each event once; failures are never cached.
    """
    registry.validate(ce_type, json.loads(raw))


class SequenceGap(UnhealedGap):
    """A gap that cannot be healed here; raised so the record is retried, then dead-lettered
    without being marked consumed."""


@dataclass
class AdapterConfig:
    trust: str
    out_dir: Path
    bootstrap_servers: str
    database_url: str | None = None
    register_url: str | None = None
    token: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    topics: tuple[str, ...] = DEFAULT_TOPICS
    ack_topic: str = ACKS
    group: str | None = None
    ack_interval: float = 5.0  # seconds between acks while events keep arriving
    identity: TrustIdentity | None = None
    session_timeout_ms: int = 6000
    # A fetch is answered once 64 KB are waiting or after 200 ms: a trust sees an event
    # within 0.2 s, and a busy stream arrives in batches rather than a fetch per event.
    # Each fetch costs kafka-python (and the broker) milliseconds of CPU whatever it
    # carries: with twenty adapters on two cores, answering at the first byte after at
    # most 100 ms cost more CPU and gave a worse p99 (BENCHMARKS.md, fan-out).
    consumer_config: dict[str, object] = field(
        default_factory=lambda: {"fetch_max_wait_ms": 200, "fetch_min_bytes": 65536})

    @property
    def consumer_name(self) -> str:
        return self.group or f"trust.{self.trust}"


class TrustAdapter:
    """Applies the route at one trust. ``run`` until stopped, or ``poll_once`` in tests."""

    def __init__(self, config: AdapterConfig) -> None:
        self.config = config
        self.trust = config.trust
        self.identity = config.identity or TrustIdentity.default(config.trust)
        config.out_dir.mkdir(parents=True, exist_ok=True)
        self.engine = register.open_register(
            config.database_url or register.default_url(config.out_dir), config.trust,
            config.consumer_name)
        self.consumer = EventTimeConsumer(
            name=config.consumer_name, bootstrap_servers=config.bootstrap_servers,
            topics=list(config.topics), engine=self.engine, inbox=register.inbox,
            sequences=register.sequences, handler=self.handle, on_gap=self.heal,
            session_timeout_ms=config.session_timeout_ms,
            consumer_config=dict(config.consumer_config))
        self.outputs = OutputWriter(self.engine, config.out_dir)
        self.outputs.sync_all()
        self.feed = FeedClient(config.register_url, config.token) if config.register_url \
            else None
        self.webhook = WebhookSender(config.webhook_url, config.webhook_secret or "",
                                     self.engine) if config.webhook_url else None
        self._ack_producer: KafkaProducer | None = None
        self._files_due = False  # set when a batch stored journal lines or documents
        self._ack_due = True  # one ack at start says where this trust stands
        self._last_ack = 0.0
        self.acks_sent = 0

    # -- applying ------------------------------------------------------------------------

    def handle(self, conn: Connection, event: ConsumedEvent) -> None:
        """The consumer's handler: validate, run the route, store its effects."""
        env = event.envelope
        validate(env.type, env.data)  # ValidationError: retried, then DLQ
        data = event.data  # the wire form, as every trust received it
        name, _ = parse_ce_type(env.type)
        facts = route.EventFacts(id=env.id, type=env.type, name=name,
                                 time=env.time.isoformat(), sequence=env.sequence)
        effects = route.apply(self.trust, data, facts, register.SqlView(conn))
        documents = [(doc.kind, doc.path, peppol.render(doc.kind, doc.record, self.identity))
                     for doc in effects.documents]
        register.write(conn, effects, documents, env.id)
        if effects.journal or documents:
            self._files_due = True
        if self.webhook is not None:
            enqueue(conn, self.trust, env.id, env.type, effects)

    def heal(self, conn: Connection, event: ConsumedEvent, gap: Gap) -> None:
        """``on_gap``: apply the missing events from the feed first, in order.

        Without ``--register-url`` (or when the feed cannot supply them) this raises,
        so the record is retried and, after the bounded retries, dead-lettered with
        the gap as its error: loud, never a silent skip.
        """
        if self.feed is None:
            raise SequenceGap(f"gap in {gap.stream}: expected sequence {gap.expected}, got "
                              f"{gap.received}; no --register-url to re-read it from")
        try:
            missing = self.feed.missing(event.topic, gap.stream, gap.expected,
                                        gap.received - 1)
        except FeedError as exc:
            raise SequenceGap(f"gap in {gap.stream} not healed: {exc}") from exc
        for healed in missing:
            self.handle(conn, healed)
            # The runtime's own bookkeeping, so a healed event is recorded exactly like a
            # consumed one (inbox row and sequence) in this same transaction.
            self.consumer.record_applied(conn, healed)
        log.info("%s: healed %s sequence %d-%d from the feed", self.trust, gap.stream,
                 gap.expected, gap.received - 1)

    # -- the loop ------------------------------------------------------------------------

    def poll_once(self, timeout_ms: int = 500) -> int:
        count = self.consumer.poll_once(timeout_ms)
        if count:
            self._ack_due = True
        if self._files_due:
            self._files_due = False
            self.outputs.sync_new()
        if self.webhook is not None:
            self.webhook.deliver_pending()
        self.maybe_ack()
        return count

    @property
    def ack_due(self) -> bool:
        """Whether something was applied since the last acknowledgement."""
        return self._ack_due

    def maybe_ack(self, force: bool = False) -> bool:
        """Publish ``route.applied`` if something was applied and the interval has passed."""
        if not (self._ack_due or force):
            return False
        if not force and time.monotonic() - self._last_ack < self.config.ack_interval:
            return False
        try:
            self.publish_ack()
        except (KafkaError, OSError) as exc:
            log.warning("%s: acknowledgement not published (%s); will retry", self.trust, exc)
            self._close_producer()
            return False
        return True

    def publish_ack(self) -> None:
        with self.engine.begin() as conn:
            envelope = acks.build(conn, self.trust, self.config.consumer_name,
                                  datetime.now(UTC))
            producer = self._producer()
            future = producer.send(self.config.ack_topic, key=envelope.key.encode(),
                                   value=envelope.data, headers=envelope.headers())
            producer.flush()
            future.get(timeout=30)
        self._ack_due = False
        self._last_ack = time.monotonic()
        self.acks_sent += 1

    def _producer(self) -> KafkaProducer:
        if self._ack_producer is None:
            self._ack_producer = idempotent_producer(
                self.config.bootstrap_servers, client_id=f"{self.config.consumer_name}-acks")
        return self._ack_producer

    def _close_producer(self) -> None:
        if self._ack_producer is not None:
            self._ack_producer.close(timeout=5)
            self._ack_producer = None

    def run(self, stop: threading.Event, timeout_ms: int = 500) -> None:
        log.info("trust adapter %s: group %s, topics %s, route %s", self.trust,
                 self.config.consumer_name, ", ".join(self.config.topics), route.ROUTE_VERSION)
        try:
            while not stop.is_set():
                self.poll_once(timeout_ms)
            self.maybe_ack(force=self.ack_due)
        finally:
            self.close()

    def close(self) -> None:
        self.consumer.close()
        self._close_producer()
        self.engine.dispose()
