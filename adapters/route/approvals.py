"""Approval rules: the trust's approved-innovation list, and whether an innovation was
approved at a given instant (the question every order asks).

Innovation listing events have no rule (:func:`adapters.route.rules.apply`); the
approval is what a trust records about an innovation.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.route.dates import instant, utc
from adapters.route.interface import Effects, EventFacts, Rule, View
from adapters.route.tables import Record


def approval_decided(trust: str, data: Mapping[str, Any], event: EventFacts,
                     view: View) -> Effects:
    """Granted or conditional (also a reinstatement): add or replace the approval."""
    row = {
        "approval_id": data["approval_id"], "innovation_id": data["innovation_id"],
        "product_version": data["product_version"],
        "innovator_org_id": data["innovator_org_id"],
        "innovator_companies_house_number": data["innovator_companies_house_number"],
        "status": data["status"], "decided_at": utc(data["decided_at"]),
        "expires_at": utc(data["expires_at"]), "status_at": utc(data["decided_at"]),
        "status_reason": None, "conditions": list(data["conditions"]),
        "nice_esf_tier": data["nice_esf_tier"], "device_class": data["device_class"],
        "reinstated": bool(data.get("reinstated")),
    }
    return Effects(f"approval {data['status']}", puts=[("approval", row)])


def _approval_status(status: str, at_field: str) -> Rule:
    def rule(trust: str, data: Mapping[str, Any], event: EventFacts, view: View) -> Effects:
        row = view.get("approval", data["approval_id"]) or {
            "approval_id": data["approval_id"], "innovation_id": data["innovation_id"],
            "product_version": data["product_version"],
            "innovator_org_id": data["innovator_org_id"],
            "innovator_companies_house_number": None, "decided_at": None,
            "expires_at": None, "conditions": [], "nice_esf_tier": None,
            "device_class": None, "reinstated": False,
        }
        reason = data.get("reason_code")
        row = {**row, "status": status, "status_at": utc(data[at_field]),
               "status_reason": f"{reason}: {data['reason']}" if reason else
               ",".join(data.get("lapsed_evidence", [])) or None}
        if status == "expired":
            row["expires_at"] = utc(data["expires_at"])
        return Effects(f"approval {status}", puts=[("approval", row)])

    rule.__doc__ = f"The approval is {status}: no longer approved from `{at_field}`."
    return rule


approval_suspended = _approval_status("suspended", "suspended_at")
approval_revoked = _approval_status("revoked", "revoked_at")
approval_expired = _approval_status("expired", "expired_at")


def approved_at(view: View, innovation_id: str, at: str) -> Record | None:
    """An approval of the innovation that was in force at instant ``at`` (event times).

    In force: decided at or before ``at``, not expired by then, and not suspended,
    revoked or expired at or before ``at`` (a later suspension does not undo an
    order placed while the approval stood).
    """
    when = instant(at)
    for row in sorted(view.where("approval", innovation_id=innovation_id),
                      key=lambda r: r["approval_id"]):
        if row["decided_at"] is None or instant(row["decided_at"]) > when:
            continue
        if row["expires_at"] is None or instant(row["expires_at"]) <= when:
            continue
        active = row["status"] in ("approved", "conditional")
        if active or instant(row["status_at"]) > when:
            return row
    return None
