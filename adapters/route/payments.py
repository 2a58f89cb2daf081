"""Payment rules: a payment is reconciled against a matched invoice (and posted) or
recorded as unreconciled, overpaid or failed; the invoice stays open until paid.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.route.dates import london_day, utc
from adapters.route.interface import Effects, EventFacts, View, for_me, ignored
from adapters.route.ledger import Journal


def payment_received(trust: str, data: Mapping[str, Any], event: EventFacts,
                     view: View) -> Effects:
    """Reconcile: a matched invoice with at least this much outstanding."""
    if not for_me(trust, data["trust_ods"]):
        return ignored("payment of another trust")
    previous = view.get("payment", data["payment_id"])
    if previous is not None and previous["status"] == "succeeded":
        return ignored("payment already recorded")
    invoice = view.get("invoice", data["invoice_id"])
    row = {
        "payment_id": data["payment_id"], "invoice_id": data["invoice_id"],
        "order_id": data["order_id"], "supplier_org_id": data["supplier_org_id"],
        "amount_pence": data["amount_pence"], "currency": data["currency"],
        "provider": data["provider"], "provider_reference": data["provider_reference"],
        "status": "succeeded", "status_at": utc(data["received_at"]), "failure_code": None,
    }
    if invoice is None or invoice["match_status"] != "matched":
        note = "invoice unknown" if invoice is None else "invoice is on hold (mismatch)"
        return Effects("payment unreconciled", puts=[("payment", {
            **row, "reconciliation": "unreconciled", "note": note})])
    outstanding = invoice["gross_pence"] - invoice["paid_pence"]
    if data["amount_pence"] > outstanding:
        return Effects("payment unreconciled", puts=[("payment", {
            **row, "reconciliation": "overpaid",
            "note": f"{data['amount_pence']} paid against {outstanding} outstanding"})])
    paid = invoice["paid_pence"] + data["amount_pence"]
    status = "paid" if paid == invoice["gross_pence"] else "part_paid"
    journal = Journal(trust, "Payment", "PAY", event, london_day(data["received_at"]),
                      invoice["invoice_number"], data["currency"])
    journal.pair("310100", "120100", data["amount_pence"], invoice["buyer_reference"],
                 f"Payment {data['provider_reference']} of invoice {invoice['invoice_number']}")
    return Effects(f"payment reconciled ({status})", journal=journal.lines, puts=[
        ("payment", {**row, "reconciliation": "reconciled", "note": None}),
        ("invoice", {**invoice, "paid_pence": paid, "payment_status": status})])


def payment_failed(trust: str, data: Mapping[str, Any], event: EventFacts,
                   view: View) -> Effects:
    """Recorded; the invoice stays open."""
    if not for_me(trust, data["trust_ods"]):
        return ignored("payment of another trust")
    previous = view.get("payment", data["payment_id"])
    if previous is not None and previous["status"] == "succeeded":
        return ignored("a failure reported after the payment succeeded")
    row = {
        "payment_id": data["payment_id"], "invoice_id": data["invoice_id"],
        "order_id": data["order_id"], "supplier_org_id": data["supplier_org_id"],
        "amount_pence": data["amount_pence"], "currency": data["currency"],
        "provider": data["provider"], "provider_reference": data["provider_reference"],
        "status": "failed", "status_at": utc(data["failed_at"]),
        "failure_code": data["failure_code"], "reconciliation": "not_applicable",
        "note": data["failure_reason"],
    }
    return Effects("payment failed", puts=[("payment", row)])
