"""What the frameworks area does when a central approval ends: its awards are withdrawn.

Wired by :mod:`marketplace.bootstrap` (``REACTIONS``), these run inside the approval's own
unit of work, right after its event is appended, so the revocation or expiry, each award's
withdrawal, their audit rows and their ``framework.award.withdrawn`` events commit
together or not at all. A suspension withdraws nothing: it is a pause, and an award
resting on a suspended approval is simply not in force until it is reinstated
(:func:`marketplace.frameworks.lifecycle.call_off_blockers`).
"""
from __future__ import annotations

from typing import Any

from marketplace.frameworks import service
from marketplace.kernel.unit_of_work import UnitOfWork

#: The contract's withdrawal codes have ``approval_revoked`` but none for a lapse.
REVOKED_CODE, EXPIRED_CODE = "approval_revoked", "other"


def approval_revoked(uow: UnitOfWork, data: dict[str, Any]) -> None:
    """``approval.revoked``: withdraw the awards resting on it."""
    service.withdraw_for_approval(
        uow, data["approval_id"], REVOKED_CODE,
        f"The central approval of product version {data['product_version']} was revoked "
        f"({data['reason_code']}).")


def approval_expired(uow: UnitOfWork, data: dict[str, Any]) -> None:
    """``approval.expired``: withdraw the awards resting on it."""
    service.withdraw_for_approval(
        uow, data["approval_id"], EXPIRED_CODE,
        f"The central approval of product version {data['product_version']} expired: "
        f"{', '.join(data['lapsed_evidence'])} lapsed.")
