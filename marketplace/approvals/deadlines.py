"""What falls due in the approvals area: an approval expires when its evidence lapses.

``marketplace tick`` runs :data:`EXPIRY` with every other deadline
(:class:`marketplace.kernel.scheduler.Scheduler`); :func:`expire_due` runs it alone.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select

from marketplace.approvals import service
from marketplace.approvals.lifecycle import EXPIRABLE, expiry_due
from marketplace.approvals.models import Approval
from marketplace.kernel.scheduler import Deadline
from marketplace.kernel.unit_of_work import UnitOfWork


def _candidates(now: datetime) -> Select[tuple[Approval]]:
    return (select(Approval)
            .where(Approval.status.in_(EXPIRABLE), Approval.expires_at <= now)
            .order_by(Approval.expires_at, Approval.id))


def _describe(approval: Approval) -> str:
    return (f"approval {approval.id} expired (version {approval.product_version}: "
            f"{', '.join(approval.lapsed_evidence or [])} lapsed)")


EXPIRY: Deadline[Approval] = Deadline(
    name="approval expiry",
    model=Approval,
    candidates=_candidates,
    is_due=lambda approval, now: expiry_due(approval.status, approval.expires_at, now),
    fire=service.expire,
    describe=_describe,
    summary=lambda n: f"expired {n} approval{'' if n == 1 else 's'}",
)


def expire_due(uow: UnitOfWork, *, limit: int | None = None) -> list[Approval]:
    """Expire every approval whose evidence has lapsed at ``uow.now()`` (idempotent)."""
    return EXPIRY.run(uow, limit=limit)
