"""Every role against every endpoint, generated from the URL map.

A new endpoint must appear in ``CONTRACT_ACCESS`` (who may call it, from
CONTRACT.md) or this test fails; each entry is then checked for every role.
Ownership rules (an innovator's own listing) are tested with each domain.
"""
from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from marketplace.app import create_app
from marketplace.http.wiring import marketplace_of
from marketplace.identity import service as identity
from marketplace.identity.models import Role
from marketplace.kernel.actor import Actor
from marketplace.kernel.settings import Settings
from marketplace.organisations import service as organisations
from tests.conftest import bearer

ROLES = ("admin", "icb_buyer", "innovator", "assessor", "funder", "trust_system")
ANYONE = None
PLAIN_ROUTES = {"/healthz", "/readyz", "/api/v1/openapi.json", "/static/<path:filename>"}

# (method, rule) -> roles allowed; ANYONE = no token needed.
CONTRACT_ACCESS: dict[tuple[str, str], tuple[str, ...] | None] = {
    ("GET", "/api/v1/organisations"): ANYONE,
    ("POST", "/api/v1/organisations"): ("admin",),
    ("GET", "/api/v1/organisations/<ods>"): ANYONE,
    ("PATCH", "/api/v1/organisations/<ods>"): ("admin",),
    ("GET", "/api/v1/audit"): ROLES,
    ("GET", "/api/v1/events"): ("trust_system", "admin"),
    # Catalogue and central approval (issue 4); ownership is tested in test_catalogue_*.
    ("GET", "/api/v1/innovations"): ANYONE,
    ("GET", "/api/v1/categories"): ANYONE,
    ("POST", "/api/v1/innovations"): ("innovator",),
    ("GET", "/api/v1/innovations/<innovation_id>"): ANYONE,
    ("PATCH", "/api/v1/innovations/<innovation_id>"): ("innovator",),
    ("GET", "/api/v1/innovations/<innovation_id>/history"): ("innovator", "assessor", "admin"),
    ("POST", "/api/v1/innovations/<innovation_id>/evidence"): ("innovator",),
    ("GET", "/api/v1/innovations/<innovation_id>/evidence"): ("innovator", "assessor", "admin"),
    ("GET", "/api/v1/innovations/<innovation_id>/evidence/<evidence_id>"): (
        "innovator", "assessor", "admin"),
    ("POST", "/api/v1/innovations/<innovation_id>/approvals"): ("innovator",),
    ("GET", "/api/v1/approvals"): ("assessor", "innovator"),
    ("GET", "/api/v1/approvals/<approval_id>"): ("assessor", "innovator"),
    ("POST", "/api/v1/approvals/<approval_id>/start-review"): ("assessor",),
    ("POST", "/api/v1/approvals/<approval_id>/decision"): ("assessor",),
    ("POST", "/api/v1/approvals/<approval_id>/suspend"): ("assessor",),
    ("POST", "/api/v1/approvals/<approval_id>/reinstate"): ("assessor",),
    ("POST", "/api/v1/approvals/<approval_id>/revoke"): ("assessor",),
    # Trust adapters' conformance (issue 5).
    ("GET", "/api/v1/trusts/conformance"): ("admin", "icb_buyer", "trust_system"),
    # Demand signals (issue 14): the owning ICB's buyers write, everyone reads.
    ("GET", "/api/v1/demand-signals"): ANYONE,
    ("POST", "/api/v1/demand-signals"): ("icb_buyer",),
    ("GET", "/api/v1/demand-signals/<signal_id>"): ANYONE,
    ("PATCH", "/api/v1/demand-signals/<signal_id>"): ("icb_buyer",),
    ("POST", "/api/v1/demand-signals/<signal_id>/close"): ("icb_buyer",),
    ("GET", "/api/v1/demand-signals/<signal_id>/matches"): ANYONE,
    ("GET", "/api/v1/demand/summary"): ANYONE,
    ("GET", "/api/v1/innovations/<innovation_id>/demand"): ANYONE,
    # Frameworks, lots and framework awards (issue 14): admin writes, published ones public.
    ("GET", "/api/v1/frameworks"): ANYONE,
    ("POST", "/api/v1/frameworks"): ("admin",),
    ("GET", "/api/v1/frameworks/<framework_id>"): ANYONE,
    ("POST", "/api/v1/frameworks/<framework_id>/publish"): ("admin",),
    ("POST", "/api/v1/frameworks/<framework_id>/lots"): ("admin",),
    ("GET", "/api/v1/frameworks/<framework_id>/lots/<lot_id>"): ANYONE,
    ("POST", "/api/v1/frameworks/<framework_id>/awards"): ("admin",),
    ("GET", "/api/v1/frameworks/<framework_id>/awards/<award_id>"): ANYONE,
    ("POST", "/api/v1/frameworks/<framework_id>/awards/<award_id>/withdraw"): ("admin",),
    # Tenders (issue 15): the running ICB's buyers act, innovators ask and respond,
    # published tenders public; sealed responses are tested in test_tenders_*.
    ("GET", "/api/v1/tenders"): ANYONE,
    ("POST", "/api/v1/tenders"): ("icb_buyer",),
    ("GET", "/api/v1/tenders/<tender_id>"): ANYONE,
    ("POST", "/api/v1/tenders/<tender_id>/publish"): ("icb_buyer",),
    ("POST", "/api/v1/tenders/<tender_id>/cancel"): ("icb_buyer",),
    ("GET", "/api/v1/tenders/<tender_id>/questions"): ANYONE,
    ("POST", "/api/v1/tenders/<tender_id>/questions"): ("innovator",),
    ("POST", "/api/v1/tenders/<tender_id>/questions/<question_id>/answer"): ("icb_buyer",),
    ("POST", "/api/v1/tenders/<tender_id>/responses"): ("innovator",),
    ("GET", "/api/v1/tenders/<tender_id>/responses"): ROLES,
    ("GET", "/api/v1/tenders/<tender_id>/responses/<response_id>"): ROLES,
    ("POST", "/api/v1/tenders/<tender_id>/responses/<response_id>/withdraw"): ("innovator",),
    ("POST", "/api/v1/tenders/<tender_id>/evaluations"): ("icb_buyer",),
    ("GET", "/api/v1/tenders/<tender_id>/evaluations"): ("icb_buyer",),
    ("POST", "/api/v1/tenders/<tender_id>/award"): ("icb_buyer",),
    ("GET", "/api/v1/tenders/<tender_id>/outcome"): ("icb_buyer", "innovator"),
    # Contracts (issue 15): the parties read, the buyer acts (tested in test_contracts).
    ("GET", "/api/v1/contracts"): ROLES,
    ("GET", "/api/v1/contracts/<contract_id>"): ROLES,
    ("POST", "/api/v1/contracts/<contract_id>/sign"): ("icb_buyer",),
    ("POST", "/api/v1/contracts/<contract_id>/vary"): ("icb_buyer",),
    ("POST", "/api/v1/contracts/<contract_id>/terminate"): ("icb_buyer",),
    # Open contracting data (issue 15): public.
    ("GET", "/api/v1/ocds/releases"): ANYONE,
    ("GET", "/api/v1/ocds/records/<ocid>"): ANYONE,
    # Funding (issue 16): pots and allocations are public; their owners write.
    ("GET", "/api/v1/funding"): ANYONE,
    ("POST", "/api/v1/funding"): ("funder", "icb_buyer"),
    ("GET", "/api/v1/funding/<pot_id>"): ANYONE,
    ("POST", "/api/v1/funding/<pot_id>/allocations"): ("funder", "icb_buyer"),
    ("GET", "/api/v1/funding/<pot_id>/allocations/<allocation_id>"): ANYONE,
    ("POST", "/api/v1/funding/<pot_id>/allocations/<allocation_id>/changes"):
        ("funder", "icb_buyer"),
    # Orders (issue 16): a trust orders and pays, the supplier invoices, parties read.
    ("POST", "/api/v1/orders"): ("trust_system",),
    ("GET", "/api/v1/orders"): ROLES,
    ("GET", "/api/v1/orders/<order_id>"): ROLES,
    ("POST", "/api/v1/orders/<order_id>/invoices"): ("innovator",),
    ("GET", "/api/v1/invoices/<invoice_id>"): ROLES,
    ("POST", "/api/v1/invoices/<invoice_id>/payments"): ("trust_system",),
    ("POST", "/api/v1/stripe/webhook"): ANYONE,
}


