"""Shared fixtures: a migrated database per test (SQLite, and PostgreSQL when
``TEST_DATABASE_URL`` is set), an app on it, a settable clock, and tokens.

Every test that uses ``database_url`` runs once per backend; the schema comes
from the Alembic migrations, never from ``create_all``.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from marketplace import migrate
from marketplace.app import create_app
from marketplace.http.wiring import marketplace_of
from marketplace.kernel.actor import Actor
from marketplace.kernel.db import make_engine, metadata
from marketplace.kernel.settings import Settings
from marketplace.kernel.unit_of_work import UnitOfWork
from tests.dbs import scratch_postgres_database
from tests.kafka_fixtures import kafka_bootstrap  # noqa: F401  (session fixture)

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if TEST_DATABASE_URL else [])


class Clock:
    """A clock tests move by hand: time-based rules are tested without sleeping."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 11, 21, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL database of this test session's own."""
    if not TEST_DATABASE_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    with scratch_postgres_database(TEST_DATABASE_URL) as url:
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        yield url


def _reset_postgres(url: str) -> None:
    engine = make_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        # TRUNCATE fires no row triggers, so the append-only audit table can be emptied.
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        conn.execute(text("INSERT INTO event_feed_counter (id, last_position) VALUES (1, 0)"))
        conn.execute(text("INSERT INTO ocds_position (name, last) VALUES ('releases', 0)"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path,
                 sqlite_template: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "marketplace.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_url")
    _reset_postgres(url)
    return url


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, secret_key="test-secret",
                    evidence_dir=tmp_path / "evidence", max_content_length=64 * 1024)


@pytest.fixture
def app(settings: Settings, clock: Clock) -> Iterator[Flask]:
    application = create_app(settings, clock=clock)
    yield application
    marketplace_of(application).dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def uow_factory(app: Flask, clock: Clock) -> Callable[..., UnitOfWork]:
    """Units of work on the app's database, acting as the given actor (admin by default)."""

    def make(actor: Actor | None = None) -> UnitOfWork:
        # The app's own units of work (its clock is ``clock``), with every area's reactions.
        return marketplace_of(app).unit_of_work(
            actor or Actor(id="test", role="admin", label="test"))

    return make


@pytest.fixture
def make_token(uow_factory: Callable[..., UnitOfWork]) -> Callable[..., str]:
    """``make_token(role, code=None)``: a bearer token, adding its organisation if missing."""
    from marketplace.identity import service as tokens
    from marketplace.identity.models import Role
    from marketplace.identity.service import ROLE_ORGANISATION_KIND
    from marketplace.organisations import service as organisations

    defaults = {"icb": ("QOP", None), "trust": ("R0A", "QOP"), "innovator": ("09876543", None),
                "assessor": ("X24", None), "funder": ("X26", None)}

    def make(role: str, code: str | None = None, parent: str | None = None) -> str:
        kind = ROLE_ORGANISATION_KIND[Role(role)]
        with uow_factory() as uow:
            if kind is not None:
                default_code, default_parent = defaults[kind.value]
                code = code or default_code
                _ensure_org(uow, code, kind.value, parent or default_parent)
            _, plain = tokens.create(uow, role=role, code=code, name=f"test {role}")
            uow.commit()
        return plain

    def _ensure_org(uow: UnitOfWork, code: str, kind: str, parent: str | None) -> None:
        from marketplace.kernel.errors import NotFound

        try:
            organisations.get_exact(uow, code)
        except NotFound:
            if parent:
                _ensure_org(uow, parent, "icb", None)
            organisations.add(uow, code=code, kind=kind, name=f"Test {kind} {code}",
                              parent=parent)

    return make


@pytest.fixture
def bootstrap(kafka_bootstrap: str) -> str:  # noqa: F811  (kafka_bootstrap is a fixture)
    """The session's broker with every contract topic and DLQ created."""
    from events.topics import ensure_topics

    ensure_topics(kafka_bootstrap)
    return kafka_bootstrap


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run on SQLite only: a page calls the same services as the API, whose
    own tests run on both databases; a second browser pass would only double CI time."""
    on_postgres = pytest.mark.skip(reason="browser tests run on SQLite (their services are "
                                          "tested on both databases)")
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if item.get_closest_marker("browser") and params.get("database_url") == "postgresql":
            item.add_marker(on_postgres)
