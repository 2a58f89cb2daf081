"""Shared helpers of the tender tests (no tests here): valid bodies and a ``tenders``
fixture driving the API as the buying ICB (``QOP``, trust ``R0A``) and its innovators.

Built on ``tests.catalogue_support``: its ``World`` lists and approves listings, with the
world's clock (2026-11-21 09:00 UTC). ``tender_body`` posts deadlines after that.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from marketplace.http.wiring import marketplace_of
from tests.catalogue_support import World, world_fixture  # noqa: F401  (the `world` fixture)

CLARIFY_BY = "2026-12-01T12:00:00+00:00"
SUBMIT_BY = "2026-12-10T12:00:00+00:00"
CRITERIA = [{"title": "Clinical quality and safety", "weight_percent": 50, "kind": "quality"},
            {"title": "Social value", "weight_percent": 10, "kind": "social_value"},
            {"title": "Price", "weight_percent": 40, "kind": "price"}]
CANCEL = {"reason_code": "need_changed", "reason": "Requirement merged into a regional one."}


def tender_body(**overrides: Any) -> dict[str, Any]:
    body = {"title": "AI triage for urgent suspected cancer referrals",
            "description": "Triage of suspected cancer referrals at two acute trusts.",
            "categories": ["cancer.triage"], "pathway_stages": ["referral_triage"],
            "procedure": "open", "estimated_value_pence": 25_000_000,
            "contract_term_months": 24, "clarification_deadline": CLARIFY_BY,
            "submission_deadline": SUBMIT_BY, "min_esf_tier": "B", "criteria": CRITERIA}
    return {**body, **overrides}


def answers_for(tender: dict[str, Any], text: str = "We meet it in full.") -> list[dict]:
    return [{"criterion_id": c["criterion_id"], "text": f"{text} ({c['title']})"}
            for c in tender["criteria"] if c["kind"] != "price"]


def scores_for(tender: dict[str, Any], *points: int) -> list[dict[str, Any]]:
    """Scores of the non-price criteria, in order, with rationales."""
    criteria = [c for c in tender["criteria"] if c["kind"] != "price"]
    return [{"criterion_id": c["criterion_id"], "score": p,
             "rationale": f"Scored {p} against {c['title']}."}
            for c, p in zip(criteria, points, strict=True)]


@dataclass
class Tenders:
    world: World

    def call(self, method: str, path: str, who: str | None, expect: int | None,
             **kwargs: Any) -> Any:
        return self.world.call(method, path, who, expect, **kwargs)

    def create(self, expect: int = 201, who: str = "icb_buyer", **overrides: Any) -> Any:
        self.world.token("trust_system")  # the ICB has a trust to call off
        return self.call("POST", "/tenders", who, expect,
                         json=tender_body(**overrides)).get_json()

    def publish(self, tender: dict[str, Any], expect: int = 200, who: str = "icb_buyer"
                ) -> Any:
        return self.call("POST", f"/tenders/{tender['id']}/publish", who, expect).get_json()

    def published(self, **overrides: Any) -> Any:
        return self.publish(self.create(**overrides))

    def get(self, tender: dict[str, Any], who: str | None = None, expect: int = 200) -> Any:
        return self.call("GET", f"/tenders/{tender['id']}", who, expect).get_json()

    def eligible_listing(self, who: str = "innovator", **overrides: Any) -> dict[str, Any]:
        """A published listing of ``who`` (ESF tier C) with a live central approval."""
        listing = self.world.published(who, esf_tier="C", **overrides)
        approval = self.world.submit(listing["id"], who)
        self.world.act(approval["id"], "start-review")
        from tests.catalogue_support import APPROVE

        self.world.act(approval["id"], "decision", APPROVE)
        return listing

    def respond(self, tender: dict[str, Any], listing: dict[str, Any], price: int,
                who: str = "innovator", expect: int = 201, **overrides: Any) -> Any:
        body = {"innovation_id": listing["id"], "price_pence": price,
                "answers": answers_for(tender), **overrides}
        return self.call("POST", f"/tenders/{tender['id']}/responses", who, expect,
                         json=body).get_json()

    def tick(self) -> list[str]:
        marketplace = marketplace_of(self.world.client.application)
        with self.world.uow_factory() as uow:
            reports = marketplace.scheduler().tick(uow)
            uow.commit()
        return [line for report in reports for line in report.lines()]

    def pass_deadline(self, tender: dict[str, Any]) -> list[str]:
        """Move the clock past the enforced submission deadline and run the tick."""
        closes = datetime.fromisoformat(tender["submission_closes_at"])
        self.world.clock.now = closes + timedelta(seconds=1)
        return self.tick()

    def score(self, tender: dict[str, Any], response_id: str, *points: int,
              expect: int = 200) -> Any:
        return self.call("POST", f"/tenders/{tender['id']}/evaluations", "icb_buyer", expect,
                         json={"response_id": response_id,
                               "scores": scores_for(tender, *points)}).get_json()

    def award(self, tender: dict[str, Any], response_id: str, expect: int = 200) -> Any:
        return self.call("POST", f"/tenders/{tender['id']}/award", "icb_buyer", expect,
                         json={"response_id": response_id}).get_json()

    def awarded(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """An open tender with two responses, scored and awarded to the first innovator's
        (cheaper, better) one: (tender, winning receipt, losing receipt)."""
        tender = self.published()
        win = self.respond(tender, self.eligible_listing("innovator"), 18_000_000)
        lose = self.respond(tender, self.eligible_listing("other"), 20_000_000, who="other")
        self.pass_deadline(tender)
        self.score(tender, win["id"], 80, 70)
        self.score(tender, lose["id"], 60, 70)
        return self.award(tender, win["id"]), win, lose


@pytest.fixture(name="tenders")
def tenders_fixture(world: World) -> Tenders:
    return Tenders(world)