def _routes(app: Flask) -> list[tuple[str, str, object]]:
    """The API's operations (the ``api`` blueprint's routes). Pages and their assets are
    not API operations: they may not declare an endpoint spec, and each role's page
    tests check who may use them (the services decide, as for the API)."""
    found = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if not rule.endpoint.startswith("api."):
            assert not hasattr(view, "endpoint_spec"), rule.rule
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, rule.rule, view))
    return found


def _app() -> Flask:
    return create_app(Settings(database_url="sqlite://", secret_key="x"))


def test_every_endpoint_has_a_contract_entry_and_declares_it() -> None:
    app = _app()
    for method, rule, view in _routes(app):
        if rule in PLAIN_ROUTES:
            assert not hasattr(view, "endpoint_spec")
            continue
        assert (method, rule) in CONTRACT_ACCESS, f"{method} {rule} is missing from the table"
        declared = view.endpoint_spec.roles  # type: ignore[attr-defined]
        expected = CONTRACT_ACCESS[(method, rule)]
        assert declared == (None if expected is None else frozenset(expected)), (method, rule)


def _cases() -> list[tuple[str, str, str | None]]:
    app = _app()
    cases = []
    for method, rule, _ in _routes(app):
        if rule in PLAIN_ROUTES:
            continue
        for role in (None, *ROLES):
            cases.append((method, rule, role))
    return cases


