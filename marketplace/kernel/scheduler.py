"""The one chronograph: every lifecycle's deadlines, run together by ``marketplace tick``.

A lifecycle declares what falls due at an instant as a :class:`Deadline`: the SQL that
finds candidates, the rule (from the lifecycle) that says whether one is due at ``now``,
and the service function that moves it. :class:`Scheduler` runs every deadline in one
place. Running is idempotent, and safe twice at once: candidates are read under a row
lock (rows another tick holds are skipped on PostgreSQL; SQLite serialises writers) and
re-read, and each is checked again before it moves, so a transition (and its event)
happens exactly once. Statuses that follow from timestamps alone, with no event to send,
need no deadline: derive them when read.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select

from marketplace.kernel.unit_of_work import UnitOfWork

T = TypeVar("T")


@dataclass(frozen=True)
class Deadline(Generic[T]):
    """Something that falls due at an instant and must then change, with its event."""

    #: What falls due, for logs and the tick's report (``approval expiry``).
    name: str
    #: The mapped class whose rows fall due (locked ``FOR UPDATE OF`` it).
    model: type[T]
    #: The rows that may be due at ``now``, in the order to handle them.
    candidates: Callable[[datetime], Select[tuple[T]]]
    #: The lifecycle's rule, checked again on each locked row.
    is_due: Callable[[T, datetime], bool]
    #: The transition: a service function run inside the tick's unit of work.
    fire: Callable[[UnitOfWork, T], None]
    #: One line saying what happened to a row (``approval 42 expired (...)``).
    describe: Callable[[T], str]
    #: The summary of a tick for this deadline, given how many rows moved.
    summary: Callable[[int], str]

    def run(self, uow: UnitOfWork, *, limit: int | None = None) -> list[T]:
        """Move every row due at ``uow.now()``; the rows moved, in order."""
        now = uow.now()
        stmt = (self.candidates(now)
                .with_for_update(of=self.model, skip_locked=True)  # type: ignore[arg-type]
                .execution_options(populate_existing=True))
        if limit is not None:
            stmt = stmt.limit(limit)
        fired = []
        for row in uow.session.scalars(stmt).unique().all():
            if self.is_due(row, now):
                self.fire(uow, row)
                fired.append(row)
        return fired


@dataclass(frozen=True)
class TickReport:
    deadline: Deadline[Any]
    fired: list[Any]

    def lines(self) -> list[str]:
        return [*(self.deadline.describe(row) for row in self.fired),
                self.deadline.summary(len(self.fired))]


class Scheduler:
    """Every deadline of every area, run in one unit of work per tick."""

    def __init__(self, deadlines: Sequence[Deadline[Any]]) -> None:
        names = [d.name for d in deadlines]
        if len(set(names)) != len(names):
            raise ValueError(f"a deadline is declared twice: {names}")
        self.deadlines = tuple(deadlines)

    def tick(self, uow: UnitOfWork) -> list[TickReport]:
        """Run each deadline at ``uow.now()``; the caller commits."""
        return [TickReport(deadline, deadline.run(uow)) for deadline in self.deadlines]
