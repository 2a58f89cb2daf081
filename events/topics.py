"""Kafka topics of the marketplace, declared in one place.

Names come from ``schemas.events.topics`` (the public contract); this module adds
the operational settings and creates missing topics. Production values and the
reasoning behind them are in ``docs/kafka.md``.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, replace

from events.bootstrap import BOOTSTRAP_ENV, bootstrap_servers_from_env
from schemas.events.topics import ALL_TOPICS, dlq_topic

DAY_MS = 24 * 60 * 60 * 1000
DEFAULT_PARTITIONS = 3
DEFAULT_REPLICATION_FACTOR = 1
DOMAIN_RETENTION_MS = 7 * DAY_MS
# Dead letters wait for a human, who may be on leave: keep them longer.
DLQ_RETENTION_MS = 30 * DAY_MS

PARTITIONS_ENV = "KAFKA_TOPIC_PARTITIONS"
REPLICATION_FACTOR_ENV = "KAFKA_REPLICATION_FACTOR"


@dataclass(frozen=True)
class TopicSpec:
    """How one topic should be created."""

    name: str
    partitions: int = DEFAULT_PARTITIONS
    retention_ms: int = DOMAIN_RETENTION_MS
    replication_factor: int = DEFAULT_REPLICATION_FACTOR

    def configs(self) -> dict[str, str]:
        """Topic-level configs sent with CreateTopics.

        ``cleanup.policy=delete``: events are an append-only log, never compacted.
        ``min.insync.replicas`` is 2 from replication factor 3 upward, so ``acks=all``
        survives one broker down; with 1 or 2 replicas it must be 1 to stay writable.
        """
        return {
            "cleanup.policy": "delete",
            "retention.ms": str(self.retention_ms),
            "min.insync.replicas": str(min(2, max(1, self.replication_factor - 1))),
        }


TOPIC_SPECS: tuple[TopicSpec, ...] = tuple(
    spec
    for name in ALL_TOPICS
    for spec in (
        TopicSpec(name),
        TopicSpec(dlq_topic(name), retention_ms=DLQ_RETENTION_MS),
    )
)


def _positive_int_env(name: str) -> int | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}")
    return value


def effective_specs(
    specs: Iterable[TopicSpec] = TOPIC_SPECS, replication_factor: int | None = None
) -> list[TopicSpec]:
    """Apply deployment overrides: the argument, else ``$KAFKA_REPLICATION_FACTOR``;
    ``$KAFKA_TOPIC_PARTITIONS`` replaces every spec's partition count."""
    partitions = _positive_int_env(PARTITIONS_ENV)
    if replication_factor is None:
        replication_factor = _positive_int_env(REPLICATION_FACTOR_ENV)
    elif replication_factor < 1:
        raise ValueError(f"replication_factor must be >= 1, got {replication_factor}")
    result = []
    for spec in specs:
        if partitions is not None:
            spec = replace(spec, partitions=partitions)
        if replication_factor is not None:
            spec = replace(spec, replication_factor=replication_factor)
        result.append(spec)
    return result


def ensure_topics(
    bootstrap_servers: str,
    specs: Iterable[TopicSpec] = TOPIC_SPECS,
    replication_factor: int | None = None,
) -> list[str]:
    """Create the topics that don't exist yet; return the names created.

    Idempotent: topics that already exist (including ones a concurrent caller just
    created) are left alone, even if their settings differ from the spec.
    """
    from kafka import KafkaAdminClient
    from kafka.errors import TopicAlreadyExistsError, for_code

    wanted = effective_specs(specs, replication_factor)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="marketplace-topics")
    try:
        existing = set(admin.list_topics())
        missing = [s for s in wanted if s.name not in existing]
        if not missing:
            return []
        response = admin.create_topics(
            {
                s.name: {
                    "num_partitions": s.partitions,
                    "replication_factor": s.replication_factor,
                    "configs": s.configs(),
                }
                for s in missing
            },
            raise_errors=False,
        )
        created: set[str] = set()
        for result in response["topics"]:
            error = for_code(result["error_code"])
            if result["error_code"] == 0:
                created.add(result["name"])
            elif error is not TopicAlreadyExistsError:
                raise error(f"creating topic {result['name']!r}: {result['error_message']}")
        if created:
            # CreateTopics only means "accepted"; wait until leaders are elected so
            # the caller can produce straight away.
            admin.wait_for_topics(sorted(created))
    finally:
        admin.close()
    # Report in declaration order, not broker response order.
    return [s.name for s in missing if s.name in created]


def main() -> int:
    """``python -m events.topics``: create missing topics on ``$KAFKA_BOOTSTRAP_SERVERS``."""
    bootstrap = bootstrap_servers_from_env()
    if bootstrap is None:
        print(f"set {BOOTSTRAP_ENV}")
        return 2
    created = ensure_topics(bootstrap)
    print("created: " + (", ".join(created) if created else "nothing, all topics exist"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
