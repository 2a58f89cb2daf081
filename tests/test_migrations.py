"""The schema comes from Alembic: one head, upgrades an empty database, matches the models."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DatabaseError

import marketplace.models  # noqa: F401
from marketplace import migrate
from marketplace.kernel.db import make_engine, metadata
from tests.dbs import scratch_postgres_database

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")


def test_exactly_one_migration_head() -> None:
    assert len(migrate.heads()) == 1, f"several Alembic heads: {migrate.heads()}"


def _check_empty_database_upgrades(url: str) -> None:
    engine = make_engine(url)
    try:
        assert migrate.current_revision(engine) is None
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.heads()[0]
        migrate.upgrade(engine)  # idempotent
        assert set(metadata.tables) <= set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"include_name": migrate.include_name})  # skips FTS objects
            diff = compare_metadata(context, metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
        migrate.downgrade(engine, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(engine)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT last_position FROM event_feed_counter")).scalar() == 0
    finally:
        engine.dispose()


def test_upgrade_empty_sqlite_database(tmp_path: Path) -> None:
    _check_empty_database_upgrades(f"sqlite:///{tmp_path / 'empty.db'}")


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="TEST_DATABASE_URL is not set")
def test_upgrade_empty_postgresql_database() -> None:
    assert TEST_DATABASE_URL
    with scratch_postgres_database(TEST_DATABASE_URL, prefix="mkt_migr") as url:
        _check_empty_database_upgrades(url)


def test_audit_table_is_append_only(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO audit_event (at, actor_id, actor_role, action, object_type, object_id,"
                " changes) VALUES (CURRENT_TIMESTAMP, 'x', 'admin', 'a', 'o', '1', '{}')"))
        for statement in ("UPDATE audit_event SET action = 'tampered'", "DELETE FROM audit_event"):
            with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
                conn.execute(text(statement))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT action FROM audit_event")).scalars().all() == ["a"]
    finally:
        engine.dispose()


def _check_outbox_publication_moves(url: str) -> None:
    """0004 moves publication state out of the outbox rows, and back on downgrade."""
    engine = make_engine(url)
    row = ("INSERT INTO outbox (event_id, topic, aggregate_key, record_key, sequence, ce_type,"
           " ce_source, ce_time, data, created_at, published_at, feed_position) VALUES"
           " (:e, 't', 'approval/a', 'a', :s, 'x', 'src', CURRENT_TIMESTAMP, '{}',"
           " CURRENT_TIMESTAMP, :p, :f)")
    try:
        migrate.upgrade(engine, "0003")
        with engine.begin() as conn:
            conn.execute(text(row), {"e": "e1", "s": 1, "p": "2026-11-21 08:00:00+00:00",
                                     "f": 7})
            conn.execute(text(row), {"e": "e2", "s": 2, "p": None, "f": None})
        migrate.upgrade(engine)
        with engine.connect() as conn:
            feed = conn.execute(text("SELECT f.position, o.event_id FROM event_feed f"
                                     " JOIN outbox o ON o.id = f.outbox_id")).all()
            pending = conn.execute(text("SELECT o.event_id, p.aggregate_key, p.sequence"
                                        " FROM outbox_pending p JOIN outbox o"
                                        " ON o.id = p.outbox_id")).all()
        assert [tuple(r) for r in feed] == [(7, "e1")]
        assert [tuple(r) for r in pending] == [("e2", "approval/a", 2)]
        migrate.downgrade(engine, "0003")
        with engine.connect() as conn:
            back = conn.execute(text("SELECT event_id, feed_position, published_at IS NULL"
                                     " FROM outbox ORDER BY id")).all()
        assert [tuple(r) for r in back] == [("e1", 7, False), ("e2", None, True)]
    finally:
        engine.dispose()


def test_outbox_publication_moves_on_sqlite(tmp_path: Path) -> None:
    _check_outbox_publication_moves(f"sqlite:///{tmp_path / 'moves.db'}")


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="TEST_DATABASE_URL is not set")
def test_outbox_publication_moves_on_postgresql() -> None:
    assert TEST_DATABASE_URL
    with scratch_postgres_database(TEST_DATABASE_URL, prefix="mkt_migr") as url:
        _check_outbox_publication_moves(url)


def _check_organisations_get_public_ids(url: str) -> None:
    """0005 gives every existing organisation its own UUID, unique and not null."""
    engine = make_engine(url)
    row = ("INSERT INTO organisation (code, kind, name, created_at, updated_at, version)"
           " VALUES (:c, 'icb', :n, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)")
    try:
        migrate.upgrade(engine, "0004")
        with engine.begin() as conn:
            for code in ("QOP", "QMJ"):
                conn.execute(text(row), {"c": code, "n": f"ICB {code}"})
        migrate.upgrade(engine)
        with engine.connect() as conn:
            ids = conn.execute(text("SELECT public_id FROM organisation")).scalars().all()
        assert len(ids) == len(set(ids)) == 2
        assert all(str(uuid.UUID(public_id)) == public_id for public_id in ids)
        with pytest.raises(DatabaseError), engine.begin() as conn:
            conn.execute(text("UPDATE organisation SET public_id = NULL"))
        migrate.downgrade(engine, "0004")
        migrate.upgrade(engine)
    finally:
        engine.dispose()


def test_organisations_get_public_ids_on_sqlite(tmp_path: Path) -> None:
    _check_organisations_get_public_ids(f"sqlite:///{tmp_path / 'public_ids.db'}")


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="TEST_DATABASE_URL is not set")
def test_organisations_get_public_ids_on_postgresql() -> None:
    assert TEST_DATABASE_URL
    with scratch_postgres_database(TEST_DATABASE_URL, prefix="mkt_migr") as url:
        _check_organisations_get_public_ids(url)
