"""Invoices: the supplier bills what a trust ordered and has not been billed yet.

Each line bills an order line at the order's price and VAT, up to what is left of it;
the order is locked while it is billed, so two invoices at once cannot bill the same
units twice (and the database's CHECKs hold the same). Payment is due after the
contract's payment terms. ``invoice.issued`` carries what the trust matches to its
purchase order: order number, buyer reference, lines, the VAT breakdown, totals and both
parties.

An invoice is read by its supplier, the invoiced trust and the operator.
"""
from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, false, select, true

from marketplace.kernel.clock import london_day
from marketplace.kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from marketplace.kernel.row_lock import for_update
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.orders import events
from marketplace.orders import service as orders
from marketplace.orders.models import Invoice, InvoiceLine, Order
from schemas.events.common import compute_totals
from schemas.statuses import OrderStatus, Role


def snapshot(invoice: Invoice) -> dict[str, Any]:
    out = {c.key: getattr(invoice, c.key) for c in Invoice.__table__.columns
           if c.key != "version"}
    out["lines"] = events.invoice_lines(invoice)
    return out


def _visible(uow: UnitOfWork) -> ColumnElement[bool]:
    actor = uow.actor
    if actor.role == Role.ADMIN:
        return true()
    if actor.organisation_id is None:
        return false()
    if actor.role == Role.INNOVATOR:
        return Invoice.supplier_organisation_id == actor.organisation_id
    if actor.role == Role.TRUST_SYSTEM:
        return Invoice.trust_organisation_id == actor.organisation_id
    return false()


def get_visible(uow: UnitOfWork, invoice_id: str, *, lock: bool = False) -> Invoice:
    """The invoice, if the caller may read it (404 otherwise, as if missing)."""
    stmt = select(Invoice).where(Invoice.id == invoice_id, _visible(uow))
    invoice = uow.session.scalar(for_update(stmt, Invoice) if lock else
                                 stmt.execution_options(populate_existing=True))
    if invoice is None:
        raise NotFound(f"No invoice has the id {invoice_id!r}.")
    return invoice


def _billable_order(uow: UnitOfWork, order_id: str) -> Order:
    """The caller's placed order, locked while it is billed."""
    seen = orders.get_visible(uow, order_id)
    if uow.actor.role != Role.INNOVATOR or seen.supplier_organisation_id != \
            uow.actor.organisation_id:
        raise Forbidden("Only the order's supplier invoices it.")
    order = uow.session.scalar(for_update(select(Order).where(Order.id == seen.id), Order))
    assert order is not None
    if order.status != OrderStatus.PLACED:
        raise Conflict(f"Order {order.order_number} was refused; there is nothing to "
                       "invoice.")
    return order


def _lines(order: Order, lines: Sequence[Mapping[str, Any]]) -> list[InvoiceLine]:
    """Invoice lines at the order's terms, each within what is left to bill (422 naming
    every line that is not)."""
    ordered = {line.item_id: line for line in order.lines}
    rows: list[InvoiceLine] = []
    errors: dict[str, list[str]] = {}
    for n, line in enumerate(lines):
        item = ordered.get(line["item_id"])
        if item is None:
            errors[str(n)] = [f"item {line['item_id']} is not on order {order.order_number}"]
            continue
        left = item.quantity - item.invoiced_quantity
        if line["quantity"] > left:
            errors[str(n)] = [f"item {item.item_id}: {left} of {item.quantity} left to "
                              f"invoice, not {line['quantity']}"]
            continue
        item.invoiced_quantity += line["quantity"]
        rows.append(InvoiceLine(
            line_id=str(uuid.uuid4()), order_line_id=item.line_id, position=n + 1,
            item_id=item.item_id, description=item.description, unit_code=item.unit_code,
            quantity=line["quantity"], unit_price_pence=item.unit_price_pence,
            vat_category=item.vat_category, vat_rate=item.vat_rate,
            net_pence=line["quantity"] * item.unit_price_pence))
    if errors:
        raise InvalidInput("Some lines are not on the order or bill more than is left.",
                           {"lines": errors})
    return rows


def _dates(uow: UnitOfWork, order: Order, issue_date: date, tax_point_date: date | None
           ) -> None:
    today, placed = london_day(uow.now()), london_day(order.placed_at)
    errors: dict[str, list[str]] = {}
    if not placed <= issue_date <= today:
        errors["issue_date"] = [f"between the order's day ({placed}) and today ({today})"]
    if tax_point_date is not None and not placed <= tax_point_date <= today:
        errors["tax_point_date"] = [f"between {placed} and {today}"]
    if errors:
        raise InvalidInput("The invoice's dates are not valid.", errors)


def issue(uow: UnitOfWork, order_id: str, *, invoice_number: str, issue_date: date,
          lines: Sequence[Mapping[str, Any]], tax_point_date: date | None = None) -> Invoice:
    """The supplier's invoice for (part of) a placed order."""
    order = _billable_order(uow, order_id)
    supplier = order.supplier_organisation
    if uow.session.scalar(select(Invoice.id).where(
            Invoice.supplier_organisation_id == supplier.id,
            Invoice.invoice_number == invoice_number)) is not None:
        raise Conflict(f"{supplier.code} already issued invoice number {invoice_number}.")
    _dates(uow, order, issue_date, tax_point_date)
    rows = _lines(order, lines)
    if supplier.vat_number is None and any(r.vat_category == "S" for r in rows):
        raise InvalidInput("An invoice that charges VAT needs the supplier's VAT number.", {
            "lines": [f"{supplier.code} has no VAT number recorded; ask the operator to "
                      "record it (PATCH /organisations/{ods} with vat_number)"]})
    totals = compute_totals(events.priced_line(row) for row in rows)
    now = uow.now()
    invoice = Invoice(
        id=str(uuid.uuid4()), invoice_number=invoice_number, order_id=order.id,
        supplier_organisation_id=supplier.id, trust_organisation_id=order.trust_organisation_id,
        currency=order.currency, net_pence=totals["net_pence"], vat_pence=totals["vat_pence"],
        gross_pence=totals["gross_pence"], vat_breakdown=totals["vat_breakdown"],
        paid_pence=0, issue_date=issue_date, tax_point_date=tax_point_date,
        due_date=issue_date + timedelta(days=order.contract.payment_terms_days),
        issued_at=now, issued_by=uow.actor.id, lines=rows)
    order.invoiced_gross_pence += invoice.gross_pence
    uow.session.add(invoice)
    uow.session.flush()  # a concurrent invoice of the same number: the unique constraint
    uow.audit("invoice.issued", "invoice", invoice.id, after=snapshot(invoice),
              subject_organisation_id=order.trust_organisation_id)
    events.invoice_issued(uow, invoice)
    return invoice
