"""API bodies for orders, invoices and payments (``/api/v1/orders``, ``/invoices``).

Field names follow the ``order.*``, ``invoice.issued`` and ``payment.*`` events
(``schemas.events.orders``). A client names items and quantities only: prices and VAT
come from the contract (an order) or the order (an invoice), so they cannot disagree.
"""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from schemas.events.orders import DOCUMENT_NUMBER_PATTERN
from schemas.fields import (
    SITE_ODS_PATTERN,
    Choice,
    Count,
    Day,
    Id,
    Pattern,
    Text,
    doc,
)
from schemas.statuses import InvoiceStatus, OrderStatus, PaymentStatus, words

MAX_LINES = 50
#: Most units of one item in one order or invoice (well inside every integer column).
MAX_QUANTITY = 1_000_000_000
PAYMENT_METHOD_PATTERN = r"^pm_[A-Za-z0-9_]{1,200}$"


class QuantityIn(Schema):
    item_id = Id("The contract item (an order) or the ordered item (an invoice).")
    quantity = Count("Number of units.", minimum=1,
                     validate=validate.Range(max=MAX_QUANTITY))


def _unique_items(data: dict[str, Any]) -> None:
    items = [line["item_id"] for line in data["lines"]]
    if len(set(items)) != len(items):
        raise ValidationError("Each item once.", "lines")


class OrderIn(Schema):
    """A call-off order under a signed contract, for the caller's own trust."""

    contract_id = Id("The signed contract called off (or give framework_award_id).",
                     optional=True)
    framework_award_id = Id("A framework award to call off directly, where its framework "
                            "allows direct award: its call-off contract (for this trust, "
                            "at the ceiling prices) is signed first.", optional=True)
    order_number = Pattern(DOCUMENT_NUMBER_PATTERN, "The trust's purchase order number "
                           "(unique among its placed orders).")
    buyer_reference = Text("The trust's internal reference (cost centre, requisition).",
                           max_length=100)
    lines = fields.List(fields.Nested(QuantityIn),
                        validate=validate.Length(min=1, max=MAX_LINES),
                        **doc("Items and quantities, each item once."))
    funding_allocation_id = Id("A funding allocation to this trust the order draws on.",
                               optional=True)
    delivery_site_ods = Pattern(SITE_ODS_PATTERN, "ODS code of the delivery site, if not "
                                "the trust itself.", optional=True)
    requested_delivery_on = Day("Requested delivery or go-live date.", optional=True)

    @validates_schema
    def _items(self, data: dict[str, Any], **kwargs: Any) -> None:
        _unique_items(data)
        if (data.get("contract_id") is None) == (data.get("framework_award_id") is None):
            raise ValidationError("Give contract_id or framework_award_id, not both.",
                                  "contract_id")


class InvoiceIn(Schema):
    """The supplier's invoice for ordered items not yet invoiced."""

    invoice_number = Pattern(DOCUMENT_NUMBER_PATTERN, "The supplier's invoice number "
                             "(unique among its invoices).")
    issue_date = Day("Invoice date (from the order's day to today).")
    tax_point_date = Day("VAT tax point, if not the invoice date.", optional=True)
    lines = fields.List(fields.Nested(QuantityIn),
                        validate=validate.Length(min=1, max=MAX_LINES),
                        **doc("Ordered items and the quantities billed, each item once."))

    @validates_schema
    def _items(self, data: dict[str, Any], **kwargs: Any) -> None:
        _unique_items(data)


class PaymentIn(Schema):
    """How the trust pays: a Stripe PaymentMethod of its customer."""

    payment_method = Pattern(PAYMENT_METHOD_PATTERN, "A Stripe PaymentMethod id (pm_...).")


class OrderQuery(Schema):
    status = Choice(words(OrderStatus), required=False)
    contract_id = Id(required=False)


