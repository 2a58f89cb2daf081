"""Organisations over HTTP: validation, trusts and their ICB, ICB succession, ETag updates."""
from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient

from tests.conftest import bearer


def _add(client: FlaskClient, admin: str, **body: object) -> dict:
    response = client.post("/api/v1/organisations", json=body, headers=bearer(admin))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_admin_creates_and_anyone_lists(client: FlaskClient, make_token: Callable[..., str]
                                        ) -> None:
    admin = make_token("admin")
    created = _add(client, admin, code="qe1", kind="icb", name="NHS Lancashire ICB")
    assert created["code"] == "QE1" and created["kind"] == "icb" and created["version"] == 1
    _add(client, admin, code="RXN", kind="trust", name="Lancashire Teaching Hospitals",
         parent="QE1")

    listing = client.get("/api/v1/organisations?kind=trust").get_json()
    assert [o["code"] for o in listing["items"]] == ["RXN"]
    assert listing["items"][0]["parent"] == {"code": "QE1", "name": "NHS Lancashire ICB"}
    assert client.get("/api/v1/organisations?parent=QE1").get_json()["total"] == 1
    one = client.get("/api/v1/organisations/rxn")
    assert one.status_code == 200 and one.headers["ETag"] == '"1"'


def test_codes_are_validated_per_kind(client: FlaskClient, make_token: Callable[..., str]
                                      ) -> None:
    admin = make_token("admin")
    cases = [
        {"code": "RXN", "kind": "icb", "name": "x"},          # ICBs start with Q
        {"code": "QXXX", "kind": "icb", "name": "x"},         # three characters
        {"code": "1234", "kind": "innovator", "name": "x"},   # not a Companies House number
        {"code": "RXN", "kind": "trust", "name": "x"},        # no parent ICB
    ]
    for body in cases:
        response = client.post("/api/v1/organisations", json=body, headers=bearer(admin))
        assert response.status_code == 422, body
        problem = response.get_json()
        assert response.mimetype == "application/problem+json"
        assert problem["status"] == 422 and set(problem["errors"]) <= {"code", "parent"}
    assert client.get("/api/v1/organisations").get_json()["total"] == 0  # nothing was written


def test_duplicate_code_is_a_conflict(client: FlaskClient, make_token: Callable[..., str]) -> None:
    admin = make_token("admin")
    _add(client, admin, code="QE1", kind="icb", name="A")
    response = client.post("/api/v1/organisations", json={"code": "QE1", "kind": "icb",
                                                            "name": "B"}, headers=bearer(admin))
    assert response.status_code == 409
    assert response.get_json()["title"] == "Conflict"


def test_merged_icb_lookups_follow_the_successor(client: FlaskClient,
                                                  make_token: Callable[..., str]) -> None:
    admin = make_token("admin")
    _add(client, admin, code="QUY", kind="icb", name="BNSSG ICB")
    _add(client, admin, code="Q9W", kind="icb", name="West of England ICB")
    _add(client, admin, code="RA7", kind="trust", name="UH Bristol", parent="QUY")
    etag = client.get("/api/v1/organisations/QUY").headers["ETag"]
    merged = client.patch("/api/v1/organisations/QUY", json={"successor": "Q9W",
                          "succeeded_on": "2026-04-01"},
                          headers={**bearer(admin), "If-Match": etag})
    assert merged.status_code == 200, merged.get_json()
    assert merged.get_json()["successor"]["code"] == "Q9W"
    assert merged.headers["ETag"] == '"2"'

    found = client.get("/api/v1/organisations/QUY").get_json()
    assert found["code"] == "Q9W" and found["requested_code"] == "QUY"
    assert [p["code"] for p in found["predecessors"]] == ["QUY"]
    # History is kept: the old ICB is still listed, with its successor.
    old = [o for o in client.get("/api/v1/organisations?kind=icb").get_json()["items"]
           if o["code"] == "QUY"]
    assert old[0]["successor"]["code"] == "Q9W" and old[0]["succeeded_on"] == "2026-04-01"
    # Its trusts are now the successor's, and listing the old or new code finds them.
    ra7 = client.get("/api/v1/organisations/RA7").get_json()
    assert ra7["parent"]["code"] == "QUY" and ra7["current_parent"]["code"] == "Q9W"
    for code in ("QUY", "Q9W"):
        listed = client.get(f"/api/v1/organisations?parent={code}").get_json()["items"]
        assert [o["code"] for o in listed] == ["RA7"]
    # A new trust naming the old code joins the successor.
    trust = _add(client, admin, code="RVJ", kind="trust", name="North Bristol", parent="QUY")
    assert trust["parent"]["code"] == "Q9W"


def test_update_needs_a_current_etag(client: FlaskClient, make_token: Callable[..., str]) -> None:
    admin = make_token("admin")
    _add(client, admin, code="QE1", kind="icb", name="A")
    url = "/api/v1/organisations/QE1"
    missing = client.patch(url, json={"name": "B"}, headers=bearer(admin))
    assert missing.status_code == 428
    ok = client.patch(url, json={"name": "B"}, headers={**bearer(admin), "If-Match": '"1"'})
    assert ok.status_code == 200 and ok.get_json()["name"] == "B"
    stale = client.patch(url, json={"name": "C"}, headers={**bearer(admin), "If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.get_json()["title"] == "Precondition failed"
    assert client.get(url).get_json()["name"] == "B"
