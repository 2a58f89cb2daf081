"""Order rules: the route's local checks of an order, the purchase order it raises (with
its commitment journal and Peppol Order) and its cancellation by the marketplace.

Every check is evaluated at the order's ``placed_at`` against what this trust's
register holds, so every trust (and every replay) reaches the same decision.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.route.approvals import approved_at
from adapters.route.dates import london_day, utc
from adapters.route.frameworks import price_ceiling
from adapters.route.interface import Document, Effects, EventFacts, View, for_me, ignored
from adapters.route.ledger import Journal
from adapters.route.suppliers import supplier_onboarded
from adapters.route.tables import TABLES, Record
from schemas.events.common import compute_totals


def totals_problem(lines: list[Mapping[str, Any]], totals: Mapping[str, Any]) -> str | None:
    """What is wrong with a document's totals (an order's or an invoice's), or None."""
    for line in lines:
        if line["net_pence"] != line["quantity"] * line["unit_price_pence"]:
            return f"line {line['line_id']}: net is not quantity x unit price"
    expected = compute_totals(lines)
    for name in ("net_pence", "vat_pence", "gross_pence"):
        if totals[name] != expected[name]:
            return f"{name} {totals[name]} but the lines give {expected[name]}"
    return None


def order_checks(trust: str, data: Mapping[str, Any], view: View) -> list[tuple[str, str]]:
    """Every failing check as ``(reason_code, reason)``; empty when the order may proceed."""
    failures: list[tuple[str, str]] = []
    at, day = data["placed_at"], london_day(data["placed_at"]).isoformat()
    problem = totals_problem(data["lines"], data["totals"])
    if problem:
        failures.append(("totals_inconsistent", problem))
    contract = view.get("contract", data["contract_id"])
    if contract is None:
        return [*failures, ("contract_not_active", "contract unknown to this trust")]
    if not contract["starts_on"] <= day <= contract["effective_end_on"]:
        failures.append(("contract_not_active",
                         f"contract runs {contract['starts_on']} to "
                         f"{contract['effective_end_on']}, order dated {day}"))
    if trust not in contract["eligible_trusts"]:
        failures.append(("trust_not_eligible", f"{trust} may not call off this contract"))
    supplier_id = data["supplier"]["org_id"]
    if supplier_id != contract["supplier_org_id"] or not supplier_onboarded(
            view, supplier_id, contract["innovation_id"], at, contract["contract_id"]):
        failures.append(("supplier_not_onboarded",
                         "supplier has no live framework award or contract for it"))
    if approved_at(view, contract["innovation_id"], at) is None:
        failures.append(("approval_not_current",
                         f"innovation {contract['innovation_id']} not approved at {utc(at)}"))
    failures.extend(_line_checks(trust, data, contract, view))
    failures.extend(_funding_checks(data, view, day))
    return failures


def _line_checks(trust: str, data: Mapping[str, Any], contract: Record,
                 view: View) -> list[tuple[str, str]]:
    failures: list[tuple[str, str]] = []
    items = {line["item_id"]: line for line in contract["lines"]}
    ordered: dict[str, int] = {}
    for order in view.where("purchase_order", contract_id=contract["contract_id"],
                            status="accepted"):
        for line in order["lines"]:
            ordered[line["item_id"]] = ordered.get(line["item_id"], 0) + line["quantity"]
    for line in data["lines"]:
        item = items.get(line["item_id"])
        if item is None:
            failures.append(("item_not_on_contract", f"item {line['item_id']} not on contract"))
            continue
        if line["unit_price_pence"] != item["unit_price_pence"] or \
                (line["vat_category"], float(line["vat_rate"])) != \
                (item["vat_category"], float(item["vat_rate"])):
            failures.append(("price_mismatch", f"item {line['item_id']}: price or VAT differs "
                             "from the contract"))
        ceiling = price_ceiling(view, contract, line["item_id"])
        if ceiling is not None and line["unit_price_pence"] > ceiling:
            failures.append(("price_mismatch", f"item {line['item_id']}: above the framework "
                             f"ceiling {ceiling}"))
        limit = item.get("max_quantity")
        total = ordered.get(line["item_id"], 0) + line["quantity"]
        if limit is not None and total > limit:
            failures.append(("over_contract_quantity", f"item {line['item_id']}: {total} "
                             f"ordered by {trust}, contract maximum {limit}"))
        ordered[line["item_id"]] = total
    return failures


