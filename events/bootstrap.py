"""Which Kafka cluster to use: ``$KAFKA_BOOTSTRAP_SERVERS``, read in one place.

The embedded broker (:mod:`events.broker`, started only when this is unset) and topic
creation (:mod:`events.topics`) both need it; it lives apart from both so that neither
has to import the other for it.
"""
from __future__ import annotations

import os

BOOTSTRAP_ENV = "KAFKA_BOOTSTRAP_SERVERS"


def bootstrap_servers_from_env() -> str | None:
    """``KAFKA_BOOTSTRAP_SERVERS`` if set (non-blank): use that cluster, don't start tansu."""
    value = os.environ.get(BOOTSTRAP_ENV, "").strip()
    return value or None
