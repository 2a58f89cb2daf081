"""``marketplace relay``: the transport's relay, publishing the marketplace's outbox."""
from __future__ import annotations

import logging
from functools import partial

from events.producer import idempotent_producer
from events.relay import DEFAULT_BATCH_SIZE, Relay
from events.topics import ensure_topics
from marketplace.bootstrap import Marketplace
from marketplace.entrypoints.worker import configure_logging, stop_on_signals
from marketplace.kernel.outbox import outbox_tables

log = logging.getLogger(__name__)


def build_relay(marketplace: Marketplace, bootstrap_servers: str,
                batch_size: int = DEFAULT_BATCH_SIZE) -> Relay:
    return Relay(engine=marketplace.engine, tables=outbox_tables,
                 producer_factory=partial(idempotent_producer, bootstrap_servers),
                 batch_size=batch_size)


def run_relay(marketplace: Marketplace, bootstrap_servers: str,
              batch_size: int = DEFAULT_BATCH_SIZE) -> None:
    """Create the topics, then publish until SIGINT or SIGTERM."""
    configure_logging()
    created = ensure_topics(bootstrap_servers)
    if created:
        log.info("created topics: %s", ", ".join(created))
    relay = build_relay(marketplace, bootstrap_servers, batch_size)
    stop = stop_on_signals()
    log.info("relay publishing to %s", bootstrap_servers)
    relay.run(stop)
    marketplace.dispose()
