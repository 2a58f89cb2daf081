"""Shared helpers of the contract tests (no tests here): a buyer ICB with two trusts, a
supplier with a published listing, an awarded tender and its contract, and contract
requests.

Tenders are not built yet, so the precondition of a contract, an awarded tender, is a
``Tender`` row inserted with the ORM, and its contract is made by
``contracts.service.create_for_award`` in the same unit of work, as the award will.
Built on ``tests.demand_support``'s ``DemandWorld`` (ICB buyers, trusts, mergers), with
the world's clock (Saturday 2026-11-21 09:00 UTC): an award then has a standstill to
Thursday 2026-12-03 00:00 London (eight working days from Monday 23 November).
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from marketplace.contracts import service as contracts
from marketplace.http.wiring import marketplace_of
from marketplace.kernel.actor import Actor
from marketplace.organisations.models import Organisation
from marketplace.tenders.models import Tender
from marketplace.tenders.standstill import standstill_ends
from schemas.events.common import EX_CONTRACT_LINES
from tests.catalogue_support import INNOVATOR, outbox_events
from tests.demand_support import DemandWorld

ICB, TRUST_A, TRUST_B = "QOP", "R0A", "RBV"
OTHER_ICB, OTHER_TRUST = "QMJ", "R1F"
SUCCESSOR = "Q9W"
#: The award's lines: the contract example's, without the ids the contract gives them.
AWARD_LINES = [{k: v for k, v in line.items() if k != "line_id"} for line in EX_CONTRACT_LINES]
VALUE = 22_200_000
TERM_MONTHS = 24
TERMINATE = {"reason_code": "convenience", "reason": "The service moves to the regional "
             "programme.", "effective_on": "2027-03-31"}


class ContractWorld(DemandWorld):
    """``DemandWorld`` plus trust systems (``who="trust:R0A"``) and awarded tenders."""

    _listing: dict[str, Any] | None = None

    def token(self, who: str) -> str:
        if who.startswith("trust:") and who not in self._tokens:
            self._tokens[who] = self.make_token("trust_system", who.removeprefix("trust:"))
        return super().token(who)

    def parties(self) -> None:
        """The buyer ICB with two trusts, another ICB with one, and the supplier's listing."""
        for trust, icb in ((TRUST_A, ICB), (TRUST_B, ICB), (OTHER_TRUST, OTHER_ICB)):
            self.add_trust(trust, icb)
        self.listing_id()

    def listing_id(self) -> str:
        if self._listing is None:
            self._listing = self.published()
        return str(self._listing["id"])

    def org(self, code: str) -> Organisation:
        with self.uow_factory() as uow:
            found = uow.session.scalar(select(Organisation).where(Organisation.code == code))
            assert found is not None, code
            uow.session.expunge(found)
            return found

    def award(self, icb: str = ICB, **overrides: Any) -> dict[str, Any]:
        """An awarded tender of ``icb`` (now, on the world's clock) and the contract its
        award creates, as the buyer reads it; ``overrides`` go to ``create_for_award``."""
        self.token(f"buyer:{icb}")
        buyer, supplier = self.org(icb), self.org(INNOVATOR)
        listing_id, now = self.listing_id(), self.clock.now
        tender_id, award_id = str(uuid.uuid4()), str(uuid.uuid4())
        ends = standstill_ends(now)
        actor = Actor(id="award", role="icb_buyer", organisation_id=buyer.id,
                      organisation_code=buyer.code, label="test award")
        with marketplace_of(self.client.application).committed(actor) as uow:
            uow.session.add(_awarded_tender(tender_id, award_id, buyer.id, now, ends))
            uow.session.flush()
            terms: dict[str, Any] = {
                "tender_id": tender_id, "award_id": award_id, "framework_id": None,
                "buyer_icb_id": buyer.id, "supplier_organisation_id": supplier.id,
                "innovation_id": listing_id, "value_pence": VALUE, "currency": "GBP",
                "term_months": TERM_MONTHS, "lines": AWARD_LINES,
                "standstill_ends_at": ends}
            contract_id = contracts.create_for_award(uow, **{**terms, **overrides}).id
        return self.contract(contract_id, f"buyer:{icb}")

    # --- requests -------------------------------------------------------------------------
    def contract(self, contract_id: str, who: str | None = f"buyer:{ICB}",
                 expect: int = 200) -> Any:
        return self.call("GET", f"/contracts/{contract_id}", who, expect).get_json()

    def listed(self, who: str | None, query: str = "") -> list[str]:
        body = self.call("GET", f"/contracts?{query}", who, 200).get_json()
        return [c["id"] for c in body["items"]]

    def sign(self, contract: dict[str, Any], who: str = f"buyer:{ICB}", expect: int = 200,
             **headers: str) -> Any:
        return self.call("POST", f"/contracts/{contract['id']}/sign", who, expect,
                         headers=headers).get_json()

    def signed(self, **overrides: Any) -> dict[str, Any]:
        """An awarded contract, signed the moment its standstill ends."""
        contract = self.award(**overrides)
        self.clock.now = datetime.fromisoformat(contract["standstill_ends_at"])
        return self.sign(contract)

    def vary(self, contract: dict[str, Any], who: str = f"buyer:{ICB}", expect: int = 200,
             if_match: str | None = "current", **body: Any) -> Any:
        return self._act(contract, "vary", who, expect, if_match,
                         {"reason": "Extension to align with the ICB merger.", **body})

    def terminate(self, contract: dict[str, Any], who: str = f"buyer:{ICB}",
                  expect: int = 200, if_match: str | None = "current", **body: Any) -> Any:
        return self._act(contract, "terminate", who, expect, if_match, {**TERMINATE, **body})

    def _act(self, contract: dict[str, Any], action: str, who: str, expect: int,
             if_match: str | None, body: dict[str, Any]) -> Any:
        """``if_match``: ``"current"`` sends the contract's ETag, None sends none."""
        headers = {} if if_match is None else {
            "If-Match": f'"{contract["version"]}"' if if_match == "current" else if_match}
        return self.call("POST", f"/contracts/{contract['id']}/{action}", who, expect,
                         json=body, headers=headers).get_json()

    def contract_events(self, contract_id: str | None = None) -> list[dict[str, Any]]:
        return [e for e in outbox_events(self.uow_factory, "contract.")
                if contract_id is None or e["record_key"] == contract_id]


