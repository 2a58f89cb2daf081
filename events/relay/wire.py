"""The wire form of an outbox row: what the relay reads of it, and how its time is written.

The relay reads only what goes on the wire, as the DBAPI returns it, and renders the
``ce_time`` header's text without a datetime in between: SQLAlchemy's result rows and
its timestamp parsing were a measurable share of the relay's time. Both claims
(:mod:`events.relay.postgres`, :mod:`events.relay.sqlite`) read this one form, and the
pipeline hands the sending process (:mod:`events.relay_sender`) its fields from it.
"""
from __future__ import annotations

from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Row, Table, Text, func

from events.cloudevents import EventEnvelope
from events.relay_sender import FIELDS as SENT_FIELDS


def envelope(row: Row[Any]) -> EventEnvelope:
    """An outbox row (as the ``outbox`` table reads it) as the event it carries."""
    return EventEnvelope(id=row.event_id, source=row.ce_source, type=row.ce_type,
                         time=row.ce_time, subject=row.ce_subject, sequence=row.sequence,
                         key=row.record_key, data=row.data.encode())


class WireRow(NamedTuple):
    """What the relay reads of an outbox row: only what goes on the wire.

    Claimed rows are read as the DBAPI returns them and made into these directly:
    SQLAlchemy's result rows and its SQLite timestamp parsing were a measurable share of
    the relay's time, and the timestamp is only ever written out again as text.
    """

    id: int
    event_id: str
    topic: str
    aggregate_key: str
    record_key: str
    sequence: int
    ce_type: str
    ce_source: str
    ce_subject: str | None
    data: str
    ce_time: str  # ISO 8601, UTC, as the ``ce_time`` header carries it (read last: converted)


def wire_columns(outbox: Table, postgres: bool) -> list[ColumnElement[Any]]:
    """The claim's columns; PostgreSQL renders ``ce_time`` as the header carries it."""
    columns: list[ColumnElement[Any]] = [outbox.c[name] for name in WireRow._fields]
    if postgres:
        columns[-1] = iso_utc_sql(outbox.c.ce_time).label("ce_time")
    return columns


def iso_utc_sql(moment: ColumnElement[Any]) -> ColumnElement[str]:
    """A PostgreSQL ``timestamptz`` as ISO 8601 UTC text, exactly as ``isoformat`` gives it.

    Whole seconds have no fraction, as in ``isoformat``. Reading the value as a datetime
    and formatting it in Python cost 3 µs an event.
    """
    text = func.to_char(func.timezone("UTC", moment), 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')
    return func.replace(text, ".000000+", "+", type_=Text)


def iso_utc(value: datetime | str) -> str:
    """A stored ``UtcDateTime`` as ISO 8601 text, exactly as ``datetime.isoformat`` gives it.

    SQLite holds naive UTC text in SQLAlchemy's fixed ``YYYY-MM-DD HH:MM:SS.ffffff``
    form; that is rewritten here as text (a fifth of the cost of parsing it). Anything
    else (a driver's datetime, other text) is read as the column type would read it.
    (The PostgreSQL claim needs none of this: the server renders it, ``iso_utc_sql``.)
    """
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " ":
            seconds = value[11:19] if value.endswith(".000000") else value[11:]
            return f"{value[:10]}T{seconds}+00:00"
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC).isoformat()
    return value.astimezone(UTC).isoformat()


#: A claimed row, as the DBAPI returned it (``ce_time`` already as the header's text).
make_wire_row = WireRow._make
#: Of a ``WireRow``, what the sending process sends, as a plain tuple in its order.
sent_fields = itemgetter(*(WireRow._fields.index(name) for name in SENT_FIELDS))
