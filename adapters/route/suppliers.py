"""Supplier onboarding: the ``supplier`` rows that framework awards and contracts write,
and whether a supplier is onboarded for an order at a given instant.

Shared by the framework and contract rules (writers) and the order checks (reader),
so the row's shape and its meaning live in one place.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.route.dates import instant, london_day
from adapters.route.interface import View
from adapters.route.tables import Record


def supplier_row(via: str, via_id: str, supplier: Mapping[str, Any], valid_from: str,
                 valid_until: str, status: str) -> Record:
    """The ``supplier`` row of one onboarding: ``via`` a framework award or a contract."""
    return {
        "onboarding_id": f"{via}:{via_id}", "supplier_org_id": supplier["org_id"],
        "via": via, "via_id": via_id,
        "companies_house_number": supplier["companies_house_number"],
        "legal_name": supplier["legal_name"], "vat_number": supplier.get("vat_number"),
        "country_code": supplier["country_code"],
        "peppol_participant_id": supplier.get("peppol_participant_id"),
        "valid_from": valid_from, "valid_until": valid_until, "status": status,
    }


def supplier_onboarded(view: View, org_id: str, innovation_id: str, at: str,
                       contract_id: str) -> bool:
    """A live framework award for the innovation, or the live contract itself."""
    day = london_day(at).isoformat()
    for row in view.where("supplier", supplier_org_id=org_id):
        if row["status"] != "active":
            continue
        if row["via"] == "contract" and row["via_id"] == contract_id:
            if row["valid_from"] <= day <= row["valid_until"]:
                return True
        elif row["via"] == "framework_award":
            award = view.get("framework_award", row["via_id"]) or {}
            if innovation_id in award.get("innovation_ids", []) and \
                    instant(row["valid_from"]) <= instant(at) < instant(row["valid_until"]):
                return True
    return False
