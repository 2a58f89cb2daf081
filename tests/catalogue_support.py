"""Shared helpers for the catalogue and approval tests: a ``world`` fixture with tokens for
two innovators and the assessor, valid request bodies, and readers of the outbox."""
from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from marketplace.approvals import deadlines as approval_expiry
from marketplace.kernel.outbox import outbox
from marketplace.kernel.unit_of_work import UnitOfWork
from schemas.events import registry
from tests.conftest import Clock, bearer

API = "/api/v1"
SECOND = timedelta(seconds=1)
INNOVATOR = "09876543"
OTHER_INNOVATOR = "11122233"
ASSESSOR = "X24"


LISTING_FIELDS = ("summary", "product_version", "categories", "pathway_stages", "use_cases",
                  "esf_tier", "device_class", "device_mark", "pricing_model")


def listing_body(**overrides: Any) -> dict[str, Any]:
    """A listing's API body, taken from the contract's ``innovation.listed`` example."""
    example = registry.by_name("innovation.listed").example
    body = {"name": example["product_name"], **{f: example[f] for f in LISTING_FIELDS}}
    body.update(overrides)
    return body


@dataclass
class World:
    """One test's marketplace: an HTTP client, the clock, and a token per party."""

    client: FlaskClient
    clock: Clock
    uow_factory: Callable[..., UnitOfWork]
    make_token: Callable[..., str]
    _tokens: dict[str, str] = field(default_factory=dict)

    def token(self, who: str) -> str:
        """``innovator``, ``other`` (a second innovator), ``assessor``, ``admin``..."""
        if who not in self._tokens:
            role, code = {"innovator": ("innovator", INNOVATOR),
                          "other": ("innovator", OTHER_INNOVATOR),
                          "assessor": ("assessor", ASSESSOR)}.get(who, (who, None))
            self._tokens[who] = self.make_token(role, code)
        return self._tokens[who]

    def headers(self, who: str | None, **extra: str) -> dict[str, str]:
        return {**(bearer(self.token(who)) if who else {}), **extra}

    # --- HTTP helpers -------------------------------------------------------------------
    def call(self, method: str, path: str, who: str | None = None, expect: int | None = None,
             **kwargs: Any) -> Any:
        headers = {**self.headers(who), **kwargs.pop("headers", {})}
        response = self.client.open(f"{API}{path}", method=method, headers=headers, **kwargs)
        if expect is not None:
            assert response.status_code == expect, response.get_data(as_text=True)
        return response

    def create_listing(self, who: str = "innovator", **overrides: Any) -> dict[str, Any]:
        return self.call("POST", "/innovations", who, 201,
                         json=listing_body(**overrides)).get_json()

    def patch(self, listing: dict[str, Any], who: str = "innovator", expect: int = 200,
              **changes: Any) -> Any:
        response = self.call("PATCH", f"/innovations/{listing['id']}", who, expect,
                             json=changes, headers={"If-Match": f'"{listing["version"]}"'})
        return response.get_json()

    def published(self, who: str = "innovator", **overrides: Any) -> dict[str, Any]:
        return self.patch(self.create_listing(who, **overrides), who, status="published")

    def upload(self, innovation_id: str, kind: str, content: bytes | None = None,
               who: str = "innovator", expect: int = 201) -> dict[str, Any]:
        content = content or f"%PDF-1.7 {kind} for {innovation_id}".encode()
        return self.call("POST", f"/innovations/{innovation_id}/evidence", who, expect, json={
            "kind": kind, "title": kind.replace("_", " ").title(), "filename": f"{kind}.pdf",
            "content_base64": base64.b64encode(content).decode()}).get_json()

    def submission(self, innovation_id: str, who: str = "innovator",
                   **sections: dict[str, Any]) -> dict[str, Any]:
        """A valid submission body (uploading the evidence it names); sections override."""
        body: dict[str, Any] = {
            "c1_clinical_safety": {
                "safety_case_evidence_id": self.upload(innovation_id, "dcb0129_safety_case",
                                                       who=who)["id"],
                "hazard_log_evidence_id": self.upload(innovation_id, "hazard_log",
                                                      who=who)["id"],
                "clinical_safety_officer": "Dr Priya Shah",
                "clinical_safety_officer_registration": "GMC 7654321"},
            "c2_data_protection": {
                "ico_registration": "ZA123456",
                "dpia_evidence_id": self.upload(innovation_id, "dpia", who=who)["id"],
                "dspt_status": "standards_met", "dspt_year": "2025-26"},
            "c3_technical_security": {
                "cyber_essentials_level": "cyber_essentials_plus",
                "cyber_essentials_expires_on": "2027-10-31",
                "penetration_test_on": "2026-06-01", "mfa_enabled": True},
            "c4_interoperability": {"interoperability_standards": ["FHIR UK Core"]},
            "d_usability_accessibility": {"wcag_level": "AA"},
            "device": {"device_class": "IIa", "device_mark": "UKCA",
                       "device_certificate_expires_on": "2029-06-30"},
            "nice": {"nice_esf_tier": "C", "nice_route": "early_value_assessment"},
        }
        for name, values in sections.items():
            body[name] = {**body[name], **values}
        return body

    def submit(self, innovation_id: str, who: str = "innovator", expect: int = 201,
               **sections: dict[str, Any]) -> Any:
        body = self.submission(innovation_id, who, **sections)
        response = self.call("POST", f"/innovations/{innovation_id}/approvals", who, expect,
                             json=body)
        return response.get_json()

    def act(self, approval_id: str, action: str, body: dict[str, Any] | None = None,
            who: str = "assessor", expect: int | None = 200) -> Any:
        return self.call("POST", f"/approvals/{approval_id}/{action}", who, expect,
                         json=body if body is not None else {})

    def approval_in(self, status: str, listing: dict[str, Any] | None = None
                    ) -> dict[str, Any]:
        """An approval of a fresh published listing, driven to ``status``."""
        listing = listing or self.published()
        approval = self.submit(listing["id"])
        path = PATHS[status]
        for action, body in path:
            if action == "tick":
                self.clock.now = datetime.fromisoformat(approval["expires_at"]) + SECOND
                with self.uow_factory() as uow:
                    approval_expiry.expire_due(uow)
                    uow.commit()
            else:
                self.act(approval["id"], action, body).get_json()
        return self.call("GET", f"/approvals/{approval['id']}", "assessor", 200).get_json()


