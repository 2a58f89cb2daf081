"""Who acts for an ICB: a buyer of an ICB that stands today (not one merged away)."""
from __future__ import annotations

from marketplace.kernel.errors import Forbidden
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.organisations.models import Organisation
from schemas.statuses import OrganisationKind, Role


def acting_icb(uow: UnitOfWork, what: str) -> Organisation:
    """The caller's ICB, if the caller is a buyer of an ICB that stands today; ``what``
    completes "Only an ICB buyer ..." in the 403 (``runs tenders, for its own ICB``)."""
    actor = uow.actor
    icb = (uow.session.get(Organisation, actor.organisation_id)
           if actor.role == Role.ICB_BUYER and actor.organisation_id is not None else None)
    if icb is None or icb.kind != OrganisationKind.ICB:
        raise Forbidden(f"Only an ICB buyer {what}.")
    if icb.successor is not None:
        successor = icb.current().code
        raise Forbidden(f"{icb.code} was merged into {successor}, which acts for it now; "
                        f"act with a {successor} buyer's token.")
    return icb
