"""The ``framework.*`` events: the only place that builds their payloads.

Types come from the contract's registry; each payload is validated against its schema
when the unit of work appends it to the outbox. All four are keyed by the framework, so
an award's withdrawal never overtakes its grant. Organisations are named by their
``public_id``. An award that simply reaches its ``ends_at`` has no event: trusts hold its
end date from ``framework.award.granted``.
"""
from __future__ import annotations

from marketplace.frameworks.models import Framework, FrameworkAward
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.organisations.suppliers import supplier_party
from schemas.events import registry

PUBLISHED = registry.by_name("framework.published")
AWARD_GRANTED = registry.by_name("framework.award.granted")
AWARD_WITHDRAWN = registry.by_name("framework.award.withdrawn")
EXPIRED = registry.by_name("framework.expired")

def published(uow: UnitOfWork, framework: Framework) -> None:
    """``framework.published``: the framework with its lots."""
    uow.emit(PUBLISHED, {
        "framework_id": framework.id, "reference": framework.reference,
        "title": framework.title, "owner_org_id": framework.owner_organisation.public_id,
        "lots": [{"lot_id": lot.id, "lot_number": lot.lot_number, "title": lot.title,
                  "categories": lot.categories} for lot in framework.lots],
        "starts_at": framework.starts_at, "ends_at": framework.ends_at,
        "published_at": framework.published_at,
    })


def award_granted(uow: UnitOfWork, award: FrameworkAward) -> None:
    """``framework.award.granted``: the supplier, the innovation and the price ceilings."""
    uow.emit(AWARD_GRANTED, {
        "framework_id": award.framework_id,
        "framework_reference": award.framework.reference,
        "award_id": award.id, "lot_id": award.lot_id, "lot_number": award.lot.lot_number,
        "supplier": supplier_party(award.supplier_organisation),
        "innovation_ids": [award.innovation_id],
        "price_ceilings": [{"item_id": line.item_id, "description": line.description,
                            "unit_code": line.unit_code,
                            "ceiling_unit_price_pence": line.ceiling_unit_price_pence}
                           for line in award.lines],
        "currency": award.currency, "awarded_at": award.awarded_at,
        "starts_at": award.starts_at, "ends_at": award.ends_at,
    })


def award_withdrawn(uow: UnitOfWork, award: FrameworkAward) -> None:
    uow.emit(AWARD_WITHDRAWN, {
        "framework_id": award.framework_id, "award_id": award.id, "lot_id": award.lot_id,
        "supplier_org_id": award.supplier_organisation.public_id,
        "reason_code": award.reason_code, "reason": award.reason,
        "withdrawn_at": award.withdrawn_at,
    })


def expired(uow: UnitOfWork, framework: Framework) -> None:
    uow.emit(EXPIRED, {
        "framework_id": framework.id, "reference": framework.reference,
        "ends_at": framework.ends_at, "expired_at": framework.expired_at,
    })
