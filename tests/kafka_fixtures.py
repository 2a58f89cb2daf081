"""Session-wide Kafka broker for tests.

One broker per test session: tansu starts in well under a second, but consumer
group joins are the slow part, so tests should share the broker and use their
own topics and group ids. Set ``KAFKA_BOOTSTRAP_SERVERS`` to use an existing
cluster instead of starting tansu.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from events.broker import BrokerError, EmbeddedBroker, bootstrap_servers_from_env


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap servers of ``$KAFKA_BOOTSTRAP_SERVERS``, else of a fresh embedded tansu."""
    external = bootstrap_servers_from_env()
    if external is not None:
        yield external
        return
    try:
        broker = EmbeddedBroker().start()
    except BrokerError as exc:
        pytest.fail(f"embedded Kafka broker did not start: {exc}")
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()
