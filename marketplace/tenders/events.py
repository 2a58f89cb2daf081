"""The ``tender.*`` events: the only place that builds their payloads.

Keyed by the tender, so a tender's close never overtakes its publication. No payload
carries what a response says: ``tender.closed`` gives only the count, once the deadline
has passed, and ``tender.awarded`` only the winner and the awarded value.
"""
from __future__ import annotations

from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.organisations.models import Organisation
from marketplace.organisations.suppliers import supplier_party
from marketplace.tenders.models import Tender
from schemas.events import registry

PUBLISHED = registry.by_name("tender.published")
CLOSED = registry.by_name("tender.closed")
AWARDED = registry.by_name("tender.awarded")
CANCELLED = registry.by_name("tender.cancelled")


def _ref(tender: Tender) -> dict[str, str]:
    return {"tender_id": tender.id, "icb_ods": tender.owner.code}


def published(uow: UnitOfWork, tender: Tender) -> None:
    """``tender.published``: the notice, with the deadlines as enforced."""
    uow.emit(PUBLISHED, {
        **_ref(tender), "reference": tender.reference, "title": tender.title,
        "description": tender.description, "procedure": tender.procedure,
        "framework_id": tender.framework_id, "lot_id": tender.lot_id,
        "signal_id": tender.signal_id, "categories": tender.categories,
        "pathway_stages": tender.pathway_stages,
        "estimated_value_pence": tender.estimated_value_pence, "currency": tender.currency,
        "contract_term_months": tender.contract_term_months,
        "criteria": [{"criterion_id": c.id, "title": c.title,
                      "weight_percent": c.weight_percent} for c in tender.criteria],
        "clarification_deadline": tender.clarification_closes_at,
        "submission_deadline": tender.submission_closes_at,
        "published_at": tender.published_at,
    })


def closed(uow: UnitOfWork, tender: Tender) -> None:
    uow.emit(CLOSED, {
        **_ref(tender), "submission_deadline": tender.submission_closes_at,
        "responses_received": tender.responses_received, "closed_at": tender.closed_at,
    })


def awarded(uow: UnitOfWork, tender: Tender, supplier: Organisation, innovation_id: str,
            value_pence: int) -> None:
    uow.emit(AWARDED, {
        **_ref(tender), "award_id": tender.award_id, "supplier": supplier_party(supplier),
        "innovation_id": innovation_id, "award_value_pence": value_pence,
        "currency": tender.currency, "awarded_at": tender.awarded_at,
        "standstill_ends_at": tender.standstill_ends_at,
    })


def cancelled(uow: UnitOfWork, tender: Tender) -> None:
    uow.emit(CANCELLED, {
        **_ref(tender), "reason_code": tender.reason_code, "reason": tender.reason,
        "cancelled_at": tender.cancelled_at,
    })
