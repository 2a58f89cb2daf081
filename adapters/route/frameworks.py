"""Framework rules: frameworks and their awards, which onboard suppliers for the award
period and whose price ceilings cap what an order under the framework may pay.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.route.dates import utc
from adapters.route.interface import Effects, EventFacts, View
from adapters.route.suppliers import supplier_row
from adapters.route.tables import Record


def framework_published(trust: str, data: Mapping[str, Any], event: EventFacts,
                        view: View) -> Effects:
    row = {"framework_id": data["framework_id"], "reference": data["reference"],
           "title": data["title"], "starts_at": utc(data["starts_at"]),
           "ends_at": utc(data["ends_at"]), "status": "live",
           "status_at": utc(data["published_at"])}
    return Effects("framework live", puts=[("framework", row)])


def framework_award_granted(trust: str, data: Mapping[str, Any], event: EventFacts,
                            view: View) -> Effects:
    """Onboard the supplier for the award period."""
    starts, ends = utc(data["starts_at"]), utc(data["ends_at"])
    award = {
        "award_id": data["award_id"], "framework_id": data["framework_id"],
        "framework_reference": data["framework_reference"], "lot_id": data["lot_id"],
        "lot_number": data["lot_number"], "supplier_org_id": data["supplier"]["org_id"],
        "innovation_ids": list(data["innovation_ids"]),
        "price_ceilings": list(data["price_ceilings"]), "starts_at": starts, "ends_at": ends,
        "status": "active", "status_at": utc(data["awarded_at"]),
    }
    supplier = supplier_row("framework_award", data["award_id"], data["supplier"],
                            starts or "", ends or "", "active")
    return Effects("supplier onboarded (framework award)",
                   puts=[("framework_award", award), ("supplier", supplier)])


def _end_award(view: View, award_id: str, status: str, at: str) -> list[tuple[str, Record]]:
    puts: list[tuple[str, Record]] = []
    award = view.get("framework_award", award_id)
    if award is not None and award["status"] == "active":
        puts.append(("framework_award", {**award, "status": status, "status_at": at}))
    supplier = view.get("supplier", f"framework_award:{award_id}")
    if supplier is not None and supplier["status"] == "active":
        until = min(supplier["valid_until"], at) if supplier["valid_until"] else at
        puts.append(("supplier", {**supplier, "status": status, "valid_until": until}))
    return puts


def framework_award_withdrawn(trust: str, data: Mapping[str, Any], event: EventFacts,
                              view: View) -> Effects:
    at = utc(data["withdrawn_at"]) or ""
    return Effects("framework award withdrawn",
                   puts=_end_award(view, data["award_id"], "withdrawn", at))


def framework_expired(trust: str, data: Mapping[str, Any], event: EventFacts,
                      view: View) -> Effects:
    """The framework and every award under it end."""
    at = utc(data["ends_at"]) or ""
    puts: list[tuple[str, Record]] = []
    framework = view.get("framework", data["framework_id"])
    if framework is not None:
        puts.append(("framework", {**framework, "status": "expired",
                                   "status_at": utc(data["expired_at"])}))
    for award in sorted(view.where("framework_award", framework_id=data["framework_id"]),
                        key=lambda r: r["award_id"]):
        puts.extend(_end_award(view, award["award_id"], "ended", at))
    return Effects("framework expired", puts=puts)


def price_ceiling(view: View, contract: Record, item_id: str) -> int | None:
    """The lowest framework price ceiling for the item among the supplier's live awards."""
    if not contract.get("framework_id"):
        return None
    ceilings = [c["ceiling_unit_price_pence"]
                for award in view.where("framework_award", framework_id=contract["framework_id"],
                                        supplier_org_id=contract["supplier_org_id"])
                if award["status"] == "active"
                for c in award["price_ceilings"] if c["item_id"] == item_id]
    return min(ceilings) if ceilings else None
