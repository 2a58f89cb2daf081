"""Call-off orders: placed by a trust under a signed contract, on the standard route.

A trust's system places an order for its own trust. The contract's row is locked for
the order's checks (:mod:`marketplace.orders.route_checks`), so two orders at once cannot
both take the last of a contract's quantity or value, nor of a funding allocation. An
order that passes every check is placed, its funding drawn down, audited and announced
(``order.placed``) in one transaction. One that fails is stored as refused with every
failed check, audited and announced (``order.rejected``), and the caller is told every
reason (422); nothing else changes.

Orders are read by their trust, the supplier (placed orders only), the ICB holding the
contract (and its successor) and the operator; to anyone else an order does not exist.
"""
from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, select, true
from sqlalchemy.orm import selectinload

from marketplace.contracts import service as contracts
from marketplace.contracts.lifecycle import SIGNED
from marketplace.contracts.models import Contract
from marketplace.frameworks.lifecycle import call_off_blockers
from marketplace.frameworks.models import FrameworkAward
from marketplace.funding import service as funding
from marketplace.kernel.clock import london_day
from marketplace.kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from marketplace.kernel.row_lock import for_update
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.orders import events, route_checks
from marketplace.orders.models import Order, OrderLine
from marketplace.organisations import service as organisations
from marketplace.organisations.models import Organisation
from schemas.events.common import compute_totals
from schemas.statuses import OrderStatus, OrganisationKind, Role

_SKIP = {"version"}


def snapshot(order: Order) -> dict[str, Any]:
    """Every stored field, lines included: the audit row shows the whole order."""
    out = {c.key: getattr(order, c.key) for c in Order.__table__.columns
           if c.key not in _SKIP}
    out["lines"] = events.order_lines(order)
    return out


# --- reading ----------------------------------------------------------------------------
def caller_organisation(uow: UnitOfWork) -> Organisation | None:
    actor = uow.actor
    if actor.organisation_id is None:
        return None
    return uow.session.get(Organisation, actor.organisation_id)


def _visible(uow: UnitOfWork) -> ColumnElement[bool]:
    """SQL: the orders the caller may read (the operator: every one)."""
    actor = uow.actor
    if actor.role == Role.ADMIN:
        return true()
    caller = caller_organisation(uow)
    if caller is None:
        return false()
    if actor.role == Role.TRUST_SYSTEM:
        return Order.trust_organisation_id == caller.id
    if actor.role == Role.INNOVATOR:
        return and_(Order.supplier_organisation_id == caller.id,
                    Order.status == OrderStatus.PLACED)
    if actor.role == Role.ICB_BUYER:
        icbs = [caller.id, *(p.id for p in organisations.predecessors(uow, caller))]
        return Order.icb_organisation_id.in_(icbs)
    return false()


def _reads(stmt: Select[tuple[Order]]) -> Select[tuple[Order]]:
    return stmt.options(
        selectinload(Order.invoices), selectinload(Order.trust), selectinload(Order.icb),
        selectinload(Order.supplier_organisation),
    ).execution_options(populate_existing=True)


def list_query(uow: UnitOfWork, *, status: str | None = None,
               contract_id: str | None = None) -> Select[tuple[Order]]:
    """The caller's orders, newest first."""
    stmt = select(Order).where(_visible(uow))
    if status is not None:
        stmt = stmt.where(Order.status == status)
    if contract_id is not None:
        stmt = stmt.where(Order.contract_id == contract_id)
    return _reads(stmt.order_by(Order.placed_at.desc(), Order.id))


def get_visible(uow: UnitOfWork, order_id: str) -> Order:
    """The order, if the caller may read it (404 otherwise, as if missing)."""
    order = uow.session.scalar(_reads(select(Order).where(Order.id == order_id,
                                                          _visible(uow))))
    if order is None:
        raise NotFound(f"No order has the id {order_id!r}.")
    return order


# --- placing ----------------------------------------------------------------------------
def _ordering_trust(uow: UnitOfWork) -> Organisation:
    trust = caller_organisation(uow)
    if uow.actor.role != Role.TRUST_SYSTEM or trust is None or \
            trust.kind != OrganisationKind.TRUST:
        raise Forbidden("Orders are placed by a trust's system, for its own trust.")
    return trust


def _signed_contract(uow: UnitOfWork, contract_id: str) -> Contract:
    """The signed contract, locked for the order's checks (404 for any other: a pending
    contract is not yet anyone's to call off)."""
    contract = uow.session.scalar(for_update(select(Contract).where(
        Contract.id == contract_id, Contract.status.in_(SIGNED)), Contract))
    if contract is None:
        raise NotFound(f"No signed contract has the id {contract_id!r}.")
    return contract


def _priced_lines(contract: Contract, lines: Sequence[Mapping[str, Any]]) -> list[OrderLine]:
    """The ordered lines at the contract's prices and VAT (items not on the contract have
    no price: they are only named in the refusal)."""
    items = {line.item_id: line for line in contract.lines}
    rows = []
    for n, line in enumerate(lines, start=1):
        item = items.get(line["item_id"])
        if item is None:
            continue
        rows.append(OrderLine(
            line_id=str(uuid.uuid4()), position=n, item_id=item.item_id,
            description=item.description, unit_code=item.unit_code,
            quantity=line["quantity"], unit_price_pence=item.unit_price_pence,
            vat_category=item.vat_category, vat_rate=item.vat_rate,
            net_pence=line["quantity"] * item.unit_price_pence, invoiced_quantity=0))
    return rows