#: (role, organisation code, parent ICB) of each role's token in the matrix's marketplace.
TOKEN_ORGS = {"icb_buyer": ("QOP", None), "innovator": ("09876543", None),
              "assessor": ("X24", None), "funder": ("X26", None),
              "trust_system": ("R0A", "QOP"), "admin": (None, None)}


@pytest.fixture(scope="module")
def matrix(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[FlaskClient, dict[str, str]]]:
    """One marketplace for the whole matrix, with a token per role: who may call an
    endpoint is decided before any service runs, whatever the database, so one SQLite
    copy serves every case (each area's tests cover both databases)."""
    path = tmp_path_factory.mktemp("matrix") / "matrix.db"
    shutil.copy(sqlite_template, path)
    app = create_app(Settings(database_url=f"sqlite:///{path}", secret_key="x"))
    tokens_by_role = {}
    with marketplace_of(app).committed(Actor(id="test", role="admin")) as uow:
        organisations.add(uow, code="QOP", kind="icb", name="Test ICB")
        for role, (code, parent) in TOKEN_ORGS.items():
            kind = identity.ROLE_ORGANISATION_KIND[Role(role)]
            if code is not None and code != "QOP":
                organisations.add(uow, code=code, kind=kind, name=f"Test {role}",
                                  parent=parent)
            tokens_by_role[role] = identity.create(uow, role=role, code=code,
                                                   name=f"test {role}")[1]
    yield app.test_client(), tokens_by_role
    marketplace_of(app).dispose()


@pytest.mark.parametrize(("method", "rule", "role"), _cases())
def test_role_against_endpoint(matrix: tuple[FlaskClient, dict[str, str]], method: str,
                               rule: str, role: str | None) -> None:
    client, tokens_by_role = matrix
    allowed = CONTRACT_ACCESS[(method, rule)]
    path = re.sub(r"<(?:[^:<>]+:)?[^<>]+>", "QZZ", rule)
    headers = bearer(tokens_by_role[role]) if role else {}
    response = client.open(path, method=method, json={}, headers=headers)
    if allowed is None or (role is not None and role in allowed):
        assert response.status_code not in (401, 403), response.get_json()
    elif role is None:
        assert response.status_code == 401
    else:
        assert response.status_code == 403
    # This marketplace has no Stripe settings: the payment endpoints say so (503, naming
    # what to set); nothing else answers 5xx.
    disabled = response.status_code == 503 and "STRIPE_API_KEY" in response.get_json()["detail"]
    assert response.status_code < 500 or disabled