def _funding_checks(data: Mapping[str, Any], view: View, day: str) -> list[tuple[str, str]]:
    allocation = data.get("funding_allocation_id")
    if not allocation:
        return []
    line = view.get("funding_line", allocation)
    if line is None or line["status"] != "active":
        return [("funding_insufficient", f"funding line {allocation} not open at this trust")]
    if not line["period_start"] <= day <= line["period_end"]:
        return [("funding_insufficient", f"funding line {allocation} not spendable on {day}")]
    remaining = line["amount_pence"] - line["committed_pence"]
    if data["totals"]["gross_pence"] > remaining:
        return [("funding_insufficient", f"order gross {data['totals']['gross_pence']} > "
                 f"remaining budget {remaining}")]
    return []


def order_placed(trust: str, data: Mapping[str, Any], event: EventFacts,
                 view: View) -> Effects:
    """A purchase order only if every local check passes; else rejected with the reasons."""
    if not for_me(trust, data["trust_ods"]):
        return ignored("order of another trust")
    failures = order_checks(trust, data, view)
    totals = data["totals"]
    row = {
        "order_id": data["order_id"], "order_number": data["order_number"],
        "contract_id": data["contract_id"], "icb_ods": data["icb_ods"],
        "supplier": dict(data["supplier"]), "buyer_reference": data["buyer_reference"],
        "lines": list(data["lines"]), "net_pence": totals["net_pence"],
        "vat_pence": totals["vat_pence"], "gross_pence": totals["gross_pence"],
        "vat_breakdown": list(totals["vat_breakdown"]), "currency": data["currency"],
        "delivery_site_ods": data.get("delivery_site_ods"),
        "requested_delivery_on": data.get("requested_delivery_on"),
        "funding_allocation_id": data.get("funding_allocation_id"),
        "placed_at": utc(data["placed_at"]), "status": "accepted" if not failures else
        "rejected", "reason_code": failures[0][0] if failures else None,
        "reasons": [f"{code}: {text}" for code, text in failures],
        "status_at": utc(data["placed_at"]), "invoiced_net_pence": 0,
        "invoiced_gross_pence": 0,
    }
    if failures:
        return Effects(f"order rejected locally: {failures[0][0]}",
                       puts=[("purchase_order", row)])
    puts: list[tuple[str, Record]] = [("purchase_order", row)]
    if row["funding_allocation_id"]:
        line = view.get("funding_line", row["funding_allocation_id"])
        assert line is not None
        puts.append(("funding_line", {**line, "committed_pence": line["committed_pence"]
                                      + row["gross_pence"]}))
    journal = Journal(trust, "Commitment", "PO", event, london_day(data["placed_at"]),
                      data["order_number"], data["currency"])
    journal.pair("990100", "990900", row["net_pence"], row["buyer_reference"],
                 f"Purchase order {data['order_number']} to {data['supplier']['legal_name']}")
    return Effects("purchase order raised", puts=puts, journal=journal.lines,
                   documents=[Document("order", f"peppol/orders/{data['order_id']}.xml", row)])


def order_rejected(trust: str, data: Mapping[str, Any], event: EventFacts,
                   view: View) -> Effects:
    """The marketplace refused the order: cancel a purchase order and free its commitment."""
    if not for_me(trust, data["trust_ods"]):
        return ignored("order of another trust")
    order = view.get("purchase_order", data["order_id"])
    reason = f"marketplace: {data['reason_code']}: {data['reason']}"
    at = utc(data["rejected_at"])
    if order is None:
        row = {column: None for column, _ in TABLES["purchase_order"]}
        row.update(order_id=data["order_id"], order_number=data["order_number"],
                   contract_id=data["contract_id"], status="rejected",
                   reason_code=data["reason_code"], reasons=[reason], status_at=at,
                   lines=[], supplier={}, vat_breakdown=[], invoiced_net_pence=0,
                   invoiced_gross_pence=0)
        return Effects("order rejected by the marketplace", puts=[("purchase_order", row)])
    if order["status"] != "accepted":
        row = {**order, "reasons": [*order["reasons"], reason]}
        return Effects("order rejected by the marketplace", puts=[("purchase_order", row)])
    open_net = order["net_pence"] - order["invoiced_net_pence"]
    open_gross = order["gross_pence"] - order["invoiced_gross_pence"]
    puts: list[tuple[str, Record]] = [("purchase_order", {
        **order, "status": "cancelled", "reason_code": data["reason_code"],
        "reasons": [*order["reasons"], reason], "status_at": at})]
    if order["funding_allocation_id"]:
        line = view.get("funding_line", order["funding_allocation_id"])
        if line is not None:
            puts.append(("funding_line", {**line, "committed_pence": max(
                0, line["committed_pence"] - open_gross)}))
    journal = Journal(trust, "Commitment", "POX", event, london_day(data["rejected_at"]),
                      order["order_number"], order["currency"] or "GBP")
    journal.pair("990900", "990100", open_net, order["buyer_reference"] or "",
                 f"Purchase order {order['order_number']} cancelled")
    return Effects("purchase order cancelled", puts=puts, journal=journal.lines)