def _number_in_use(uow: UnitOfWork, trust: Organisation, order_number: str) -> None:
    existing = uow.session.scalar(select(Order.id).where(
        Order.trust_organisation_id == trust.id, Order.order_number == order_number,
        Order.status == OrderStatus.PLACED))
    if existing is not None:
        raise Conflict(f"{trust.code} already placed order number {order_number}.",
                       order_id=existing)


def _direct_award(uow: UnitOfWork, trust: Organisation, award_id: str,
                  lines: Sequence[Mapping[str, Any]], funding_allocation_id: str | None
                  ) -> Contract:
    """The call-off contract of a direct award, made once every check has passed: the
    framework allows direct award, the award is in force, every item is on it, and the
    funding named covers it. Otherwise a 409 or 422 with every reason, and nothing is
    stored (there is no contract yet to refuse an order under)."""
    award = uow.session.scalar(for_update(select(FrameworkAward).where(
        FrameworkAward.id == award_id), FrameworkAward))
    if award is None:
        raise NotFound(f"No framework award has the id {award_id!r}.")
    framework = award.framework
    if not framework.direct_award:
        raise Conflict(f"Framework {framework.reference} does not allow direct award; "
                       "call off a contract let by a further competition.")
    now = uow.now()
    if blockers := call_off_blockers(award, now):
        raise Conflict(f"Framework award {award.id} is not in force: {'; '.join(blockers)}.",
                       reasons=blockers)
    ceilings = {line.item_id: line.ceiling_unit_price_pence for line in award.lines}
    errors = {str(n): [f"item {line['item_id']} is not on the framework award"]
              for n, line in enumerate(lines) if line["item_id"] not in ceilings}
    if errors:
        raise InvalidInput("Some items are not on the framework award.", {"lines": errors})
    net = sum(line["quantity"] * ceilings[line["item_id"]] for line in lines)
    gross = compute_totals({"net_pence": line["quantity"] * ceilings[line["item_id"]],
                            **contracts.DIRECT_AWARD_VAT} for line in lines)["gross_pence"]
    if funding_allocation_id is not None and (reasons := funding.drawdown_blockers(
            uow, funding_allocation_id, trust=trust, amount_pence=gross,
            day=london_day(now))):
        raise InvalidInput("The funding named does not cover the order.",
                           {"funding_allocation_id": reasons})
    return contracts.create_direct_award(uow, award=award, trust=trust, value_pence=net)


def place(uow: UnitOfWork, *, order_number: str, buyer_reference: str,
          lines: Sequence[Mapping[str, Any]], contract_id: str | None = None,
          framework_award_id: str | None = None, funding_allocation_id: str | None = None,
          delivery_site_ods: str | None = None,
          requested_delivery_on: date | None = None) -> Order:
    """An order under a signed contract, or by direct award under a framework award (its
    call-off contract made first): placed if every check passes, else stored as refused
    with every failed check (the caller answers 422 for those)."""
    trust = _ordering_trust(uow)
    _number_in_use(uow, trust, order_number)
    if framework_award_id is not None:
        contract_id = _direct_award(uow, trust, framework_award_id, lines,
                                    funding_allocation_id).id
    assert contract_id is not None  # the body schema asks for one of the two
    contract = _signed_contract(uow, contract_id)
    now = uow.now()
    day = london_day(now)
    rows = _priced_lines(contract, lines)
    totals = compute_totals(events.priced_line(row) for row in rows)
    failures = route_checks.failed_checks(
        uow, contract=contract, trust=trust, lines=lines, gross_pence=totals["gross_pence"],
        funding_allocation_id=funding_allocation_id, at=now, day=day)
    order = Order(
        id=str(uuid.uuid4()), order_number=order_number, buyer_reference=buyer_reference,
        contract_id=contract.id, trust_organisation_id=trust.id,
        icb_organisation_id=contract.buyer_icb.current().id,
        supplier_organisation_id=contract.supplier_organisation_id,
        status=OrderStatus.REJECTED if failures else OrderStatus.PLACED,
        currency=contract.currency, net_pence=totals["net_pence"],
        vat_pence=totals["vat_pence"], gross_pence=totals["gross_pence"],
        vat_breakdown=totals["vat_breakdown"],
        funding_allocation_id=None if failures else funding_allocation_id,
        delivery_site_ods=delivery_site_ods, requested_delivery_on=requested_delivery_on,
        failed_checks=[f.as_dict() for f in failures], placed_at=now,
        placed_by=uow.actor.id, invoiced_gross_pence=0, lines=rows)
    uow.session.add(order)
    uow.session.flush()  # a concurrent order of the same number: the unique index
    if failures:
        uow.audit("order.rejected", "order", order.id, after=snapshot(order),
                  subject_organisation_id=trust.id)
        events.rejected(uow, order)
        return order
    if funding_allocation_id is not None and order.gross_pence > 0:
        funding.draw_down(uow, funding_allocation_id, amount_pence=order.gross_pence,
                          order_id=order.id)
    uow.audit("order.placed", "order", order.id, after=snapshot(order),
              subject_organisation_id=trust.id)
    events.placed(uow, order)
    return order
