"""Kafka topic names of the public contract (CONTRACT.md, Events)."""
from __future__ import annotations

INNOVATIONS = "marketplace.innovations"
APPROVALS = "marketplace.approvals"
FRAMEWORKS = "marketplace.frameworks"
DEMAND = "marketplace.demand"
TENDERS = "marketplace.tenders"
FUNDING = "marketplace.funding"
ORDERS = "marketplace.orders"
ACKS = "marketplace.acks"

ALL_TOPICS: tuple[str, ...] = (
    INNOVATIONS, APPROVALS, FRAMEWORKS, DEMAND, TENDERS, FUNDING, ORDERS, ACKS,
)
DLQ_SUFFIX = ".dlq"


def dlq_topic(topic: str) -> str:
    """The dead-letter topic for ``topic``."""
    return topic + DLQ_SUFFIX
