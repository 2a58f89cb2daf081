"""The one place that wires the marketplace: settings, engine, sessions, clock, units of work.

The API (:func:`marketplace.app.create_app`), the command line, ``marketplace tick`` and
the workers (relay, acks) all start from :func:`bootstrap`, so they share one recipe for
the database, one clock and one way of opening a unit of work.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

import marketplace.models  # noqa: F401  (every area's tables, mapped before first use)
from marketplace.approvals.deadlines import EXPIRY
from marketplace.frameworks import deadlines as framework_deadlines
from marketplace.frameworks import reactions as framework_reactions
from marketplace.kernel.actor import Actor
from marketplace.kernel.clock import Clock, utcnow
from marketplace.kernel.db import make_engine, make_session_factory
from marketplace.kernel.scheduler import Scheduler
from marketplace.kernel.settings import Settings
from marketplace.kernel.unit_of_work import Reaction, UnitOfWork
from marketplace.ocds import reactions as ocds_reactions
from marketplace.tenders import deadlines as tender_deadlines


def _merged(*tables: dict[str, tuple[Reaction, ...]]) -> dict[str, tuple[Reaction, ...]]:
    out: dict[str, tuple[Reaction, ...]] = {}
    for table in tables:
        for name, reactions in table.items():
            out[name] = out.get(name, ()) + reactions
    return out


#: Event name -> what other areas do in the same transaction when it is emitted.
REACTIONS: dict[str, tuple[Reaction, ...]] = _merged(
    {
        # An approval that ends withdraws the framework awards resting on it.
        "approval.revoked": (framework_reactions.approval_revoked,),
        "approval.expired": (framework_reactions.approval_expired,),
    },
    # Every tender and contract change publishes its open contracting release.
    ocds_reactions.REACTIONS,
)


@dataclass(frozen=True)
class Marketplace:
    """What every entry point gets: the wired parts of one running marketplace."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker
    clock: Clock

    def unit_of_work(self, actor: Actor, *, request_id: str | None = None) -> UnitOfWork:
        """A unit of work acting as ``actor``, with every area's reactions; the caller
        commits."""
        return UnitOfWork(self.session_factory, actor, clock=self.clock,
                          event_source=self.settings.event_source, request_id=request_id,
                          reactions=REACTIONS, settings=self.settings)

    @contextmanager
    def committed(self, actor: Actor) -> Iterator[UnitOfWork]:
        """A unit of work that commits when the block ends without an error."""
        with self.unit_of_work(actor) as uow:
            yield uow
            uow.commit()

    def scheduler(self) -> Scheduler:
        """Every area's deadlines (``marketplace tick``)."""
        return Scheduler([EXPIRY, *framework_deadlines.DEADLINES, *tender_deadlines.DEADLINES])

    def dispose(self) -> None:
        self.engine.dispose()


def bootstrap(settings: Settings | None = None, *, clock: Clock = utcnow) -> Marketplace:
    """Wire a marketplace from ``settings`` (default: the environment)."""
    settings = settings or Settings.from_env()
    engine = make_engine(settings.database_url)
    return Marketplace(settings=settings, engine=engine,
                       session_factory=make_session_factory(engine), clock=clock)
