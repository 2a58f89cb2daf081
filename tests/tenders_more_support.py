"""Helpers of the further tender tests (no tests here): the ``market`` fixture, a
``Tenders`` driver whose world also has other ICBs' buyers (``who="buyer:QMJ"``) and
mergers (``tests.demand_support.DemandWorld``), listings approved on evidence dated from
any clock, and readers of whole database tables as bytes.

The tender's ICB is ``QOP`` (token ``icb_buyer``), its trust ``R0A``; ``innovator`` and
``other`` are two innovators (``tests.catalogue_support``).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text

from marketplace import models  # noqa: F401  (every table on the metadata)
from marketplace.http.wiring import marketplace_of
from marketplace.kernel.actor import Actor
from marketplace.kernel.db import make_engine, metadata
from marketplace.kernel.errors import NotFound
from marketplace.organisations import service as organisations
from marketplace.tenders.models import TenderResponse
from tests.catalogue_support import APPROVE
from tests.demand_support import DemandWorld
from tests.tenders_support import Tenders, scores_for

OTHER_ICB = "QMJ"
#: Every caller other than the responder (``innovator``): the tender's own buyer, another
#: ICB's buyer, the operator, the central assessor, a funder, a trust system and a second
#: innovator. ``None`` (anonymous) is added where a test means it.
NOT_THE_RESPONDER = ("icb_buyer", f"buyer:{OTHER_ICB}", "admin", "assessor", "funder",
                     "trust_system", "other")
PROBLEM_JSON = "application/problem+json"


@dataclass
class MoreTenders(Tenders):
    """``Tenders`` on a ``DemandWorld``: other ICBs' buyers, trusts and mergers too."""

    world: DemandWorld

    def call(self, method: str, path: str, who: str | None = None,
             expect: int | None = None, **kwargs: Any) -> Any:
        return self.world.call(method, path, who, expect, **kwargs)

    def listing_on(self, who: str = "innovator", today: date | None = None,
                   **overrides: Any) -> dict[str, Any]:
        """A published listing of ``who`` (ESF tier C) centrally approved on evidence dated
        from ``today`` (default: the world clock's date), so it is live whatever the clock
        says: a penetration test a month before, certificates a year or more after."""
        world = self.world
        today = today or world.clock.now.date()
        listing = world.published(who, esf_tier="C", **overrides)
        approval = world.submit(
            listing["id"], who,
            c2_data_protection={"dspt_year": dspt_year_standing_on(today)},
            c3_technical_security={
                "penetration_test_on": (today - timedelta(days=30)).isoformat(),
                "cyber_essentials_expires_on": (today + timedelta(days=400)).isoformat()},
            device={"device_certificate_expires_on": (today + timedelta(days=1200)
                                                      ).isoformat()})
        world.act(approval["id"], "start-review")
        world.act(approval["id"], "decision", APPROVE)
        return listing

    def path(self, tender: dict[str, Any], rest: str = "") -> str:
        return f"/tenders/{tender['id']}{rest}"

    def post(self, tender: dict[str, Any], rest: str, who: str | None, expect: int,
             body: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return self.call("POST", self.path(tender, rest), who, expect,
                         json=body if body is not None else {}, **kwargs).get_json()

    def scored(self, tender: dict[str, Any], *points: tuple[str, int, int]) -> Any:
        """Score each (response id, quality, social value); the last ranking."""
        ranking = None
        for response_id, quality, social in points:
            ranking = self.score(tender, response_id, quality, social)
        return ranking

    def add_trust(self, code: str, icb: str = "QOP") -> None:
        """Trust ``code`` of ICB ``icb`` (the ICB made with its buyer's token if missing)."""
        self.world.token("icb_buyer" if icb == "QOP" else f"buyer:{icb}")
        with self.world.uow_factory() as uow:
            try:
                organisations.get_exact(uow, code)
            except NotFound:
                organisations.add(uow, code=code, kind="trust", name=f"Trust {code}",
                                  parent=icb)
                uow.commit()


def dspt_year_standing_on(day: date) -> str:
    """The DSPT publication year that stands on ``day``: ``Y-(Y+1)`` is published by 30 June
    of ``Y+1`` and stands until 30 June of ``Y+2`` (``marketplace.approvals.rules``)."""
    first = day.year - 1 if (day.month, day.day) > (6, 30) else day.year - 2
    return f"{first}-{(first + 1) % 100:02d}"


@pytest.fixture(name="market")
def market_fixture(client: Any, clock: Any, uow_factory: Any, make_token: Any
                   ) -> MoreTenders:
    return MoreTenders(DemandWorld(client, clock, uow_factory, make_token))


def world_on(app: Flask, world: DemandWorld) -> DemandWorld:
    """The same parties (tokens are rows of the shared database) through another app."""
    other = DemandWorld(app.test_client(), world.clock,
                        lambda actor=None: marketplace_of(app).unit_of_work(
                            actor or Actor(id="test", role="admin", label="test")),
                        world.make_token)
    other._tokens = world._tokens
    return other


# --- the database, read raw -------------------------------------------------------------
def as_bytes(value: Any) -> bytes:
    """A cell as the bytes a reader of the database would grep."""
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value, default=str).encode()


def cells(database_url: str, tables: tuple[str, ...] | None = None
          ) -> Iterator[tuple[str, str, bytes]]:
    """(table, column, bytes) of every cell of ``tables`` (default: every table)."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            for table in metadata.sorted_tables:
                if tables is not None and table.name not in tables:
                    continue
                for row in conn.execute(select(table)).mappings():
                    for column, value in row.items():
                        yield table.name, column, as_bytes(value)
    finally:
        engine.dispose()


def where_found(database_url: str, needle: bytes, tables: tuple[str, ...] | None = None
                ) -> list[tuple[str, str]]:
    """Every (table, column) whose cell holds ``needle``."""
    return sorted({(table, column) for table, column, value in cells(database_url, tables)
                   if needle in value})


def row_count(database_url: str, table: str) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def response_rows(database_url: str) -> dict[str, dict[str, Any]]:
    """Every ``tender_response`` row as stored, by id (``sealed`` as bytes)."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(TenderResponse.__table__)).mappings().all()
    finally:
        engine.dispose()
    return {row["id"]: {**row, "sealed": bytes(row["sealed"])} for row in rows}


def swap_sealed(database_url: str, first_id: str, second_id: str) -> None:
    """Swap two responses' ``sealed`` blobs in the database, as a tamperer would."""
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            table = TenderResponse.__table__
            blobs = dict(conn.execute(select(table.c.id, table.c.sealed).where(
                table.c.id.in_([first_id, second_id]))).all())
            for this, that in ((first_id, second_id), (second_id, first_id)):
                conn.execute(table.update().where(table.c.id == this)
                             .values(sealed=bytes(blobs[that])))
    finally:
        engine.dispose()


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


__all__ = ["NOT_THE_RESPONDER", "OTHER_ICB", "PROBLEM_JSON", "MoreTenders", "as_bytes",
           "at", "cells", "dspt_year_standing_on", "market_fixture",
           "response_rows", "row_count", "scores_for", "swap_sealed", "where_found", "world_on"]
