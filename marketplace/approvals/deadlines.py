"""Expiring approvals whose evidence has lapsed (``marketplace tick``).

Safe to run twice, and twice at once: candidates are re-read under a row lock (rows
another tick holds are skipped on PostgreSQL; SQLite serialises writers), and each row
is checked again before it moves, so an approval expires, and ``approval.expired`` is
emitted, exactly once.
"""
from __future__ import annotations

from sqlalchemy import select

from marketplace.domain.approval_state import MACHINE, ApprovalAction
from marketplace.models.catalogue import Approval
from marketplace.services import approvals
from marketplace.unit_of_work import UnitOfWork

EXPIRABLE = tuple(MACHINE.allowed_from(ApprovalAction.EXPIRE))


def expire_due(uow: UnitOfWork, *, limit: int | None = None) -> list[Approval]:
    """Expire every expirable approval whose ``expires_at`` has passed at ``uow.now()``."""
    now = uow.now()
    stmt = (select(Approval)
            .where(Approval.status.in_(EXPIRABLE), Approval.expires_at <= now)
            .order_by(Approval.expires_at, Approval.id)
            .with_for_update(of=Approval, skip_locked=True)
            .execution_options(populate_existing=True))
    if limit is not None:
        stmt = stmt.limit(limit)
    expired = []
    for approval in uow.session.scalars(stmt).unique().all():
        if approval.status in EXPIRABLE and approval.expires_at <= now:
            approvals.expire(uow, approval)
            expired.append(approval)
    return expired
