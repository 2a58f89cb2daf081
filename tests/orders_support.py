"""Shared helpers of the order, invoice and payment tests (no tests here).

Built on ``tests.contracts_support``: the buyer ICB QOP with trusts R0A and RBV, another
ICB's trust R1F, the supplier's listing, and awarded contracts. Here the listing holds a
live central approval (orders need one), the supplier has a VAT number (its lines are
standard rated), and a contract is signed the moment its standstill ends (Thursday
2026-12-03 00:00 London), so orders are placed from that day.
"""
from __future__ import annotations

from typing import Any

import pytest

from tests.catalogue_support import INNOVATOR, outbox_events
from tests.contracts_support import ICB, TRUST_A, ContractWorld

LICENCE, ONBOARDING = "OFT-TRIAGE-LIC", "OFT-ONBOARD"
SUPPLIER_VAT = "GB123456789"
PROBLEM_JSON = "application/problem+json"


def order_body(contract_id: str, number: str = "R0A-PO-0001", **overrides: Any
               ) -> dict[str, Any]:
    return {"contract_id": contract_id, "order_number": number,
            "buyer_reference": "CC-ONC-7720",
            "lines": [{"item_id": LICENCE, "quantity": 2},
                      {"item_id": ONBOARDING, "quantity": 3}], **overrides}


class OrderWorld(ContractWorld):
    """``ContractWorld`` whose listing is approved and whose supplier charges VAT."""

    approval: dict[str, Any]

    def parties(self) -> None:
        super().parties()
        self.approval = self.approval_in("approved", {"id": self.listing_id()})
        org = self.call("GET", f"/organisations/{INNOVATOR}", "admin", 200)
        self.call("PATCH", f"/organisations/{INNOVATOR}", "admin", 200,
                  json={"vat_number": SUPPLIER_VAT},
                  headers={"If-Match": org.headers["ETag"]})

    def place(self, contract: dict[str, Any], who: str = f"trust:{TRUST_A}",
              expect: int = 201, headers: dict[str, str] | None = None, **body: Any) -> Any:
        return self.call("POST", "/orders", who, expect, json=order_body(contract["id"], **body),
                         headers=headers or {}).get_json()

    def order(self, order_id: str, who: str | None = f"trust:{TRUST_A}", expect: int = 200
              ) -> Any:
        return self.call("GET", f"/orders/{order_id}", who, expect).get_json()

    def orders(self, who: str | None = f"trust:{TRUST_A}", query: str = "") -> list[dict]:
        return self.call("GET", f"/orders?{query}", who, 200).get_json()["items"]

    def invoice(self, order: dict[str, Any], number: str = "OFD-INV-0001",
                who: str = "innovator", expect: int = 201, **body: Any) -> Any:
        payload = {"invoice_number": number, "issue_date": self.clock.now.date().isoformat(),
                   "lines": [{"item_id": LICENCE, "quantity": 2}], **body}
        return self.call("POST", f"/orders/{order['id']}/invoices", who, expect,
                         json=payload).get_json()

    def get_invoice(self, invoice_id: str, who: str | None = f"trust:{TRUST_A}",
                    expect: int = 200) -> Any:
        return self.call("GET", f"/invoices/{invoice_id}", who, expect).get_json()

    def events(self, prefix: str) -> list[dict[str, Any]]:
        return outbox_events(self.uow_factory, prefix)


@pytest.fixture(name="order_world")
def order_world_fixture(client: Any, clock: Any, uow_factory: Any,
                        make_token: Any) -> OrderWorld:
    world = OrderWorld(client, clock, uow_factory, make_token)
    world.parties()
    return world


__all__ = ["ICB", "TRUST_A", "OrderWorld", "order_body", "order_world_fixture"]
