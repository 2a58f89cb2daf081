"""Engine, session factory and the declarative base shared by every area's models.

The naming convention gives every constraint a deterministic name, so Alembic
migrations can refer to (and drop) them on SQLite and PostgreSQL alike.
"""
from __future__ import annotations

import enum
from collections.abc import Iterable

from sqlalchemy import JSON, Engine, Enum, MetaData
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, sessionmaker

from events.database import make_engine as make_engine  # re-exported: one engine recipe
from events.sqltypes import UtcDateTime as UtcDateTime  # re-exported for the models
from marketplace.kernel import column_limits

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# JSONB on PostgreSQL (indexable, compact), JSON text elsewhere.
JsonType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = metadata


def str_enum(enum_cls: type[enum.StrEnum], name: str) -> Enum:
    """A database enum stored by value (``"icb"``), not by member name (``"ICB"``)."""
    return Enum(enum_cls, name=name, values_callable=lambda e: [m.value for m in e],
                validate_strings=True)


def make_session_factory(engine: Engine) -> sessionmaker:
    """Sessions whose flushes refuse strings longer than their columns
    (:mod:`marketplace.kernel.column_limits`)."""
    return column_limits.enforce(
        sessionmaker(bind=engine, expire_on_commit=False, autoflush=True))


def in_list(values: Iterable[str]) -> str:
    """``'a', 'b'``: a sorted SQL list of literals for a CHECK constraint or index predicate."""
    return ", ".join(f"'{v}'" for v in sorted(values))
