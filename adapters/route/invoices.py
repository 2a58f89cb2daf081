"""Invoice rules: an invoice is matched to its purchase order (and what was invoiced
before); a matched one is posted to payables and releases the commitment, a mismatched
one is held with every reason.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from adapters.route.dates import utc
from adapters.route.interface import Document, Effects, EventFacts, View, for_me, ignored
from adapters.route.ledger import Journal
from adapters.route.orders import totals_problem
from adapters.route.tables import Record


def invoice_mismatches(data: Mapping[str, Any], order: Record | None,
                       view: View) -> list[str]:
    """Three-way-ish match: order accepted, lines on it, quantity, price, VAT and totals."""
    if order is None or order["status"] != "accepted":
        return [f"order_not_accepted: order {data['order_id']} is "
                f"{order['status'] if order else 'unknown'} at this trust"]
    problems: list[str] = []
    if data["supplier"]["org_id"] != order["supplier"]["org_id"]:
        problems.append("supplier_mismatch: invoice supplier is not the order's")
    if data["currency"] != order["currency"]:
        problems.append("currency_mismatch: invoice currency differs from the order")
    inconsistency = totals_problem(data["lines"], data["totals"])
    if inconsistency:
        problems.append(f"totals_inconsistent: {inconsistency}")
    order_lines = {line["line_id"]: line for line in order["lines"]}
    invoiced: dict[str, int] = {}
    for other in view.where("invoice", order_id=order["order_id"], match_status="matched"):
        for line in other["lines"]:
            invoiced[line["order_line_id"]] = invoiced.get(line["order_line_id"], 0) + \
                line["quantity"]
    for line in data["lines"]:
        ordered = order_lines.get(line["order_line_id"])
        if ordered is None:
            problems.append(f"line_not_on_order: line {line['line_id']} bills order line "
                            f"{line['order_line_id']}, which is not on the order")
            continue
        if line["item_id"] != ordered["item_id"]:
            problems.append(f"item_mismatch: line {line['line_id']} is {line['item_id']}, "
                            f"ordered {ordered['item_id']}")
        if line["unit_price_pence"] != ordered["unit_price_pence"]:
            problems.append(f"price_mismatch: line {line['line_id']} at "
                            f"{line['unit_price_pence']}, ordered at "
                            f"{ordered['unit_price_pence']}")
        if (line["vat_category"], float(line["vat_rate"])) != \
                (ordered["vat_category"], float(ordered["vat_rate"])):
            problems.append(f"vat_mismatch: line {line['line_id']} VAT differs from the order")
        total = invoiced.get(line["order_line_id"], 0) + line["quantity"]
        if total > ordered["quantity"]:
            problems.append(f"quantity_exceeds_order: line {line['line_id']} brings "
                            f"{total} invoiced against {ordered['quantity']} ordered")
        invoiced[line["order_line_id"]] = total
    if order["invoiced_gross_pence"] + data["totals"]["gross_pence"] > order["gross_pence"]:
        problems.append("exceeds_order_total: invoiced gross would exceed the order gross")
    return problems


def invoice_issued(trust: str, data: Mapping[str, Any], event: EventFacts,
                   view: View) -> Effects:
    """Match to the order; a matched invoice is posted to payables and frees commitment."""
    if not for_me(trust, data["trust_ods"]):
        return ignored("invoice of another trust")
    existing = view.get("invoice", data["invoice_id"])
    if existing is not None:
        return ignored("invoice already recorded")
    order = view.get("purchase_order", data["order_id"])
    problems = invoice_mismatches(data, order, view)
    totals = data["totals"]
    row = {
        "invoice_id": data["invoice_id"], "invoice_number": data["invoice_number"],
        "order_id": data["order_id"], "order_number": data["order_number"],
        "contract_id": data["contract_id"], "supplier": dict(data["supplier"]),
        "buyer_reference": data["buyer_reference"], "lines": list(data["lines"]),
        "net_pence": totals["net_pence"], "vat_pence": totals["vat_pence"],
        "gross_pence": totals["gross_pence"], "vat_breakdown": list(totals["vat_breakdown"]),
        "currency": data["currency"], "issue_date": data["issue_date"],
        "tax_point_date": data.get("tax_point_date"), "due_date": data["due_date"],
        "issued_at": utc(data["issued_at"]),
        "match_status": "mismatch" if problems else "matched", "mismatches": problems,
        "paid_pence": 0, "payment_status": "unpaid" if not problems else "on_hold",
    }
    effects = Effects("invoice matched" if not problems else "invoice mismatch",
                      puts=[("invoice", row)],
                      documents=[Document("invoice", f"peppol/invoices/{data['invoice_id']}.xml",
                                          row)])
    if problems or order is None:
        return effects
    effects.puts.append(("purchase_order", {
        **order, "invoiced_net_pence": order["invoiced_net_pence"] + totals["net_pence"],
        "invoiced_gross_pence": order["invoiced_gross_pence"] + totals["gross_pence"]}))
    day = date.fromisoformat(data["tax_point_date"] or data["issue_date"])
    cost_centre = order["buyer_reference"]
    invoice = Journal(trust, "Purchase Invoice", "INV", event, day, data["invoice_number"],
                      data["currency"])
    label = f"Invoice {data['invoice_number']} for PO {data['order_number']}"
    invoice.line("580100", totals["net_pence"], 0, cost_centre, label)
    invoice.line("180100", totals["vat_pence"], 0, cost_centre, f"VAT on {label}")
    invoice.line("310100", 0, totals["gross_pence"], cost_centre, label)
    invoice.pair("990900", "990100", totals["net_pence"], cost_centre,
                 f"Commitment released by invoice {data['invoice_number']}")
    effects.journal = invoice.lines
    return effects