def _awarded_tender(tender_id: str, award_id: str, icb_id: int, now: datetime,
                    standstill: datetime) -> Tender:
    """A tender as an open procedure leaves it at its award (no criteria or responses)."""
    opened = now - timedelta(days=40)
    return Tender(
        id=tender_id, reference=f"QOP-T-{tender_id[:8].upper()}", icb_id=icb_id,
        status="awarded", procedure="open", title="AI triage for suspected cancer referrals",
        description="AI-assisted triage of urgent suspected cancer referrals.",
        categories=["cancer.triage"], pathway_stages=["referral_triage"],
        lines=[{**line, "quantity": 1} for line in AWARD_LINES],
        estimated_value_pence=25_000_000, currency="GBP", contract_term_months=TERM_MONTHS,
        min_esf_tier="C", accelerator=1,
        clarification_deadline=opened + timedelta(days=10),
        submission_deadline=opened + timedelta(days=20),
        clarification_closes_at=opened + timedelta(days=10),
        submission_closes_at=opened + timedelta(days=20),
        created_at=opened, created_by="award", published_at=opened,
        closed_at=opened + timedelta(days=20), evaluated_at=now - timedelta(days=1),
        responses_received=1, award_id=award_id, awarded_at=now, standstill_ends_at=standstill,
        status_changed_at=now, updated_at=now)


@pytest.fixture(name="contract_world")
def contract_world_fixture(client: Any, clock: Any, uow_factory: Any,
                           make_token: Any) -> ContractWorld:
    world = ContractWorld(client, clock, uow_factory, make_token)
    world.parties()
    return world
