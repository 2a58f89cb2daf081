"""Funding rules: the trust's budget lines, opened, moved and closed by funding events
addressed to it, with their budget journals; orders commit against them.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.route.dates import london_day, utc
from adapters.route.interface import Effects, EventFacts, View, for_me, ignored
from adapters.route.ledger import FUNDING_COST_CENTRE, Journal


def funding_allocated(trust: str, data: Mapping[str, Any], event: EventFacts,
                      view: View) -> Effects:
    if not for_me(trust, data["recipient_ods"]):
        return ignored("funding for another organisation")
    row = {
        "allocation_id": data["allocation_id"], "pot_id": data["pot_id"],
        "funder_org_id": data["funder_org_id"], "funder_type": data["funder_type"],
        "programme": data["programme"], "financial_year": data["financial_year"],
        "period_start": data["period_start"], "period_end": data["period_end"],
        "innovation_id": data.get("innovation_id"), "contract_id": data.get("contract_id"),
        "amount_pence": data["amount_pence"], "committed_pence": 0,
        "currency": data["currency"], "status": "active",
        "status_at": utc(data["allocated_at"]),
    }
    journal = Journal(trust, "Budget", "BUD", event, london_day(data["allocated_at"]),
                      data["allocation_id"], data["currency"])
    journal.pair("980100", "980900", data["amount_pence"], FUNDING_COST_CENTRE,
                 f"Funding allocated: {data['programme']}")
    return Effects("budget line opened", puts=[("funding_line", row)], journal=journal.lines)


def funding_changed(trust: str, data: Mapping[str, Any], event: EventFacts,
                    view: View) -> Effects:
    if not for_me(trust, data["recipient_ods"]):
        return ignored("funding for another organisation")
    line = view.get("funding_line", data["allocation_id"])
    if line is None:
        return ignored("change to an allocation this trust never received")
    row = {**line, "amount_pence": data["amount_pence"], "period_end": data["period_end"],
           "status_at": utc(data["changed_at"])}
    journal = Journal(trust, "Budget", "BUD", event, london_day(data["changed_at"]),
                      data["allocation_id"], data["currency"])
    journal.pair("980100", "980900", data["delta_pence"], FUNDING_COST_CENTRE,
                 f"Funding changed ({data['reason_code']}): {line['programme']}")
    return Effects("budget line changed", puts=[("funding_line", row)], journal=journal.lines)


def funding_withdrawn(trust: str, data: Mapping[str, Any], event: EventFacts,
                      view: View) -> Effects:
    """Close the line; what is already committed to purchase orders stays."""
    if not for_me(trust, data["recipient_ods"]):
        return ignored("funding for another organisation")
    line = view.get("funding_line", data["allocation_id"])
    if line is None:
        return ignored("withdrawal of an allocation this trust never received")
    released = line["amount_pence"] - line["committed_pence"]
    row = {**line, "amount_pence": line["committed_pence"], "status": "withdrawn",
           "status_at": utc(data["withdrawn_at"])}
    journal = Journal(trust, "Budget", "BUD", event, london_day(data["withdrawn_at"]),
                      data["allocation_id"], data["currency"])
    journal.pair("980100", "980900", -released, FUNDING_COST_CENTRE,
                 f"Funding withdrawn: {line['programme']}")
    return Effects("budget line withdrawn", puts=[("funding_line", row)],
                   journal=journal.lines)
