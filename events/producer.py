"""The one place a Kafka producer is configured for publishing events."""
from __future__ import annotations

from typing import Any

from kafka import KafkaProducer


def idempotent_producer(bootstrap_servers: str, **overrides: Any) -> KafkaProducer:
    """An idempotent, all-replicas-acknowledged producer.

    ``enable_idempotence`` and ``acks='all'`` are set explicitly (never left to
    defaults): with them a retried batch is written once and in order, and an
    acknowledged event survives the loss of the partition leader.
    """
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers.split(","),
        "enable_idempotence": True,
        "acks": "all",
        "max_in_flight_requests_per_connection": 5,
        "linger_ms": 5,
        "batch_size": 256 * 1024,
        "request_timeout_ms": 10_000,
        "delivery_timeout_ms": 30_000,
        "max_block_ms": 10_000,
        "reconnect_backoff_max_ms": 2_000,
        "client_id": "marketplace-relay",
    }
    config.update(overrides)
    return KafkaProducer(**config)
