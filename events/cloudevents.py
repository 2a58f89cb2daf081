"""CloudEvents 1.0 in Kafka binary mode: the value is the JSON ``data``, attributes are headers."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class EventEnvelope:
    """One event as it travels: CloudEvents attributes, the record key and the JSON payload."""

    id: str
    source: str
    type: str
    time: datetime
    subject: str | None
    sequence: int
    key: str
    data: bytes

    def headers(self) -> list[tuple[str, bytes]]:
        return binary_headers(self.id, self.source, self.type, self.time.isoformat(),
                              self.subject, self.sequence)


_SPECVERSION_HEADER = ("ce_specversion", SPECVERSION.encode())
_CONTENT_TYPE_HEADER = ("content-type", CONTENT_TYPE.encode())


def binary_headers(id: str, source: str, type: str, time: str, subject: str | None,
                   sequence: int) -> list[tuple[str, bytes]]:
    """The CloudEvents attributes as Kafka headers (binary content mode); ``time`` in ISO 8601.

    A plain function of the attributes, so the relay can build them straight from an
    outbox row: it runs once per event on the relay's hot path.
    """
    headers = [_SPECVERSION_HEADER, ("ce_id", id.encode()), ("ce_source", source.encode()),
               ("ce_type", type.encode()), ("ce_time", time.encode())]
    if subject:
        headers.append(("ce_subject", subject.encode()))
    headers.append(("ce_sequence", b"%d" % sequence))
    headers.append(_CONTENT_TYPE_HEADER)
    return headers


def parse_headers(headers: list[tuple[str, bytes]] | None) -> dict[str, str]:
    """Kafka headers as a ``str -> str`` map (last one wins, as the binding allows one each)."""
    return {name: (value or b"").decode("utf-8", "replace") for name, value in headers or []}


def envelope_from_record(key: bytes | None, value: bytes | None,
                         headers: list[tuple[str, bytes]] | None) -> EventEnvelope:
    """Decode a consumed Kafka record; ``ValueError`` when it is not a binary-mode CloudEvent."""
    attrs = parse_headers(headers)
    missing = [h for h in ("ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time")
               if h not in attrs]
    if missing:
        raise ValueError(f"not a binary-mode CloudEvent: missing {', '.join(missing)}")
    if attrs["ce_specversion"] != SPECVERSION:
        raise ValueError(f"unsupported CloudEvents specversion {attrs['ce_specversion']}")
    try:
        sequence = int(attrs.get("ce_sequence", "0"))
        time = datetime.fromisoformat(attrs["ce_time"])
    except ValueError as exc:
        raise ValueError(f"bad CloudEvents attribute: {exc}") from exc
    return EventEnvelope(id=attrs["ce_id"], source=attrs["ce_source"], type=attrs["ce_type"],
                         time=time, subject=attrs.get("ce_subject"), sequence=sequence,
                         key=(key or b"").decode(), data=value or b"")


def json_data(envelope: EventEnvelope) -> Any:
    import json

    return json.loads(envelope.data)
