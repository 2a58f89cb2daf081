"""The ``order.*``, ``invoice.issued`` and ``payment.*`` events: the only place that
builds their payloads.

All are keyed by the order, so an invoice never overtakes its order, nor a payment its
invoice. Orders and invoices carry what a trust's three-way match and its Peppol
documents need: parties, lines with VAT, totals with the VAT breakdown.
"""
from __future__ import annotations

from typing import Any

from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.orders.models import Invoice, InvoiceLine, Order, OrderLine, Payment
from marketplace.organisations.suppliers import supplier_party
from schemas.events import registry

PLACED = registry.by_name("order.placed")
REJECTED = registry.by_name("order.rejected")
INVOICE_ISSUED = registry.by_name("invoice.issued")
PAYMENT_RECEIVED = registry.by_name("payment.received")
PAYMENT_FAILED = registry.by_name("payment.failed")

#: Failure codes a retry with the same or another payment method may get past.
RETRYABLE_FAILURES = frozenset({"insufficient_funds", "processing_error",
                                "try_again_later", "authentication_required"})


def priced_line(line: OrderLine | InvoiceLine) -> dict[str, Any]:
    return {"line_id": line.line_id, "item_id": line.item_id,
            "description": line.description, "unit_code": line.unit_code,
            "unit_price_pence": line.unit_price_pence, "vat_category": line.vat_category,
            "vat_rate": line.vat_rate, "quantity": line.quantity,
            "net_pence": line.net_pence}


def order_lines(order: Order) -> list[dict[str, Any]]:
    return [priced_line(line) for line in order.lines]


def invoice_lines(invoice: Invoice) -> list[dict[str, Any]]:
    return [{**priced_line(line), "order_line_id": line.order_line_id} for line in invoice.lines]


def _totals(doc: Order | Invoice) -> dict[str, Any]:
    return {"net_pence": doc.net_pence, "vat_pence": doc.vat_pence,
            "gross_pence": doc.gross_pence, "vat_breakdown": doc.vat_breakdown}


def placed(uow: UnitOfWork, order: Order) -> None:
    """``order.placed``: the trust's adapter raises its purchase order."""
    uow.emit(PLACED, {
        "order_id": order.id, "order_number": order.order_number,
        "buyer_reference": order.buyer_reference, "contract_id": order.contract_id,
        "trust_ods": order.trust.code, "icb_ods": order.icb.code,
        "supplier": supplier_party(order.supplier_organisation),
        "lines": order_lines(order), "totals": _totals(order), "currency": order.currency,
        "delivery_site_ods": order.delivery_site_ods,
        "requested_delivery_on": order.requested_delivery_on,
        "funding_allocation_id": order.funding_allocation_id, "placed_at": order.placed_at,
    })


def rejected(uow: UnitOfWork, order: Order) -> None:
    """``order.rejected``: the first failed check as the code, every one in the words."""
    reasons = "; ".join(check["reason"] for check in order.failed_checks)
    uow.emit(REJECTED, {
        "order_id": order.id, "order_number": order.order_number,
        "contract_id": order.contract_id, "trust_ods": order.trust.code,
        "reason_code": order.failed_checks[0]["code"],
        "reason": reasons if len(reasons) <= 1000 else reasons[:997] + "...",
        "rejected_at": order.placed_at,
    })


def invoice_issued(uow: UnitOfWork, invoice: Invoice) -> None:
    """``invoice.issued``: what the trust matches to its purchase order."""
    order = invoice.order
    uow.emit(INVOICE_ISSUED, {
        "invoice_id": invoice.id, "invoice_number": invoice.invoice_number,
        "order_id": order.id, "order_number": order.order_number,
        "buyer_reference": order.buyer_reference, "contract_id": order.contract_id,
        "trust_ods": invoice.trust.code,
        "supplier": supplier_party(invoice.supplier_organisation),
        "lines": invoice_lines(invoice), "totals": _totals(invoice),
        "currency": invoice.currency, "issue_date": invoice.issue_date,
        "tax_point_date": invoice.tax_point_date, "due_date": invoice.due_date,
        "issued_at": invoice.issued_at,
    })


def _payment(payment: Payment) -> dict[str, Any]:
    invoice = payment.invoice
    assert payment.provider_reference is not None
    return {
        "payment_id": payment.id, "invoice_id": invoice.id, "order_id": invoice.order_id,
        "trust_ods": invoice.trust.code,
        "supplier_org_id": invoice.supplier_organisation.public_id,
        "amount_pence": payment.amount_pence, "currency": payment.currency,
        "provider": payment.provider, "provider_reference": payment.provider_reference,
    }


def payment_received(uow: UnitOfWork, payment: Payment) -> None:
    uow.emit(PAYMENT_RECEIVED, {**_payment(payment), "status": "succeeded",
                                "received_at": payment.settled_at})


def payment_failed(uow: UnitOfWork, payment: Payment) -> None:
    uow.emit(PAYMENT_FAILED, {
        **_payment(payment), "status": "failed",
        "failure_code": payment.failure_code or "unknown",
        "failure_reason": payment.failure_reason or "The payment did not go through.",
        "retryable": (payment.failure_code or "") in RETRYABLE_FAILURES,
        "failed_at": payment.settled_at,
    })
