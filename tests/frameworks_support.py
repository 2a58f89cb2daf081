"""Shared helpers of the framework tests (no tests here): valid bodies, a ``frameworks``
fixture driving the API as the operator, and the tick.

Built on ``tests.catalogue_support``: its ``World`` lists, submits and approves; this adds
frameworks, lots and awards on top, with the world's clock (2026-11-21 09:00 UTC).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from marketplace.http.wiring import marketplace_of
from tests.catalogue_support import World, world_fixture  # noqa: F401  (the `world` fixture)

STARTS, ENDS = "2026-12-01T00:00:00+00:00", "2030-11-30T23:59:59+00:00"
AWARD_ENDS = "2028-11-30T23:59:59+00:00"
LINES = [{"item_id": "OFT-TRIAGE-LIC", "description": "Oncoflow Triage annual site licence",
          "unit_code": "C62", "ceiling_unit_price_pence": 2_000_000},
         {"item_id": "OFT-ONBOARD", "description": "Clinical onboarding and training day",
          "unit_code": "DAY", "ceiling_unit_price_pence": 95_000}]
WITHDRAW = {"reason_code": "performance", "reason": "Repeated missed service levels."}


def framework_body(**overrides: Any) -> dict[str, Any]:
    body = {"title": "Digital health technologies for cancer pathways",
            "description": "Centrally approved digital innovations for cancer pathways.",
            "starts_at": STARTS, "ends_at": ENDS}
    return {**body, **overrides}


def lot_body(**overrides: Any) -> dict[str, Any]:
    return {"title": "Referral and triage", "categories": ["cancer.triage"], **overrides}


def award_body(lot: str, innovation: str, **overrides: Any) -> dict[str, Any]:
    """An award of listing ``innovation`` on ``lot`` (ids); ``overrides`` win."""
    return {"lot_id": lot, "innovation_id": innovation, "lines": LINES,
            "starts_at": STARTS, "ends_at": AWARD_ENDS, **overrides}


@dataclass
class Frameworks:
    """The operator's side of one test's marketplace (the assessor is its central body)."""

    world: World

    def create(self, expect: int = 201, who: str = "admin", **overrides: Any) -> Any:
        self.world.token("assessor")  # the default contracting authority exists
        response = self.world.call("POST", "/frameworks", who, expect,
                                   json=framework_body(**overrides))
        return response.get_json()

    def add_lot(self, framework: dict[str, Any], expect: int = 201, **overrides: Any) -> Any:
        return self.world.call("POST", f"/frameworks/{framework['id']}/lots", "admin", expect,
                               json=lot_body(**overrides)).get_json()

    def publish(self, framework: dict[str, Any], expect: int = 200) -> Any:
        return self.world.call("POST", f"/frameworks/{framework['id']}/publish", "admin",
                               expect).get_json()

    def get(self, framework: dict[str, Any], who: str | None = None) -> Any:
        return self.world.call("GET", f"/frameworks/{framework['id']}", who, 200).get_json()

    def live(self, **overrides: Any) -> dict[str, Any]:
        """A published framework with one lot (``cancer.triage``)."""
        framework = self.create(**overrides)
        self.add_lot(framework)
        return self.publish(framework)

    def award(self, framework: dict[str, Any], listing: dict[str, Any], expect: int = 201,
              lot: dict[str, Any] | None = None, **overrides: Any) -> Any:
        lot = lot or framework["lots"][0]
        return self.world.call("POST", f"/frameworks/{framework['id']}/awards", "admin",
                               expect, json=award_body(lot["id"], listing["id"], **overrides)
                               ).get_json()

    def withdraw(self, award: dict[str, Any], expect: int = 200,
                 body: dict[str, Any] | None = None) -> Any:
        path = f"/frameworks/{award['framework_id']}/awards/{award['id']}/withdraw"
        return self.world.call("POST", path, "admin", expect, json=body or WITHDRAW).get_json()

    def get_award(self, award: dict[str, Any]) -> Any:
        path = f"/frameworks/{award['framework_id']}/awards/{award['id']}"
        return self.world.call("GET", path, None, 200).get_json()

    def approved_award(self, framework: dict[str, Any] | None = None
                       ) -> tuple[dict[str, Any], dict[str, Any]]:
        """An award of a freshly approved listing, and that approval."""
        approval = self.world.approval_in("approved")
        listing = {"id": approval["innovation_id"]}
        return self.award(framework or self.live(), listing), approval

    def tick(self) -> list[str]:
        """``marketplace tick``'s scheduler at the world's clock: the lines it reports."""
        marketplace = marketplace_of(self.world.client.application)
        with self.world.uow_factory() as uow:
            reports = marketplace.scheduler().tick(uow)
            uow.commit()
        return [line for report in reports for line in report.lines()]


@pytest.fixture(name="frameworks")
def frameworks_fixture(world: World) -> Frameworks:
    return Frameworks(world)