PASS = {"c1": "pass", "c2": "pass", "c3": "pass", "c4": "pass", "d": "pass", "d_score": 86}
APPROVE = {"outcome": "approved", "dtac": PASS}
CONDITIONAL = {"outcome": "conditional", "dtac": {**PASS, "c4": "conditional"},
               "conditions": [{"text": "Publish a FHIR UK Core ServiceRequest interface.",
                               "due_on": "2027-09-30"}]}
REJECT = {"outcome": "rejected", "dtac": {**PASS, "c1": "fail"},
          "notes": "The hazard log does not cover triage mis-prioritisation."}
REASON = {"reason_code": "safety_concern", "reason": "Field safety notice under investigation."}
REINSTATE = {"reason": "Investigation closed; no change needed."}

# How to reach each status from a new submission: (endpoint action, body) steps.
PATHS: dict[str, list[tuple[str, dict[str, Any] | None]]] = {
    "submitted": [],
    "under_review": [("start-review", None)],
    "approved": [("start-review", None), ("decision", APPROVE)],
    "conditional": [("start-review", None), ("decision", CONDITIONAL)],
    "rejected": [("start-review", None), ("decision", REJECT)],
    "suspended": [("start-review", None), ("decision", APPROVE), ("suspend", REASON)],
    "revoked": [("start-review", None), ("decision", APPROVE), ("revoke", REASON)],
    "expired": [("start-review", None), ("decision", APPROVE), ("tick", None)],
}


def outbox_events(uow_factory: Callable[..., UnitOfWork], prefix: str = "") -> list[dict]:
    """Outbox rows in insertion order, ``data`` parsed; only ce_types containing ``prefix``."""
    with uow_factory() as uow:
        rows = uow.session.execute(select(outbox).order_by(outbox.c.id)).mappings().all()
    return [{**row, "data": json.loads(row["data"])} for row in rows
            if prefix in row["ce_type"]]


def ce(name: str) -> str:
    return f"uk.nhs.marketplace.{name}.v1"


@pytest.fixture(name="world")
def world_fixture(client: FlaskClient, clock: Clock, uow_factory: Callable[..., UnitOfWork],
          make_token: Callable[..., str]) -> World:
    return World(client, clock, uow_factory, make_token)
