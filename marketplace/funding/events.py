"""The ``funding.*`` events: the only place that builds their payloads.

Types come from the contract's registry; each payload is validated against its schema
when the unit of work appends it to the outbox. All three are keyed by the pot, so the
allocations of one pot (which draw on the same money) reach consumers in the order they
were made. Each names the allocation and its recipient's ODS code: a trust adapter keeps
a budget line per allocation addressed to it, from these events alone. The funder is
named by its organisation's stable public id, as every event names organisations.
"""
from __future__ import annotations

from marketplace.funding.models import FundingAllocation, FundingAllocationRevision, FundingPot
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.organisations.models import Organisation
from schemas.events import registry

ALLOCATED = registry.by_name("funding.allocated")
CHANGED = registry.by_name("funding.changed")
WITHDRAWN = registry.by_name("funding.withdrawn")


def _ref(pot: FundingPot, allocation: FundingAllocation,
         recipient: Organisation) -> dict[str, str]:
    return {"pot_id": pot.id, "allocation_id": allocation.id,
            "recipient_ods": recipient.code}


def allocated(uow: UnitOfWork, pot: FundingPot, allocation: FundingAllocation,
              recipient: Organisation) -> None:
    """``funding.allocated``: the recipient opens a budget line."""
    uow.emit(ALLOCATED, {
        **_ref(pot, allocation, recipient), "funder_org_id": pot.owner.public_id,
        "funder_type": pot.funder_type, "programme": pot.title,
        "purpose": allocation.purpose, "amount_pence": allocation.amount_pence,
        "currency": allocation.currency, "financial_year": pot.financial_year,
        "period_start": allocation.period_start, "period_end": allocation.period_end,
        "innovation_id": allocation.innovation_id, "contract_id": allocation.contract_id,
        "signal_id": allocation.signal_id, "allocated_at": allocation.created_at,
    })


def changed(uow: UnitOfWork, pot: FundingPot, allocation: FundingAllocation,
            recipient: Organisation, revision: FundingAllocationRevision) -> None:
    """``funding.changed``: the budget line moves by ``delta_pence`` (0: a reprofile)."""
    previous = revision.previous_amount_pence
    assert previous is not None
    uow.emit(CHANGED, {
        **_ref(pot, allocation, recipient), "previous_amount_pence": previous,
        "amount_pence": revision.amount_pence,
        "delta_pence": revision.amount_pence - previous, "currency": allocation.currency,
        "reason_code": revision.reason_code, "reason": revision.reason,
        "period_end": revision.period_end, "changed_at": revision.made_at,
    })


def withdrawn(uow: UnitOfWork, pot: FundingPot, allocation: FundingAllocation,
              recipient: Organisation, amount_at_withdrawal: int,
              revision: FundingAllocationRevision) -> None:
    """``funding.withdrawn``: the recipient closes the line, keeping what it committed."""
    uow.emit(WITHDRAWN, {
        **_ref(pot, allocation, recipient), "withdrawn_amount_pence": amount_at_withdrawal,
        "currency": allocation.currency, "reason": revision.reason,
        "withdrawn_at": revision.made_at,
    })