class PricedLineOut(Schema):
    line_id = fields.String()
    item_id = fields.String()
    description = fields.String()
    unit_code = fields.String()
    quantity = fields.Integer()
    unit_price_pence = fields.Integer()
    vat_category = fields.String()
    vat_rate = fields.String()
    net_pence = fields.Integer()


class OrderLineOut(PricedLineOut):
    invoiced_quantity = fields.Integer()


class InvoiceLineOut(PricedLineOut):
    order_line_id = fields.String()


class VatGroupOut(Schema):
    vat_category = fields.String()
    vat_rate = fields.String()
    taxable_pence = fields.Integer()
    vat_pence = fields.Integer()


class CheckOut(Schema):
    code = fields.String()
    reason = fields.String()


class InvoiceSummaryOut(Schema):
    id = fields.String()
    invoice_number = fields.String()
    status = Choice(words(InvoiceStatus), required=False)
    gross_pence = fields.Integer()
    paid_pence = fields.Integer()
    due_date = fields.Date()


class PricedDocumentOut(Schema):
    """What an order and an invoice both state: their totals and VAT breakdown."""

    currency = fields.String()
    net_pence = fields.Integer()
    vat_pence = fields.Integer()
    gross_pence = fields.Integer()
    vat_breakdown = fields.List(fields.Nested(VatGroupOut))


class OrderOut(PricedDocumentOut):
    id = fields.String()
    order_number = fields.String()
    buyer_reference = fields.String()
    status = Choice(words(OrderStatus), required=False)
    contract_id = fields.String()
    trust = fields.Function(lambda o: o.trust.code, **doc("ODS code of the ordering trust",
                                                           required=False))
    icb = fields.Function(lambda o: o.icb.code, **doc(
        "ODS code of the ICB that held the contract", required=False))
    supplier = fields.Function(lambda o: o.supplier_organisation.code, **doc(
        "Companies House number of the supplier", required=False))
    lines = fields.List(fields.Nested(OrderLineOut))
    invoiced_gross_pence = fields.Integer()
    funding_allocation_id = fields.String(allow_none=True)
    delivery_site_ods = fields.String(allow_none=True)
    requested_delivery_on = fields.Date(allow_none=True)
    failed_checks = fields.List(fields.Nested(CheckOut), **doc(
        "Every check a refused order failed (empty when placed)", required=False))
    placed_at = fields.AwareDateTime()
    invoices = fields.List(fields.Nested(InvoiceSummaryOut))
    version = fields.Integer()


class PaymentOut(Schema):
    id = fields.String()
    invoice_id = fields.String()
    attempt = fields.Integer()
    status = Choice(words(PaymentStatus), required=False)
    amount_pence = fields.Integer()
    currency = fields.String()
    provider = fields.String()
    provider_reference = fields.String(allow_none=True)
    failure_code = fields.String(allow_none=True)
    failure_reason = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    settled_at = fields.AwareDateTime(allow_none=True)


class InvoiceOut(PricedDocumentOut):
    id = fields.String()
    invoice_number = fields.String()
    order_id = fields.String()
    order_number = fields.Function(lambda i: i.order.order_number, **doc(
        "The purchase order number", required=False))
    status = Choice(words(InvoiceStatus), required=False)
    trust = fields.Function(lambda i: i.trust.code, **doc("ODS code of the invoiced trust",
                                                           required=False))
    supplier = fields.Function(lambda i: i.supplier_organisation.code, **doc(
        "Companies House number of the supplier", required=False))
    lines = fields.List(fields.Nested(InvoiceLineOut))
    paid_pence = fields.Integer()
    issue_date = fields.Date()
    tax_point_date = fields.Date(allow_none=True)
    due_date = fields.Date()
    issued_at = fields.AwareDateTime()
    paid_at = fields.AwareDateTime(allow_none=True)
    payments = fields.List(fields.Nested(PaymentOut))
    version = fields.Integer()


class WebhookOut(Schema):
    event = fields.String()
    outcome = fields.String()
