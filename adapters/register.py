"""The trust's register database: the route's tables, journal lines, issued documents.

SQLite (``DIR/register.db``) by default, PostgreSQL when given a URL. Every value is
stored as the route produced it (instants as UTC RFC 3339 text, money as integer
pence, lists as canonical JSON), so a register reads back identically on either
backend and hashes identically. Effects are written on the consumer's connection,
inside the transaction that also records the event in the inbox: all or nothing.
"""
from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from adapters import route
from events.database import make_engine
from events.prepared import Prepared
from events.tables import consumer_sequence_table, inbox_table

metadata = MetaData()
inbox = inbox_table(metadata)
sequences = consumer_sequence_table(metadata)

_KINDS = {"str": Text, "int": BigInteger, "bool": Boolean, "json": Text}
_INDEXED = {"approval": "innovation_id", "framework_award": "framework_id",
            "supplier": "supplier_org_id", "purchase_order": "contract_id",
            "invoice": "order_id"}


def _route_table(name: str, columns: tuple[tuple[str, str], ...]) -> Table:
    table = Table(name, metadata, *(Column(column, _KINDS[kind]()) for column, kind in columns),
                  PrimaryKeyConstraint(columns[0][0]))
    if name in _INDEXED:
        Index(f"ix_{name}_{_INDEXED[name]}", table.c[_INDEXED[name]])
    return table


ROUTE_TABLES: dict[str, Table] = {name: _route_table(name, cols)
                                  for name, cols in route.TABLES.items()}
_JSON = {name: {c for c, kind in cols if kind == "json"} for name, cols in route.TABLES.items()}

