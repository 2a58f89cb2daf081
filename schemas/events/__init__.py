"""Event payloads of the public contract: one schema per CloudEvents type, and the registry.

Use the registry rather than the schema classes: ``get(ce_type)`` for the type,
``validate`` on consume, ``dump`` on produce, ``topic_for`` / ``key_for`` to route.
"""
from schemas.events.registry import (
    CE_TYPE_PREFIX,
    REGISTRY,
    EventType,
    by_name,
    dump,
    for_topic,
    get,
    key_for,
    parse_ce_type,
    schema_for,
    topic_for,
    validate,
)

__all__ = [
    "CE_TYPE_PREFIX",
    "REGISTRY",
    "EventType",
    "by_name",
    "dump",
    "for_topic",
    "get",
    "key_for",
    "parse_ce_type",
    "schema_for",
    "topic_for",
    "validate",
]
