"""The standard route's checks of a call-off order, run before it is accepted.

Every check runs (a refusal lists them all, so the trust fixes everything at once), each
failure as ``{code, reason}`` with a code from ``order.rejected``'s reasons. The checks
are those every trust adapter applies to ``order.placed`` (contract in force, trust
eligible, approval live at the order's time, items and prices on the contract, the
framework's ceilings, quantities, the trust's funding line), plus what only the centre
can see: every trust's orders together against the contract's quantities and value, and
the framework award the contract rests on.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select

from marketplace.approvals.service import pre_approved_now
from marketplace.catalogue.models import Innovation
from marketplace.contracts.models import Contract, ContractLine
from marketplace.frameworks.lifecycle import call_off_blockers
from marketplace.frameworks.models import FrameworkAward, FrameworkAwardLine
from marketplace.funding import service as funding
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.orders.models import Order, OrderLine
from marketplace.organisations.models import Organisation
from marketplace.tenders.models import Tender
from schemas.statuses import AwardStatus, ContractStatus, OrderStatus


@dataclass(frozen=True)
class Failed:
    """One failed check: a code of ``order.rejected`` and the reason in words."""

    code: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "reason": self.reason}


def last_order_day(contract: Contract) -> date:
    """The last day orders may be placed: its end, or a termination's effective day."""
    if contract.status == ContractStatus.TERMINATED and contract.effective_on is not None:
        return min(contract.effective_on, contract.ends_on)
    return contract.ends_on


def _contract(contract: Contract, day: date) -> list[Failed]:
    if contract.status not in (ContractStatus.ACTIVE, ContractStatus.TERMINATED):
        return [Failed("contract_not_active", f"contract {contract.reference} is "
                       f"{contract.status}")]
    last = last_order_day(contract)
    if not contract.starts_on <= day <= last:
        return [Failed("contract_not_active", f"contract {contract.reference} takes orders "
                       f"from {contract.starts_on} to {last}; the order is dated {day}")]
    return []


def _trust(contract: Contract, trust: Organisation) -> list[Failed]:
    if trust.code in contract.eligible_trusts:
        return []
    return [Failed("trust_not_eligible", f"{trust.code} may not call off contract "
                   f"{contract.reference} (its trusts: {', '.join(contract.eligible_trusts)})")]


def _approval(uow: UnitOfWork, contract: Contract, at: datetime) -> list[Failed]:
    if uow.session.scalar(select(pre_approved_now(at)).where(
            Innovation.id == contract.innovation_id)):
        return []
    return [Failed("approval_not_current", f"innovation {contract.innovation_id} holds no "
                   f"live central approval of its current version at {at.isoformat()}")]


def _framework_award(uow: UnitOfWork, contract: Contract, at: datetime) -> list[Failed]:
    """A contract let by a competition under a framework rests on the supplier's award on
    that lot: withdrawn or expired, it blocks new call-offs."""
    if contract.framework_id is None or contract.tender_id is None:
        return []
    tender = uow.session.get(Tender, contract.tender_id)
    if tender is None or tender.lot_id is None:
        return []
    award = uow.session.scalar(select(FrameworkAward).where(
        FrameworkAward.lot_id == tender.lot_id,
        FrameworkAward.innovation_id == contract.innovation_id).order_by(
        FrameworkAward.awarded_at.desc()).limit(1))
    if award is None:
        return [Failed("contract_not_active", "the supplier holds no award on the "
                       "framework lot this contract was let under")]
    if blockers := call_off_blockers(award, at):
        return [Failed("contract_not_active", f"framework award {award.id}: "
                       f"{'; '.join(blockers)}")]
    return []


def _ceilings(uow: UnitOfWork, contract: Contract) -> dict[str, int]:
    """The lowest framework ceiling per item among the supplier's active awards on the
    contract's framework (the trust adapters check prices against the same)."""
    if contract.framework_id is None:
        return {}
    rows = uow.session.execute(select(
        FrameworkAwardLine.item_id, func.min(FrameworkAwardLine.ceiling_unit_price_pence)
    ).join(FrameworkAward, FrameworkAward.id == FrameworkAwardLine.award_id).where(
        FrameworkAward.framework_id == contract.framework_id,
        FrameworkAward.supplier_organisation_id == contract.supplier_organisation_id,
        FrameworkAward.status == AwardStatus.ACTIVE).group_by(FrameworkAwardLine.item_id))
    return {item: ceiling for item, ceiling in rows}


def _ordered_so_far(uow: UnitOfWork, contract: Contract) -> tuple[dict[str, int], int]:
    """Quantities per item and the net value of every placed order under the contract."""
    placed = Order.status == OrderStatus.PLACED
    quantities = dict(uow.session.execute(
        select(OrderLine.item_id, func.sum(OrderLine.quantity))
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.contract_id == contract.id, placed).group_by(OrderLine.item_id)).all())
    value = uow.session.scalar(select(func.coalesce(func.sum(Order.net_pence), 0)).where(
        Order.contract_id == contract.id, placed))
    return {item: int(q) for item, q in quantities.items()}, int(value or 0)


def _lines(uow: UnitOfWork, contract: Contract, lines: Sequence[Mapping[str, Any]]
           ) -> list[Failed]:
    items: dict[str, ContractLine] = {line.item_id: line for line in contract.lines}
    ceilings = _ceilings(uow, contract)
    quantities, value = _ordered_so_far(uow, contract)
    failures: list[Failed] = []
    net = 0
    for line in lines:
        item = items.get(line["item_id"])
        if item is None:
            failures.append(Failed("item_not_on_contract", f"item {line['item_id']} is not "
                                   f"on contract {contract.reference}"))
            continue
        ceiling = ceilings.get(item.item_id)
        if ceiling is not None and item.unit_price_pence > ceiling:
            failures.append(Failed("price_mismatch", f"item {item.item_id}: the contract "
                                   f"price {item.unit_price_pence} is above the framework "
                                   f"ceiling {ceiling}"))
        total = quantities.get(item.item_id, 0) + line["quantity"]
        if item.max_quantity is not None and total > item.max_quantity:
            failures.append(Failed("over_contract_quantity", f"item {item.item_id}: "
                                   f"{total} would be ordered, the contract allows "
                                   f"{item.max_quantity}"))
        net += line["quantity"] * item.unit_price_pence
    if value + net > contract.value_pence:
        failures.append(Failed("over_contract_value", f"orders would total {value + net} "
                               f"pence net, the contract's value is {contract.value_pence}"))
    return failures


def _funding(uow: UnitOfWork, allocation_id: str | None, trust: Organisation,
             gross_pence: int, day: date) -> list[Failed]:
    if allocation_id is None:
        return []
    reasons = funding.drawdown_blockers(uow, allocation_id, trust=trust,
                                        amount_pence=gross_pence, day=day)
    return [Failed("funding_insufficient", f"funding allocation {allocation_id}: {reason}")
            for reason in reasons]


def failed_checks(uow: UnitOfWork, *, contract: Contract, trust: Organisation,
                  lines: Sequence[Mapping[str, Any]], gross_pence: int,
                  funding_allocation_id: str | None, at: datetime, day: date
                  ) -> list[Failed]:
    """Every check the order fails, in the route's order (empty: it may be placed)."""
    return [*_contract(contract, day), *_trust(contract, trust),
            *_framework_award(uow, contract, at), *_approval(uow, contract, at),
            *_lines(uow, contract, lines),
            *_funding(uow, funding_allocation_id, trust, gross_pence, day)]
