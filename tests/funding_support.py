"""Shared helpers of the funding tests (no tests here): funders, pots, allocations and
changes over HTTP, on ``tests.contracts_support``'s ``ContractWorld`` (ICB QOP with
trusts R0A and RBV, ICB QMJ with trust R1F, a supplier's published listing).

``who="funder:X26"`` acts for funder organisation X26 (created if missing); the clock is
the world's (Saturday 2026-11-21 09:00 UTC), inside financial year 2026/27.
"""
from __future__ import annotations

from typing import Any

import pytest

from tests.catalogue_support import outbox_events
from tests.contracts_support import ContractWorld

NHSE, CHARITY, PHARMA_CO = "X26", "12345678", "14725836"
POT = 10_000_000


def pot_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "MedTech Funding Mandate 2026/27", "funder_type": "nhs_england",
        "amount_pence": POT, "financial_year": "2026/27", "period_start": "2026-04-01",
        "period_end": "2027-03-31", "recurrent": False,
        "conditions": "For NICE-recommended technologies on the mandate list."}
    if overrides.get("funder_type") == "pharma_joint_working":
        body.update(agreement_summary="Joint working on heart failure pathways: the "
                    "company funds nurse time; the ICB redesigns the pathway.",
                    transfer_of_value_pence=2_500_000)
    return {**body, **overrides}


def allocation_body(**overrides: Any) -> dict[str, Any]:
    return {"recipient_ods": "R0A", "amount_pence": 4_000_000,
            "purpose": "First-year licences and onboarding.", **overrides}


class FundingWorld(ContractWorld):
    """``ContractWorld`` plus funders (``who="funder:X26"``)."""

    def token(self, who: str) -> str:
        if who.startswith("funder:") and who not in self._tokens:
            self._tokens[who] = self.make_token("funder", who.removeprefix("funder:"))
        return super().token(who)

    def pot(self, who: str = f"funder:{NHSE}", expect: int = 201, **overrides: Any) -> Any:
        return self.call("POST", "/funding", who, expect,
                         json=pot_body(**overrides)).get_json()

    def get_pot(self, pot: dict[str, Any], who: str | None = None) -> Any:
        return self.call("GET", f"/funding/{pot['id']}", who, 200).get_json()

    def allocate(self, pot: dict[str, Any], who: str = f"funder:{NHSE}", expect: int = 201,
                 **overrides: Any) -> Any:
        return self.call("POST", f"/funding/{pot['id']}/allocations", who, expect,
                         json=allocation_body(**overrides)).get_json()

    def change(self, allocation: dict[str, Any], who: str = f"funder:{NHSE}",
               expect: int = 201, if_match: str | None = "current", **body: Any) -> Any:
        headers = {} if if_match is None else {
            "If-Match": f'"{allocation["version"]}"' if if_match == "current" else if_match}
        body.setdefault("reason", "Onboarding extended to the second site.")
        return self.call("POST", f"/funding/{allocation['pot_id']}/allocations/"
                         f"{allocation['id']}/changes", who, expect, json=body,
                         headers=headers).get_json()

    def funding_events(self) -> list[dict[str, Any]]:
        return outbox_events(self.uow_factory, ".funding.")


@pytest.fixture(name="fw")
def funding_world_fixture(client: Any, clock: Any, uow_factory: Any,
                          make_token: Any) -> FundingWorld:
    world = FundingWorld(client, clock, uow_factory, make_token)
    world.parties()
    return world
