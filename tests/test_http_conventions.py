"""The HTTP conventions every endpoint shares: problem+json errors, pagination,
``Idempotency-Key``, ``ETag``/``If-Match``, OpenAPI, health and readiness."""
from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from marketplace.http.wiring import marketplace_of
from tests.conftest import bearer

ORGS = "/api/v1/organisations"
ICB = {"code": "QE1", "kind": "icb", "name": "NHS Lancashire ICB"}


def assert_problem(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status and body["title"]
    assert "Traceback" not in response.get_data(as_text=True)
    return body


def _count(client: FlaskClient) -> int:
    return client.get(ORGS).get_json()["total"]


def test_malformed_json_is_400(client: FlaskClient, make_token: Callable[..., str]) -> None:
    response = client.post(ORGS, data=b'{"code": "QE1",', headers={
        **bearer(make_token("admin")), "Content-Type": "application/json"})
    assert "not valid JSON" in assert_problem(response, 400)["detail"]
    assert _count(client) == 0


def test_missing_bad_and_revoked_tokens_are_401(client: FlaskClient,
                                                uow_factory: Callable, make_token: Callable
                                                ) -> None:
    assert_problem(client.post(ORGS, json=ICB), 401)
    assert_problem(client.post(ORGS, json=ICB, headers=bearer("nhsm_nope")), 401)
    response = client.post(ORGS, json=ICB, headers={"Authorization": "Basic abc"})
    assert assert_problem(response, 401) and response.headers["WWW-Authenticate"].startswith(
        "Bearer")
    from marketplace.identity import service as tokens
    from marketplace.identity.models import ApiToken

    plain = make_token("admin")
    with uow_factory() as uow:
        token = uow.session.query(ApiToken).one()
        tokens.revoke(uow, token.id)
        uow.commit()
    assert_problem(client.post(ORGS, json=ICB, headers=bearer(plain)), 401)
    assert _count(client) == 0


def test_wrong_role_is_403(client: FlaskClient, make_token: Callable[..., str]) -> None:
    body = assert_problem(client.post(ORGS, json=ICB, headers=bearer(make_token("icb_buyer"))),
                          403)
    assert "admin" in body["detail"]


def test_unknown_object_and_route_are_404(client: FlaskClient) -> None:
    assert_problem(client.get(f"{ORGS}/QZZ"), 404)
    assert_problem(client.get("/api/v1/no-such-thing"), 404)


def test_wrong_method_is_405_with_allow(client: FlaskClient) -> None:
    response = client.delete(ORGS)
    assert_problem(response, 405)
    assert "POST" in response.headers["Allow"]


def test_body_over_the_limit_is_413(client: FlaskClient, make_token: Callable[..., str]) -> None:
    big = {**ICB, "name": "x" * (128 * 1024)}
    assert_problem(client.post(ORGS, json=big, headers=bearer(make_token("admin"))), 413)
    assert _count(client) == 0


def test_non_json_body_is_415(client: FlaskClient, make_token: Callable[..., str]) -> None:
    response = client.post(ORGS, data="code=QE1", headers={
        **bearer(make_token("admin")), "Content-Type": "application/x-www-form-urlencoded"})
    assert_problem(response, 415)


def test_validation_is_422_with_a_field_map(client: FlaskClient,
                                           make_token: Callable[..., str]) -> None:
    body = assert_problem(client.post(ORGS, json={"kind": "hospital", "surprise": 1},
                                      headers=bearer(make_token("admin"))), 422)
    assert set(body["errors"]) == {"code", "kind", "name", "surprise"}
    assert_problem(client.post(ORGS, json=[1, 2], headers=bearer(make_token("admin"))), 422)
    assert_problem(client.get(f"{ORGS}?per_page=101"), 422)
    assert_problem(client.get(f"{ORGS}?page=0"), 422)


def test_pagination_envelope_and_links(client: FlaskClient,
                                       make_token: Callable[..., str]) -> None:
    admin = make_token("admin")
    for n in range(5):
        client.post(ORGS, json={"code": f"Q0{n}", "kind": "icb", "name": f"ICB {n}"},
                    headers=bearer(admin))
    page = client.get(f"{ORGS}?per_page=2&page=2&kind=icb").get_json()
    assert [o["code"] for o in page["items"]] == ["Q02", "Q03"]
    assert (page["page"], page["per_page"], page["total"]) == (2, 2, 5)
    assert "page=3" in page["links"]["next"] and "page=1" in page["links"]["prev"]
    assert "kind=icb" in page["links"]["next"] and "page=3" in page["links"]["last"]
    last = client.get(page["links"]["last"]).get_json()
    assert [o["code"] for o in last["items"]] == ["Q04"] and "next" not in last["links"]


def test_idempotency_key_replays_and_rejects_a_different_body(
        client: FlaskClient, make_token: Callable[..., str]) -> None:
    headers = {**bearer(make_token("admin")), "Idempotency-Key": "create-qe1"}
    first = client.post(ORGS, json=ICB, headers=headers)
    again = client.post(ORGS, json=ICB, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _count(client) == 1
    other = client.post(ORGS, json={**ICB, "name": "Something else"}, headers=headers)
    assert "Idempotency-Key" in assert_problem(other, 422)["errors"]
    assert _count(client) == 1


def test_idempotency_keys_are_per_caller(client: FlaskClient,
                                         make_token: Callable[..., str]) -> None:
    key = {"Idempotency-Key": "same"}
    first = client.post(ORGS, json=ICB, headers={**bearer(make_token("admin")), **key})
    second = client.post(ORGS, json={**ICB, "code": "QE2"},
                         headers={**bearer(make_token("admin")), **key})
    assert first.status_code == second.status_code == 201
    assert _count(client) == 2


def test_failed_request_does_not_burn_the_key(client: FlaskClient,
                                              make_token: Callable[..., str]) -> None:
    headers = {**bearer(make_token("admin")), "Idempotency-Key": "k1"}
    assert client.post(ORGS, json={**ICB, "code": "bad"}, headers=headers).status_code == 422
    assert client.post(ORGS, json={**ICB, "code": "bad"}, headers=headers).status_code == 422
    assert client.post(ORGS, json=ICB, headers={**headers, "Idempotency-Key": "k2"}
                       ).status_code == 201


def test_openapi_document_is_valid_and_complete(app: Flask, client: FlaskClient) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    validate(doc)
    declared = {(rule.rule, m) for rule in app.url_map.iter_rules()
                if hasattr(app.view_functions[rule.endpoint], "endpoint_spec")
                for m in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path.replace("{", "<").replace("}", ">"), m.upper())
                  for path, ops in doc["paths"].items() for m in ops}
    assert declared == documented
    create = doc["paths"]["/api/v1/organisations"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "OrganisationCreate")
    assert "422" in create["responses"] and create["x-roles"] == ["admin"]


def test_healthz_and_readyz(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"]["database"]["ok"] is True


@pytest.mark.parametrize("port", [1])
def test_readyz_reports_an_unreachable_broker(settings, clock, port: int) -> None:  # type: ignore[no-untyped-def]
    from marketplace.app import create_app

    app = create_app(settings.with_overrides(kafka_bootstrap_servers=f"127.0.0.1:{port}"),
                     clock=clock)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["broker"]["ok"] is False
    marketplace_of(app).dispose()


def test_concurrent_requests_with_one_key_have_one_effect(app: Flask,
                                                          make_token: Callable[..., str]) -> None:
    """Racing retries with the same key: one organisation, and every caller gets its response."""
    import threading

    headers = {**bearer(make_token("admin")), "Idempotency-Key": "race"}
    # Use the token once first: its last_used_at update would otherwise serialise the race.
    assert app.test_client().get("/api/v1/audit", headers=headers).status_code == 200
    barrier = threading.Barrier(6)
    results: list[tuple[int, dict]] = []

    def post() -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post(ORGS, json=ICB, headers=headers)
        results.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [status for status, _ in results] == [201] * 6, results
    assert len({body["created_at"] for _, body in results}) == 1
    assert app.test_client().get(ORGS).get_json()["total"] == 1
