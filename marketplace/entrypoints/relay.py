"""Wiring the transport's relay to the marketplace database (``marketplace relay``)."""
from __future__ import annotations

import logging
import signal
import threading
from functools import partial

from events.producer import idempotent_producer
from events.relay import DEFAULT_BATCH_SIZE, Relay
from events.topics import ensure_topics
from marketplace.config import Settings
from marketplace.db import make_engine
from marketplace.models.events import outbox_tables

log = logging.getLogger(__name__)


def build_relay(settings: Settings, bootstrap_servers: str,
                batch_size: int = DEFAULT_BATCH_SIZE) -> Relay:
    engine = make_engine(settings.database_url)
    return Relay(engine=engine, tables=outbox_tables,
                 producer_factory=partial(idempotent_producer, bootstrap_servers),
                 batch_size=batch_size)


def run_relay(settings: Settings, bootstrap_servers: str,
              batch_size: int = DEFAULT_BATCH_SIZE) -> None:
    """Create the topics, then publish until SIGINT or SIGTERM."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    created = ensure_topics(bootstrap_servers)
    if created:
        log.info("created topics: %s", ", ".join(created))
    relay = build_relay(settings, bootstrap_servers, batch_size)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    log.info("relay publishing to %s", bootstrap_servers)
    relay.run(stop)
    relay.engine.dispose()
