"""``marketplace acks``: record trust adapters' acknowledgements until stopped."""
from __future__ import annotations

import logging

from events.topics import ensure_topics
from marketplace.bootstrap import Marketplace
from marketplace.conformance.service import ACKS_CONSUMER, acks_consumer
from marketplace.entrypoints.worker import configure_logging, stop_on_signals
from schemas.events.topics import ACKS

log = logging.getLogger(__name__)


class _ExpectedAckGaps(logging.Filter):
    """Acks are numbered, not counted: the runtime's gap warning for them is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.getMessage().startswith(f"{ACKS_CONSUMER}: gap in trust/"))


def run_acks(marketplace: Marketplace, bootstrap_servers: str) -> None:
    """Consume acknowledgements until SIGINT or SIGTERM."""
    configure_logging()
    logging.getLogger("events.consumer").addFilter(_ExpectedAckGaps())
    ensure_topics(bootstrap_servers)
    consumer = acks_consumer(marketplace.engine, bootstrap_servers)
    stop = stop_on_signals()
    log.info("consuming %s as %s", ACKS, ACKS_CONSUMER)
    consumer.run(stop)
    marketplace.dispose()