journal_line = Table(
    "journal_line", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    *(Column(f.name, BigInteger if f.type == "int" else Text, nullable=False)
      for f in fields(route.JournalLine)),
    Index("ix_journal_line_period", "accounting_date"),
)
document = Table(
    "document", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("path", String(300), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("source_event_id", String(100), nullable=False),
)
# Digest per stored row: what the state hash (shared tables) and register hash (all) cover.
row_digest = Table(
    "row_digest", metadata,
    Column("table_name", String(40), nullable=False),
    Column("row_key", String(300), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("shared", Boolean, nullable=False),
    PrimaryKeyConstraint("table_name", "row_key"),
)
# Notifications for the trust's own system (``--webhook``), delivered after commit.
webhook_delivery = Table(
    "webhook_delivery", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(100), nullable=False, unique=True),
    Column("body", Text, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("delivered", Boolean, nullable=False, default=False),
    Column("last_error", Text),
)
# Small facts about this register: route version, the trust, the last ack number.
register_meta = Table(
    "register_meta", metadata,
    Column("name", String(40), primary_key=True),
    Column("value", Text, nullable=False),
)


def default_url(out_dir: Path) -> str:
    return f"sqlite:///{out_dir / 'register.db'}"


class RegisterMismatch(RuntimeError):
    """The register was built for another trust or another route version."""


def open_register(url: str, trust: str, consumer: str) -> Engine:
    """Create the tables if missing; refuse a register of another trust, consumer group or
    route version.

    The inbox dedupes per consumer group, and a route version change means a replay
    into a fresh register (documented), never an in-place mix of two rule sets.
    """
    engine = make_engine(url)
    metadata.create_all(engine)
    wanted = {"trust": trust, "consumer": consumer, "route_version": route.ROUTE_VERSION}
    with engine.begin() as conn:
        meta = dict(conn.execute(select(register_meta.c.name, register_meta.c.value)).all())
        if not meta:
            conn.execute(insert(register_meta), [{"name": k, "value": v} for k, v in
                                                 {**wanted, "ack_sequence": "0"}.items()])
        elif {k: meta.get(k) for k in wanted} != wanted:
            engine.dispose()
            raise RegisterMismatch(
                f"register holds trust {meta.get('trust')} (group {meta.get('consumer')}) "
                f"under route {meta.get('route_version')}; this adapter is {trust} (group "
                f"{consumer}) under route {route.ROUTE_VERSION}: replay into a fresh --out DIR")
    return engine


def read_register(url: str) -> tuple[Engine, dict[str, str]]:
    """An existing register and its facts (for ``status``); nothing is created."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            meta = dict(conn.execute(select(register_meta.c.name,
                                            register_meta.c.value)).all())
    except Exception:
        engine.dispose()
        raise
    return engine, meta


def get_meta(conn: Connection, name: str) -> str | None:
    return conn.execute(select(register_meta.c.value)
                        .where(register_meta.c.name == name)).scalar()


def set_meta(conn: Connection, name: str, value: str) -> None:
    conn.execute(update(register_meta).where(register_meta.c.name == name)
                 .values(value=value))


class SqlView:
    """:class:`adapters.route.View` over the register, on the transaction's connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @staticmethod
    def _decode(table: str, record: route.Record) -> route.Record:
        for column in _JSON[table]:
            if record[column] is not None:
                record[column] = json.loads(record[column])
        return record

    def get(self, table: str, key: str) -> route.Record | None:
        column = route.key_column(table)
        rows = _select(table, (column,)).rows(self.conn, {column: key})
        return self._decode(table, rows[0]) if rows else None

    def where(self, table: str, **equals: Any) -> list[route.Record]:
        rows = _select(table, tuple(sorted(equals))).rows(self.conn, equals)
        return [self._decode(table, row) for row in rows]


@functools.cache
def _select(table: str, columns: tuple[str, ...]) -> Prepared:
    """``SELECT * FROM table WHERE c1 = :c1 AND ...``, prepared once per shape."""
    t = ROUTE_TABLES[table]
    return Prepared.of(select(t).where(*(t.c[name] == bindparam(name) for name in columns)))


def _encode(table: str, record: route.Record) -> dict[str, Any]:
    row = {column: record.get(column) for column, _ in route.TABLES[table]}
    for column in _JSON[table]:
        if row[column] is not None:
            row[column] = route.canonical(row[column])
    return row


def _insert(table: Table, columns: Iterable[str]) -> Prepared:
    """``INSERT INTO table (columns) VALUES (:columns)``, prepared."""
    return Prepared.of(insert(table).values({name: bindparam(name, type_=table.c[name].type)
                                             for name in columns}))


@functools.cache
def _upsert_of(table: Table) -> Prepared:
    """Insert or replace a whole row by primary key, one statement per table."""
    def build(dialect: str) -> Any:
        base = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
        keys = [c.name for c in table.primary_key.columns]
        return base.on_conflict_do_update(
            index_elements=keys,
            set_={c.name: base.excluded[c.name] for c in table.columns if c.name not in keys})
    return Prepared(build)


def _upsert(conn: Connection, table: Table, row: dict[str, Any]) -> None:
    _upsert_of(table).execute(conn, row)


_INSERT_JOURNAL_LINE = _insert(journal_line, (f.name for f in fields(route.JournalLine)))
_INSERT_DOCUMENT = _insert(document, ("path", "kind", "content", "sha256", "source_event_id"))
_DELETE_DOCUMENT = Prepared.of(delete(document).where(document.c.path == bindparam("path")))


def write(conn: Connection, effects: route.Effects, documents: Iterable[tuple[str, str, bytes]],
          source_event_id: str) -> None:
    """Store the route's effects; ``documents`` are the rendered ``(kind, path, bytes)``."""
    for table, record in effects.puts:
        row = _encode(table, record)
        _upsert(conn, ROUTE_TABLES[table], row)
        _upsert(conn, row_digest, {"table_name": table, "row_key": row[route.key_column(table)],
                                   "digest": route.row_digest(record),
                                   "shared": table in route.SHARED_TABLES})
    for line in effects.journal:
        values = asdict(line)
        _INSERT_JOURNAL_LINE.execute(conn, values)
        _upsert(conn, row_digest, {"table_name": "journal_line",
                                   "row_key": f"{line.journal_id}/{line.line_number}",
                                   "digest": route.row_digest(values), "shared": False})
    for kind, path, content in documents:
        digest = hashlib.sha256(content).hexdigest()
        # Replaced, not updated: a new id tells the output writer to write the file again.
        _DELETE_DOCUMENT.execute(conn, {"path": path})
        _INSERT_DOCUMENT.execute(conn, {"path": path, "kind": kind, "content": content,
                                        "sha256": digest, "source_event_id": source_event_id})
        _upsert(conn, row_digest, {"table_name": "document", "row_key": path,
                                   "digest": digest, "shared": False})


def hashes(conn: Connection) -> tuple[str, str]:
    """``(state_hash, register_hash)``: the shared route state, and everything stored."""
    rows = conn.execute(select(row_digest.c.table_name, row_digest.c.row_key,
                               row_digest.c.digest, row_digest.c.shared)).all()
    shared = route.state_hash((t, k, d) for t, k, d, s in rows if s)
    everything = route.state_hash((t, k, d) for t, k, d, _ in rows)
    return shared, everything


def last_sequences(conn: Connection, consumer: str) -> dict[str, int]:
    return {key: int(seq) for key, seq in conn.execute(
        select(sequences.c.aggregate_key, sequences.c.last_sequence)
        .where(sequences.c.consumer == consumer)
        .order_by(sequences.c.aggregate_key))}


def applied_by_type(conn: Connection, consumer: str) -> dict[str, int]:
    return {ce_type: int(n) for ce_type, n in conn.execute(
        select(inbox.c.ce_type, func.count()).where(inbox.c.consumer == consumer)
        .group_by(inbox.c.ce_type).order_by(inbox.c.ce_type))}


def last_offsets(conn: Connection, consumer: str) -> dict[str, int]:
    """The highest offset applied per ``topic:partition`` (feed re-reads have partition -1)."""
    return {f"{topic}:{partition}": int(offset) for topic, partition, offset in conn.execute(
        select(inbox.c.topic, inbox.c.partition, func.max(inbox.c.offset))
        .where(inbox.c.consumer == consumer, inbox.c.partition >= 0)
        .group_by(inbox.c.topic, inbox.c.partition).order_by(inbox.c.topic, inbox.c.partition))}


def counts(conn: Connection) -> dict[str, int]:
    """Rows per table: what ``status`` reports and tests check for exactness."""
    tables = [*ROUTE_TABLES.values(), journal_line, document]
    return {t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in tables}
