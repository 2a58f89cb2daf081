"""Every stored string fits its column, checked before the insert, on every database alike.

SQLite ignores ``VARCHAR(n)``; PostgreSQL refuses a longer value with an error that would
surface as a 500. So before each flush, every new or changed string attribute of a mapped
object is measured against its column's length, and a longer one is a 422 naming the
field. Schemas bound what callers send; this catches what a service derives or a schema
forgot, for every area at once.
"""
from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from sqlalchemy import String, event, inspect
from sqlalchemy.orm import Mapper, Session, sessionmaker

from marketplace.kernel.errors import InvalidInput


@functools.cache
def _limits(mapper: Mapper[Any]) -> tuple[tuple[str, int], ...]:
    """Each bounded string attribute of ``mapper`` and its length (read once per class)."""
    return tuple((attr.key, column.type.length) for attr in mapper.column_attrs
                 for column in attr.columns
                 if isinstance(column.type, String) and column.type.length)


def _too_long(objects: Iterable[Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for obj in objects:
        state = inspect(obj)
        for key, length in _limits(state.mapper):
            value = state.dict.get(key)
            if isinstance(value, str) and len(value) > length:
                errors[key] = [f"at most {length} characters"]
    return errors


def _check(session: Session, flush_context: Any, instances: Any) -> None:
    errors = _too_long([*session.new, *session.dirty])
    if errors:
        raise InvalidInput("Some values are longer than can be stored.", errors)


def enforce(factory: sessionmaker) -> sessionmaker:
    """Check column lengths on every flush of sessions from ``factory``."""
    event.listen(factory, "before_flush", _check)
    return factory
