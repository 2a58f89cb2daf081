"""Demo order for ``marketplace seed-demo``: a call-off under the demo's signed contract,
drawing on the trust's funding, invoiced by the supplier and, when Stripe is configured,
paid.

Everything goes through the services as each party in turn (the supplier's VAT number is
recorded by the operator first, since its lines are standard rated), so the demo has the
same checks, audit rows and events as real use. The order and the invoice are found by
their numbers, so running it twice adds nothing; without a signed demo contract (its
listing no longer eligible, say) there is nothing to order.
"""
from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select

from marketplace.contracts.models import Contract
from marketplace.demo.catalogue import acting_as
from marketplace.demo.funding import demo_allocation_for
from marketplace.demo.tenders import AWARDED_TENDER
from marketplace.kernel.clock import london_day
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.orders import invoices, payments
from marketplace.orders import service as orders
from marketplace.orders.models import Invoice, Order
from marketplace.organisations import service as organisations
from marketplace.tenders.models import Tender
from schemas.statuses import ContractStatus, InvoiceStatus, OrderStatus

TRUST = "RAL"
ORDER_NUMBER = "RAL-PO-2026-000417"
INVOICE_NUMBER = "CNS-INV-2026-0031"
#: Demo suppliers' VAT registrations (fictitious numbers of the right form).
VAT_NUMBERS = {"11122233": "GB214587302", "09876543": "GB198765432",
               "10293847": "GB301928374", "13579246": "GB246813579",
               "SC654321": "GB135792468"}
#: Stripe's test card that succeeds (localstripe and Stripe's test mode both know it).
DEMO_CARD = "pm_card_visa"


def _contract(uow: UnitOfWork) -> Contract | None:
    return uow.session.scalar(select(Contract).join(Tender, Tender.id == Contract.tender_id)
                              .where(Tender.title == AWARDED_TENDER["title"],
                                     Contract.status == ContractStatus.ACTIVE))


def _vat_number(uow: UnitOfWork, code: str) -> Iterator[str]:
    supplier = organisations.get_exact(uow, code)
    if supplier.vat_number is None and code in VAT_NUMBERS:
        organisations.update(uow, code, expected_version=supplier.version,
                             vat_number=VAT_NUMBERS[code])
        yield f"VAT number of {code} {supplier.name}"


def _order(uow: UnitOfWork, contract: Contract) -> Iterator[str]:
    trust = organisations.get_exact(uow, TRUST)
    if uow.session.scalar(select(Order.id).where(
            Order.trust_organisation_id == trust.id, Order.order_number == ORDER_NUMBER,
            Order.status == OrderStatus.PLACED)) is not None:
        return
    first, *rest = contract.lines
    lines = [{"item_id": first.item_id, "quantity": 1},
             *({"item_id": line.item_id, "quantity": 2} for line in rest[:1])]
    with acting_as(uow, "trust_system", TRUST):
        order = orders.place(uow, contract_id=contract.id, order_number=ORDER_NUMBER,
                             buyer_reference="NCL-ONC-CONSENT-01", lines=lines,
                             funding_allocation_id=demo_allocation_for(uow, TRUST))
    yield f"order {order.order_number} by {TRUST} ({order.status})"


def _invoice(uow: UnitOfWork, contract: Contract) -> Iterator[str]:
    order = uow.session.scalar(select(Order).where(
        Order.order_number == ORDER_NUMBER, Order.status == OrderStatus.PLACED))
    if order is None or uow.session.scalar(select(Invoice.id).where(
            Invoice.invoice_number == INVOICE_NUMBER)) is not None:
        return
    supplier = contract.supplier_organisation.code
    with acting_as(uow, "innovator", supplier):
        invoice = invoices.issue(uow, order.id, invoice_number=INVOICE_NUMBER,
                                 issue_date=london_day(order.placed_at),
                                 lines=[{"item_id": order.lines[0].item_id, "quantity": 1}])
    yield f"invoice {invoice.invoice_number} for order {order.order_number}"


def _payment(uow: UnitOfWork) -> Iterator[str]:
    if payments.disabled_reason(uow.settings) is not None:
        return
    invoice = uow.session.scalar(select(Invoice).where(
        Invoice.invoice_number == INVOICE_NUMBER))
    if invoice is None or invoice.status == InvoiceStatus.PAID:
        return
    with acting_as(uow, "trust_system", TRUST):
        payment = payments.pay(uow, invoice.id, payment_method=DEMO_CARD)
    yield f"payment of invoice {INVOICE_NUMBER} ({payment.status})"


def seed(uow: UnitOfWork) -> Iterator[str]:
    """Add the demo order, its invoice and (with Stripe) its payment, if missing."""
    contract = _contract(uow)
    if contract is None:
        return
    yield from _vat_number(uow, contract.supplier_organisation.code)
    yield from _order(uow, contract)
    yield from _invoice(uow, contract)
    yield from _payment(uow)
