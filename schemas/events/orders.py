"""Events of topic ``marketplace.orders``: call-off orders, invoices and payments.

All keyed by ``order_id``: an invoice must never overtake its order, nor a payment its
invoice, so one order and everything billed and paid against it is one ordered stream.
Orders and invoices carry everything a Peppol BIS Order 3.0 / Billing 3.0 document and
a three-way match need: parties, lines, VAT per line, totals with a VAT breakdown.
"""
from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from schemas.events.common import (
    EX_ALLOCATION,
    EX_CONTRACT,
    EX_ICB,
    EX_INVOICE,
    EX_ORDER,
    EX_ORDER_LINES,
    EX_PAYMENT,
    EX_SITE,
    EX_SUPPLIER,
    EX_TRUST,
    EventSchema,
    InvoiceLineSchema,
    OrderLineSchema,
    PricedDocumentSchema,
    SupplierSchema,
    TotalsSchema,
    compute_totals,
    constant,
    ensure_after,
)
from schemas.fields import (
    Choice,
    Currency,
    Day,
    Flag,
    Id,
    OdsCode,
    OrgId,
    Pattern,
    Pence,
    Text,
    Timestamp,
    doc,
)

REJECTION_REASONS: tuple[str, ...] = (
    "contract_not_active", "trust_not_eligible", "approval_not_current",
    "item_not_on_contract", "price_mismatch", "over_contract_quantity",
    "over_contract_value", "funding_insufficient", "other",
)
PAYMENT_PROVIDERS: tuple[str, ...] = ("stripe", "bacs")
DOCUMENT_NUMBER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9/._-]{0,34}$"


class OrderPlaced(PricedDocumentSchema):
    """A trust placed a call-off order under a contract; the trust's adapter turns it
    into a purchase order (Peppol BIS Order) once its own route checks pass."""

    order_id = Id("The order (record key of this topic).")
    order_number = Pattern(DOCUMENT_NUMBER_PATTERN, "Purchase order number.")
    buyer_reference = Text("Trust's internal reference (cost centre, requisition).",
                           max_length=100)
    contract_id = Id("The contract called off.")
    trust_ods = OdsCode("ODS code of the ordering trust.", kind="trust")
    icb_ods = OdsCode("ODS code of the ICB that holds the contract.", kind="icb")
    supplier = fields.Nested(SupplierSchema, **doc("The supplier (seller)."))
    lines = fields.List(fields.Nested(OrderLineSchema), validate=validate.Length(min=1),
                        **doc("Ordered lines."))
    totals = fields.Nested(TotalsSchema, **doc("Totals of the lines."))
    currency = Currency()
    delivery_site_ods = OdsCode("ODS code of the delivery site, if not the trust itself.",
                                kind="site", optional=True)
    requested_delivery_on = Day("Requested delivery or go-live date.", optional=True)
    funding_allocation_id = Id("Funding allocation it draws on, if any.", optional=True)
    placed_at = Timestamp("When the order was placed.")


class OrderRejected(EventSchema):
    """The marketplace refused an order (e.g. the approval lapsed); no purchase order
    follows. Adapters that had applied nothing for it have nothing to undo."""

    order_id = Id("The order (record key of this topic).")
    order_number = Pattern(DOCUMENT_NUMBER_PATTERN, "Purchase order number.")
    contract_id = Id("The contract it tried to call off.")
    trust_ods = OdsCode("ODS code of the ordering trust.", kind="trust")
    reason_code = Choice(REJECTION_REASONS, "Why, as a code.")
    reason = Text("Why, in words.", max_length=1000)
    rejected_at = Timestamp("When it was rejected.")


class InvoiceIssued(PricedDocumentSchema):
    """The supplier invoiced an order: trusts match it to the order (quantity, price,
    totals) and produce a Peppol BIS Billing 3.0 invoice for their finance system."""

    invoice_id = Id("The invoice's id.")
    invoice_number = Pattern(DOCUMENT_NUMBER_PATTERN, "Supplier's invoice number.")
    order_id = Id("The order invoiced (record key of this topic).")
    order_number = Pattern(DOCUMENT_NUMBER_PATTERN, "Purchase order number.")
    buyer_reference = Text("The order's buyer reference, echoed.", max_length=100)
    contract_id = Id("The contract.")
    trust_ods = OdsCode("ODS code of the invoiced trust.", kind="trust")
    supplier = fields.Nested(SupplierSchema, **doc("The supplier (seller); its VAT number "
                                                   "is required if any line is standard "
                                                   "rated."))
    lines = fields.List(fields.Nested(InvoiceLineSchema), validate=validate.Length(min=1),
                        **doc("Invoiced lines."))
    totals = fields.Nested(TotalsSchema, **doc("Totals of the lines."))
    currency = Currency()
    issue_date = Day("Invoice date.")
    tax_point_date = Day("VAT tax point, if not the invoice date.", optional=True)
    due_date = Day("Payment due date.")
    issued_at = Timestamp("When the invoice was received by the marketplace.")

    @validates_schema
    def _dates_and_vat(self, data: dict[str, Any], **kwargs: Any) -> None:
        ensure_after(data, "issue_date", "due_date", strictly=False)
        standard = any(line["vat_category"] == "S" for line in data["lines"])
        if standard and not data["supplier"].get("vat_number"):
            raise ValidationError("A VAT number is required to charge VAT.", "supplier")


