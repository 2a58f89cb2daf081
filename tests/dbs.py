"""Throwaway databases for tests: SQLite files and PostgreSQL databases on TEST_DATABASE_URL."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from events.database import normalise_database_url


@contextmanager
def scratch_postgres_database(server_url: str, prefix: str = "mkt_test") -> Iterator[str]:
    """Create an empty PostgreSQL database for the duration of the block; yields its URL.

    A database of its own keeps concurrent test runs on one server out of each other's way.
    """
    url = make_url(normalise_database_url(server_url))
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
