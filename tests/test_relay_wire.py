"""The relay's own reading of a stored timestamp equals what the column type reads, and
the PostgreSQL claim's rendering of it equals ``isoformat``."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from functools import cache

from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import DateTime, Engine, bindparam, select
from sqlalchemy.dialects import sqlite

from events.database import make_engine
from events.relay import iso_utc, iso_utc_sql
from events.sqltypes import UtcDateTime

_SQLITE = sqlite.dialect()
_STORE = UtcDateTime().dialect_impl(_SQLITE).bind_processor(_SQLITE)
_READ = UtcDateTime().dialect_impl(_SQLITE).result_processor(_SQLITE, None)

aware = st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9998, 12, 31),
                     timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)),
                                                timezone(timedelta(hours=-8))]))


@given(aware)
def test_sqlite_text_becomes_the_iso_form_of_what_the_column_reads(moment: datetime) -> None:
    assert _STORE is not None and _READ is not None
    stored = _STORE(moment)
    assert isinstance(stored, str)  # SQLAlchemy's fixed-width text, as SQLite holds it
    assert iso_utc(stored) == _READ(stored).isoformat() == moment.astimezone(UTC).isoformat()


@given(aware)
def test_driver_datetimes_and_other_text_are_parsed(moment: datetime) -> None:
    assert iso_utc(moment) == moment.astimezone(UTC).isoformat()  # psycopg: aware
    naive_utc = moment.astimezone(UTC).replace(tzinfo=None)
    assert iso_utc(naive_utc) == moment.astimezone(UTC).isoformat()
    assert iso_utc(naive_utc.isoformat()) == moment.astimezone(UTC).isoformat()


def test_whole_seconds_drop_the_fraction_as_isoformat_does() -> None:
    assert iso_utc("2026-11-21 12:00:00.000000") == "2026-11-21T12:00:00+00:00"
    assert iso_utc("2026-11-21 12:00:00.000100") == "2026-11-21T12:00:00.000100+00:00"


@cache
def _engine(url: str) -> Engine:
    return make_engine(url)


@settings(max_examples=60, deadline=None)
@given(aware)
@example(datetime(2026, 11, 21, 12, 0, tzinfo=UTC))  # whole seconds: no fraction
@example(datetime(2026, 11, 21, 12, 0, 0, 100, tzinfo=timezone(timedelta(hours=-8))))
def test_postgres_renders_the_iso_form_isoformat_gives(postgres_url: str,
                                                        moment: datetime) -> None:
    with _engine(postgres_url).connect() as conn:
        rendered = conn.execute(select(iso_utc_sql(
            bindparam("moment", moment, type_=DateTime(timezone=True))))).scalar_one()
    assert rendered == moment.astimezone(UTC).isoformat()