class _PaymentSchema(EventSchema):
    """What every payment event says: which invoice, how much, through whom."""

    payment_id = Id("The payment's id.")
    invoice_id = Id("The invoice paid.")
    order_id = Id("The order (record key of this topic).")
    trust_ods = OdsCode("ODS code of the paying trust.", kind="trust")
    supplier_org_id = OrgId("The payee.")
    amount_pence = Pence("Amount, in pence.", validate=validate.Range(min=1))
    currency = Currency()
    provider = Choice(PAYMENT_PROVIDERS, "Payment rail.")
    provider_reference = Pattern(r"^[A-Za-z0-9_-]{1,255}$",
                                 "The provider's id of the payment (e.g. Stripe "
                                 "PaymentIntent id).")


class PaymentReceived(_PaymentSchema):
    """A payment of (part of) an invoice succeeded; trusts reconcile it."""

    status = constant("succeeded", "Always `succeeded`.")
    received_at = Timestamp("When the provider confirmed it.")


class PaymentFailed(_PaymentSchema):
    """A payment attempt failed; the invoice stays open."""

    status = constant("failed", "Always `failed`.")
    failure_code = Pattern(r"^[a-z0-9_]{1,100}$", "Provider failure code, e.g. "
                           "`insufficient_funds`.")
    failure_reason = Text("Failure explained (no card or personal details).",
                          max_length=1000)
    retryable = Flag("Whether retrying may succeed.")
    failed_at = Timestamp("When it failed.")


_ORDER_BASE: dict[str, Any] = {
    "order_id": EX_ORDER,
    "order_number": "RJ7-PO-2026-004512",
    "contract_id": EX_CONTRACT,
    "trust_ods": EX_TRUST,
}
ORDER_PLACED_EXAMPLE: dict[str, Any] = {
    **_ORDER_BASE,
    "buyer_reference": "CC-ONC-7720",
    "icb_ods": EX_ICB,
    "supplier": EX_SUPPLIER,
    "lines": EX_ORDER_LINES,
    "totals": compute_totals(EX_ORDER_LINES),
    "currency": "GBP",
    "delivery_site_ods": EX_SITE,
    "requested_delivery_on": "2026-08-01",
    "funding_allocation_id": EX_ALLOCATION,
    "placed_at": "2026-07-06T11:20:00+01:00",
}
ORDER_REJECTED_EXAMPLE: dict[str, Any] = {
    **_ORDER_BASE,
    "reason_code": "approval_not_current",
    "reason": "Approval of Oncoflow Triage 3.2 is suspended.",
    "rejected_at": "2026-08-05T09:12:00+01:00",
}
_INVOICE_LINES: list[dict[str, Any]] = [
    {**line, "order_line_id": line["line_id"]} for line in EX_ORDER_LINES
]
INVOICE_ISSUED_EXAMPLE: dict[str, Any] = {
    "invoice_id": EX_INVOICE,
    "invoice_number": "OFD-INV-10231",
    "order_id": EX_ORDER,
    "order_number": "RJ7-PO-2026-004512",
    "buyer_reference": "CC-ONC-7720",
    "contract_id": EX_CONTRACT,
    "trust_ods": EX_TRUST,
    "supplier": EX_SUPPLIER,
    "lines": _INVOICE_LINES,
    "totals": compute_totals(_INVOICE_LINES),
    "currency": "GBP",
    "issue_date": "2026-08-03",
    "tax_point_date": None,
    "due_date": "2026-09-02",
    "issued_at": "2026-08-03T08:00:00+01:00",
}
_PAYMENT_BASE: dict[str, Any] = {
    "payment_id": EX_PAYMENT,
    "invoice_id": EX_INVOICE,
    "order_id": EX_ORDER,
    "trust_ods": EX_TRUST,
    "supplier_org_id": EX_SUPPLIER["org_id"],
    "amount_pence": INVOICE_ISSUED_EXAMPLE["totals"]["gross_pence"],
    "currency": "GBP",
    "provider": "stripe",
    "provider_reference": "pi_3Q0a1b2C3d4E5f6G",
}
PAYMENT_RECEIVED_EXAMPLE: dict[str, Any] = {
    **_PAYMENT_BASE, "status": "succeeded", "received_at": "2026-08-28T10:00:00+01:00",
}
PAYMENT_FAILED_EXAMPLE: dict[str, Any] = {
    **_PAYMENT_BASE,
    "status": "failed",
    "failure_code": "insufficient_funds",
    "failure_reason": "The paying account had insufficient funds.",
    "retryable": True,
    "failed_at": "2026-08-27T10:00:00+01:00",
}
