"""The audit trail: written with each change, in its transaction, and readable by the parties."""
from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient
from sqlalchemy import func, select

from marketplace.kernel.actor import Actor
from marketplace.kernel.audit_log import AuditEvent
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.organisations import service as organisations
from marketplace.organisations.models import Organisation
from tests.conftest import bearer


def test_each_change_writes_an_audit_row_with_its_difference(
        client: FlaskClient, make_token: Callable[..., str]) -> None:
    admin = make_token("admin")
    client.post("/api/v1/organisations", json={"code": "QE1", "kind": "icb", "name": "A"},
                headers=bearer(admin))
    client.patch("/api/v1/organisations/QE1", json={"name": "B"},
                 headers={**bearer(admin), "If-Match": '"1"'})
    rows = client.get("/api/v1/audit?object_type=organisation", headers=bearer(admin)
                      ).get_json()["items"]
    assert [r["action"] for r in rows] == ["organisation.updated", "organisation.added"]
    assert rows[0]["changes"] == {"name": ["A", "B"]}
    assert rows[1]["changes"]["code"] == [None, "QE1"]
    assert rows[0]["actor_role"] == "admin" and rows[0]["request_id"]


def test_a_rolled_back_change_leaves_no_audit_row(uow_factory: Callable[..., UnitOfWork]) -> None:
    with uow_factory() as uow:
        organisations.add(uow, code="QE1", kind="icb", name="A")
        assert uow.session.scalar(select(func.count()).select_from(AuditEvent)) == 1
        uow.rollback()
    with uow_factory() as uow:
        assert uow.session.scalar(select(func.count()).select_from(AuditEvent)) == 0
        assert uow.session.scalar(select(func.count()).select_from(Organisation)) == 0
    with uow_factory() as uow:  # leaving the block without commit rolls back as well
        organisations.add(uow, code="QE1", kind="icb", name="A")
    with uow_factory() as uow:
        assert uow.session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_a_failed_request_leaves_no_audit_row(client: FlaskClient,
                                              make_token: Callable[..., str]) -> None:
    admin = make_token("admin")
    client.post("/api/v1/organisations", json={"code": "QE1", "kind": "icb", "name": "A"},
                headers=bearer(admin))
    before = client.get("/api/v1/audit", headers=bearer(admin)).get_json()["total"]
    assert client.post("/api/v1/organisations", json={"code": "QE1", "kind": "icb", "name": "A"},
                       headers=bearer(admin)).status_code == 409
    assert client.get("/api/v1/audit", headers=bearer(admin)).get_json()["total"] == before


def test_parties_see_only_their_own_rows_and_filters_work(
        client: FlaskClient, make_token: Callable[..., str],
        uow_factory: Callable[..., UnitOfWork]) -> None:
    buyer = make_token("icb_buyer", "QOP")
    make_token("icb_buyer", "QMJ")
    admin = make_token("admin")
    seen = client.get("/api/v1/audit", headers=bearer(buyer)).get_json()["items"]
    assert seen and {r["object_id"] for r in seen if r["object_type"] == "organisation"} == {
        "QOP"}
    everything = client.get("/api/v1/audit", headers=bearer(admin)).get_json()["items"]
    assert {r["object_id"] for r in everything if r["object_type"] == "organisation"} == {
        "QOP", "QMJ"}
    only_tokens = client.get("/api/v1/audit?action=token.created", headers=bearer(admin)
                             ).get_json()
    assert only_tokens["total"] == 3
    assert client.get("/api/v1/audit?actor=nobody", headers=bearer(admin)).get_json()[
        "total"] == 0
    with uow_factory(Actor(id="someone", role="admin")) as uow:
        organisations.add(uow, code="QE1", kind="icb", name="A")
        uow.commit()
    assert client.get("/api/v1/audit?actor=someone", headers=bearer(admin)).get_json()[
        "total"] == 1
    future = client.get("/api/v1/audit?since=2099-01-01T00:00:00%2B00:00", headers=bearer(admin))
    assert future.get_json()["total"] == 0
