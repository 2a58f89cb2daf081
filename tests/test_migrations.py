"""The schema comes from Alembic: one head, upgrades an empty database, matches the models."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DatabaseError

import marketplace.models  # noqa: F401
from marketplace import migrate
from marketplace.db import make_engine, metadata
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
