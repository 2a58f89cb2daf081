"""The ``contract.*`` events: the only place that builds their payloads.

Types come from the contract's registry; each payload is validated against its schema
when the unit of work appends it to the outbox. All three are keyed by the contract, so
a variation never overtakes the signature it varies. ``contract.signed`` and
``contract.varied`` carry the whole contract as it stands (a trust replaces its copy);
the buyer is named by the ICB that holds the contract today (a merged ICB's successor).
A pending contract has no event: trusts hear of it when it is signed, and a contract
cancelled with its tender before signature was never theirs.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from marketplace.contracts.models import Contract, ContractLine, ContractVariation
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.organisations.suppliers import supplier_party
from schemas.events import registry

SIGNED = registry.by_name("contract.signed")
VARIED = registry.by_name("contract.varied")
TERMINATED = registry.by_name("contract.terminated")


def line_terms(lines: Iterable[ContractLine]) -> list[dict[str, Any]]:
    """Contract lines as events (and variation snapshots) carry them."""
    return [{"line_id": line.line_id, "item_id": line.item_id,
             "description": line.description, "unit_code": line.unit_code,
             "unit_price_pence": line.unit_price_pence, "vat_category": line.vat_category,
             "vat_rate": line.vat_rate, "max_quantity": line.max_quantity}
            for line in lines]


def _ref(contract: Contract) -> dict[str, Any]:
    return {"contract_id": contract.id, "buyer_icb_ods": contract.buyer_icb.current().code}


def _state(contract: Contract) -> dict[str, Any]:
    """``ContractStateSchema``: who may call off what, at what price, until when."""
    return {
        **_ref(contract), "reference": contract.reference, "tender_id": contract.tender_id,
        "award_id": contract.award_id, "framework_id": contract.framework_id,
        "supplier": supplier_party(contract.supplier_organisation),
        "innovation_id": contract.innovation_id, "value_pence": contract.value_pence,
        "currency": contract.currency, "starts_on": contract.starts_on,
        "ends_on": contract.ends_on, "lines": line_terms(contract.lines),
        "eligible_trusts": contract.eligible_trusts,
        "payment_terms_days": contract.payment_terms_days,
    }


def signed(uow: UnitOfWork, contract: Contract) -> None:
    """``contract.signed``: every eligible trust records the commitment."""
    uow.emit(SIGNED, {**_state(contract), "signed_at": contract.signed_at})


def varied(uow: UnitOfWork, contract: Contract, variation: ContractVariation) -> None:
    """``contract.varied``: the contract after the variation, and the value before it."""
    uow.emit(VARIED, {
        **_state(contract), "variation_number": variation.number,
        "previous_value_pence": variation.previous_value_pence,
        "changed_fields": variation.changed_fields, "reason": variation.reason,
        "varied_at": variation.varied_at,
    })


def terminated(uow: UnitOfWork, contract: Contract) -> None:
    """``contract.terminated``: no orders after ``effective_on``."""
    uow.emit(TERMINATED, {
        **_ref(contract), "supplier_org_id": contract.supplier_organisation.public_id,
        "reason_code": contract.reason_code, "reason": contract.reason,
        "effective_on": contract.effective_on, "terminated_at": contract.terminated_at,
    })
