"""Contract rules: the contracts trusts call off, which onboard the supplier for the
contract period; their terms are what each order is checked against.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.route.dates import utc
from adapters.route.interface import Effects, EventFacts, View
from adapters.route.suppliers import supplier_row
from adapters.route.tables import Record


def contract_in_force(trust: str, data: Mapping[str, Any], event: EventFacts,
                      view: View) -> Effects:
    """Signed or varied: the whole contract replaces the trust's copy."""
    varied = "variation_number" in data
    at = utc(data["varied_at"] if varied else data["signed_at"])
    row = {
        "contract_id": data["contract_id"], "reference": data["reference"],
        "buyer_icb_ods": data["buyer_icb_ods"], "framework_id": data.get("framework_id"),
        "supplier_org_id": data["supplier"]["org_id"], "innovation_id": data["innovation_id"],
        "value_pence": data["value_pence"], "currency": data["currency"],
        "starts_on": data["starts_on"], "ends_on": data["ends_on"],
        "lines": list(data["lines"]), "eligible_trusts": sorted(data["eligible_trusts"]),
        "payment_terms_days": data["payment_terms_days"],
        "variation_number": data.get("variation_number", 0), "status": "active",
        "status_at": at, "effective_end_on": data["ends_on"],
    }
    supplier = supplier_row("contract", data["contract_id"], data["supplier"],
                            data["starts_on"], data["ends_on"], "active")
    return Effects("contract varied" if varied else "contract signed",
                   puts=[("contract", row), ("supplier", supplier)])


def contract_terminated(trust: str, data: Mapping[str, Any], event: EventFacts,
                        view: View) -> Effects:
    """No orders after ``effective_on``; the supplier's onboarding via it ends then."""
    puts: list[tuple[str, Record]] = []
    contract = view.get("contract", data["contract_id"])
    if contract is not None:
        end = min(contract["effective_end_on"], data["effective_on"])
        puts.append(("contract", {**contract, "status": "terminated",
                                  "status_at": utc(data["terminated_at"]),
                                  "effective_end_on": end}))
    supplier = view.get("supplier", f"contract:{data['contract_id']}")
    if supplier is not None:
        puts.append(("supplier", {**supplier, "status": "terminated",
                                  "valid_until": min(supplier["valid_until"],
                                                     data["effective_on"])}))
    return Effects("contract terminated", puts=puts)
