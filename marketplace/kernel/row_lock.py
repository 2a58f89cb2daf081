"""Row locks for a transition: ``SELECT ... FOR UPDATE`` of the row, read afresh.

PostgreSQL blocks a concurrent transition on the same row until this transaction ends;
SQLite's writers are already serialised (``BEGIN IMMEDIATE``). The row is re-read
(``populate_existing``), so a request that waited for the lock sees what the winner
left, not what this session had cached.
"""
from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, select

from marketplace.kernel.errors import NotFound
from marketplace.kernel.unit_of_work import UnitOfWork

T = TypeVar("T")


def for_update(stmt: Select[Any], model: type[Any]) -> Select[Any]:
    """``stmt`` locking the rows of ``model`` it reads, and reading them afresh."""
    return stmt.with_for_update(of=model).execution_options(populate_existing=True)


def locked(uow: UnitOfWork, model: type[T], key: str, what: str) -> T:
    """The ``model`` row whose ``id`` is ``key``, locked; 404 naming ``what`` if none."""
    key_column = model.id  # type: ignore[attr-defined]
    row = uow.session.scalar(for_update(select(model).where(key_column == key), model))
    if row is None:
        raise NotFound(f"No {what} has the id {key!r}.")
    return row  # type: ignore[no-any-return]
