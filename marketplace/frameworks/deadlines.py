"""What falls due in the frameworks area: a framework expires at its ``ends_at`` (with its
``framework.expired`` event), and an award at its own ``ends_at`` (no event: trusts hold
the date). ``marketplace tick`` runs both with every other deadline
(:class:`marketplace.kernel.scheduler.Scheduler`); :func:`expire_due` runs them alone.

Whether a published framework has started yet needs no deadline: it is derived when read.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select

from marketplace.frameworks import service
from marketplace.frameworks.lifecycle import AWARD_EXPIRABLE, FRAMEWORK_EXPIRABLE, expiry_due
from marketplace.frameworks.models import Framework, FrameworkAward
from marketplace.kernel.scheduler import Deadline
from marketplace.kernel.unit_of_work import UnitOfWork


def _frameworks(now: datetime) -> Select[tuple[Framework]]:
    return (select(Framework)
            .where(Framework.status.in_(FRAMEWORK_EXPIRABLE), Framework.ends_at <= now)
            .order_by(Framework.ends_at, Framework.id))


def _awards(now: datetime) -> Select[tuple[FrameworkAward]]:
    return (select(FrameworkAward)
            .where(FrameworkAward.status.in_(AWARD_EXPIRABLE), FrameworkAward.ends_at <= now)
            .order_by(FrameworkAward.ends_at, FrameworkAward.id))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


FRAMEWORK_EXPIRY: Deadline[Framework] = Deadline(
    name="framework expiry",
    model=Framework,
    candidates=_frameworks,
    is_due=lambda framework, now: expiry_due(framework.status, FRAMEWORK_EXPIRABLE,
                                             framework.ends_at, now),
    fire=service.expire,
    describe=lambda framework: (f"framework {framework.id} ({framework.reference}) expired "
                                f"at {framework.ends_at.isoformat()}"),
    summary=lambda n: f"expired {_plural(n, 'framework')}",
)

AWARD_EXPIRY: Deadline[FrameworkAward] = Deadline(
    name="framework award expiry",
    model=FrameworkAward,
    candidates=_awards,
    is_due=lambda award, now: expiry_due(award.status, AWARD_EXPIRABLE, award.ends_at, now),
    fire=service.expire_award,
    describe=lambda award: (f"framework award {award.id} (framework {award.framework_id}) "
                            f"ended at {award.ends_at.isoformat()}"),
    summary=lambda n: f"ended {_plural(n, 'framework award')}",
)

#: In this order: a framework's expiry is recorded before the awards that end with it.
DEADLINES: tuple[Deadline[Framework] | Deadline[FrameworkAward], ...] = (
    FRAMEWORK_EXPIRY, AWARD_EXPIRY)


def expire_due(uow: UnitOfWork) -> list[Framework | FrameworkAward]:
    """Expire every framework and award whose ``ends_at`` has passed at ``uow.now()``
    (idempotent); the rows moved, frameworks first."""
    return [row for deadline in DEADLINES for row in deadline.run(uow)]
