"""Statements compiled once and run on the transaction's DBAPI cursor, for per-event hot paths.

``Connection.execute`` costs SQLAlchemy tens of microseconds per statement even when the
compiled form is cached (cache key, execution context, events, result wrapping), several
times what SQLite itself needs for a one-row upsert; a trust adapter runs a few such
statements per event, and every event is applied at every trust. A :class:`Prepared`
statement is compiled once per dialect and run on the DBAPI connection underneath the
SQLAlchemy connection, so inside the same transaction (or savepoint), after the
``before_cursor_execute`` listeners Core would call. Values go through
SQLAlchemy's own bind and result processors, so rows are stored and read back exactly
as Core would store and read them, and DBAPI errors are raised as SQLAlchemy's
(``IntegrityError`` ...), as ``Connection.execute`` would raise them.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable, Select

Processor = Callable[[Any], Any]
Params = Sequence[Any] | dict[str, Any]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # (name in the values, name in the SQL, processor) in positional order: a named
    # paramstyle may render a bind under an escaped name.
    binds: tuple[tuple[str, str, Processor | None], ...]
    positional: bool
    columns: tuple[str, ...]  # of a SELECT
    results: tuple[Processor | None, ...]
    # Values the statement binds itself (a literal in a WHERE, SQLite's ``OFFSET 0``),
    # used unless the caller gives the name.
    defaults: Mapping[str, Any]

    @cached_property
    def _values(self) -> Callable[[Mapping[str, Any]], Any]:
        names = [name for name, _, _ in self.binds]
        if len(names) == 1:
            return lambda values: (values[names[0]],)
        return itemgetter(*names)

    @cached_property
    def _processed(self) -> tuple[tuple[int, Processor], ...]:
        return tuple((n, process) for n, (_, _, process) in enumerate(self.binds)
                     if process is not None)

    def params(self, values: Mapping[str, Any]) -> Params:
        if self.defaults:
            values = {**self.defaults, **values}
        if self.positional:
            params = list(self._values(values)) if self.binds else []
            for n, process in self._processed:
                params[n] = process(params[n])
            return params
        return {key: values[name] if process is None else process(values[name])
                for name, key, process in self.binds}


class Prepared:
    """One statement, built by ``build(dialect_name)`` and compiled on first use per dialect."""

    def __init__(self, build: Callable[[str], Executable]) -> None:
        self.build = build
        self._compiled: dict[str, _Compiled] = {}

    @classmethod
    def of(cls, statement: Executable) -> Prepared:
        """The same statement on every dialect."""
        return cls(lambda _dialect: statement)

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            statement = self.build(dialect.name)
            form = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
            positional = bool(form.positional)
            names = list(form.positiontup or []) if positional else list(form.binds)
            escaped = form.escaped_bind_names or {}
            binds = tuple((name, escaped.get(name, name), form.binds[name].type
                           .dialect_impl(dialect).bind_processor(dialect)) for name in names)
            columns: tuple[str, ...] = ()
            results: tuple[Processor | None, ...] = ()
            if isinstance(statement, Select):
                selected = list(statement.selected_columns)
                columns = tuple(str(column.key) for column in selected)
                results = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None)
                                for column in selected)
            defaults = {name: form.binds[name].effective_value for name in names
                        if form.binds[name].value is not None}
            compiled = _Compiled(form.string, binds, positional, columns, results, defaults)
            self._compiled[dialect.name] = compiled
        return compiled

    @staticmethod
    def _cursor(conn: Connection, compiled: _Compiled, many: bool,
                params: Params | list[Params]) -> Any:
        dialect = conn.dialect
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            if conn.dispatch.before_cursor_execute:  # listeners see it as Core's statements
                conn.dispatch.before_cursor_execute(conn, cursor, compiled.sql, params, None,
                                                    many)
            if many:
                cursor.executemany(compiled.sql, params)
            else:
                cursor.execute(compiled.sql, params)
        except BaseException as exc:
            cursor.close()
            if not isinstance(exc, dialect.loaded_dbapi.Error):
                raise
            raise DBAPIError.instance(compiled.sql, params, exc, dialect.loaded_dbapi.Error,
                                      dialect=dialect, ismulti=many) from exc
        return cursor

    def execute(self, conn: Connection, values: Mapping[str, Any]) -> None:
        """Run a statement that returns no rows, with ``values`` bound by name."""
        compiled = self._for(conn.dialect)
        self._cursor(conn, compiled, False, compiled.params(values)).close()

    def executemany(self, conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
        """Run a statement that returns no rows once per row of values."""
        compiled = self._for(conn.dialect)
        params = [compiled.params(values) for values in rows]
        if params:
            self._cursor(conn, compiled, True, params).close()

    def tuples(self, conn: Connection, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run a SELECT; its rows exactly as the DBAPI returns them (no result processing).

        For a caller that converts the few values it needs itself, more cheaply than the
        column types would (the relay reads timestamps only to put them on the wire).
        """
        compiled = self._for(conn.dialect)
        cursor = self._cursor(conn, compiled, False, compiled.params(values))
        try:
            return cursor.fetchall()  # type: ignore[no-any-return]
        finally:
            cursor.close()

    def rows(self, conn: Connection, values: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Run a SELECT; its rows as dicts keyed by the selected columns' keys."""
        fetched = self.tuples(conn, values)
        compiled = self._for(conn.dialect)
        pairs = tuple(zip(compiled.columns, compiled.results, strict=True))
        return [{column: value if process is None else process(value)
                 for (column, process), value in zip(pairs, row, strict=True)}
                for row in fetched]
