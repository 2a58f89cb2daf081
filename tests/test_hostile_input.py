"""Hostile input against every operation of the OpenAPI document: a 4xx problem, nothing changed.

Each class of input (JSON nested too deep, a lone UTF-16 surrogate, a NUL character in a
string, a query value or a path segment, integers past the database's range, a chunked
body past the limit, an over-long ``X-Request-Id``) is sent to every operation that
takes it, by a caller the operation admits, and the database's every table is counted
before and after. Hypothesis places the hostile value at generated places in a body.
"""
from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from marketplace.http.text_input import MAX_DEPTH
from marketplace.http.wiring import marketplace_of
from marketplace.kernel.db import metadata
from tests.conftest import bearer

PROBLEM = "application/problem+json"
PAST_BIGINT = 2**63 + 1


def _operations(app: Flask) -> list[tuple[str, str, dict[str, Any]]]:
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    return [(method.upper(), path, op) for path, ops in doc["paths"].items()
            for method, op in ops.items()]


def _url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "QZZ", path)


@pytest.fixture
def as_allowed(make_token: Callable[..., str]) -> Callable[[dict[str, Any]], dict[str, str]]:
    """Headers of a caller the operation admits (anonymous where anyone may call)."""
    tokens: dict[str, str] = {}

    def headers(op: dict[str, Any]) -> dict[str, str]:
        roles = op.get("x-roles")
        if not roles:
            return {}
        role = roles[0]
        if role not in tokens:
            tokens[role] = make_token(role)
        return bearer(tokens[role])

    return headers


def _counts(app: Flask) -> dict[str, int]:
    with marketplace_of(app).engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in metadata.sorted_tables}


def _refused(response: Any, *statuses: int) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.data[:300])
    if statuses:
        assert response.status_code in statuses, (response.status_code, response.get_json())
    assert response.content_type == PROBLEM, response.data[:300]
    assert {"title", "status"} <= set(response.get_json())


def _body_operations(app: Flask) -> list[tuple[str, str, dict[str, Any]]]:
    return [o for o in _operations(app) if "requestBody" in o[2]]


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_json_nested_a_thousand_levels_is_refused_everywhere(
        app: Flask, client: FlaskClient, as_allowed: Callable[..., dict[str, str]]) -> None:
    operations = _body_operations(app)
    assert operations
    headers = {(m, p): as_allowed(op) for m, p, op in operations}
    before = _counts(app)
    for method, path, _ in operations:
        for depth in (MAX_DEPTH + 2, 1000, 20_000):
            response = client.open(_url(path), method=method, data=_deep(depth),
                                   content_type="application/json", headers=headers[(method, path)])
            _refused(response, 400)
    assert _counts(app) == before


@st.composite
def _hostile_body(draw: st.DrawFn, hostile: str) -> Any:
    """A JSON object with ``hostile`` as a key or a value somewhere inside it."""
    leaves = st.one_of(st.integers(), st.booleans(), st.text(max_size=5),
                       st.just(hostile), st.just(f"a{hostile}b"))
    tree = st.recursive(leaves, lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(["name", "code", hostile, "x"]), children, max_size=3)),
        max_leaves=8)
    body = draw(st.dictionaries(st.sampled_from(["name", "kind", "code", "summary", hostile]),
                                tree, min_size=1, max_size=4))
    if hostile not in json.dumps(body, ensure_ascii=False):
        body[draw(st.sampled_from(["name", "summary"]))] = hostile
    return body


@pytest.mark.parametrize(("hostile", "status"), [("\ud800", 400), ("\udfff", 400),
                                                 ("\x00", 422)])
def test_lone_surrogates_and_nul_in_any_json_string_are_refused(
        app: Flask, client: FlaskClient, as_allowed: Callable[..., dict[str, str]],
        hostile: str, status: int) -> None:
    operations = _body_operations(app)
    headers = {(m, p): as_allowed(op) for m, p, op in operations}
    before = _counts(app)

    @settings(max_examples=15, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
    @given(body=_hostile_body(hostile), which=st.integers(0, len(operations) - 1))
    def check(body: Any, which: int) -> None:
        method, path, _ = operations[which]
        # ensure_ascii writes the lone surrogate as the escape \ud800, as an attacker would.
        raw = json.dumps(body)
        response = client.open(_url(path), method=method, data=raw,
                               content_type="application/json", headers=headers[(method, path)])
        _refused(response, status)

    check()
    assert _counts(app) == before


def test_nul_in_any_query_value_or_path_segment_is_refused(
        app: Flask, client: FlaskClient, as_allowed: Callable[..., dict[str, str]]) -> None:
    operations = _operations(app)
    headers = {(m, p): as_allowed(op) for m, p, op in operations}
    before = _counts(app)
    for method, path, op in operations:
        names = [p["name"] for p in op.get("parameters", []) if p.get("in") == "query"] or ["q"]
        for name in names:
            response = client.open(_url(path), method=method, query_string={name: "a\x00b"},
                                   json={}, headers=headers[(method, path)])
            _refused(response, 422)
            assert response.get_json()["detail"] == "The query string is not valid."
        if "{" in path:
            url = re.sub(r"\{[^}]+\}", "a%00b", path)
            response = client.open(url, method=method, json={},
                                   headers=headers[(method, path)])
            _refused(response, 404)
    assert _counts(app) == before


def _integer_query_parameters(op: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in op.get("parameters", []) if p.get("in") == "query"
            and p.get("schema", {}).get("type") == "integer"]


def test_every_integer_query_parameter_declares_a_bound_the_database_holds(
        app: Flask) -> None:
    found = 0
    for method, path, op in _operations(app):
        for parameter in _integer_query_parameters(op):
            found += 1
            maximum = parameter["schema"].get("maximum")
            assert maximum is not None and maximum < 2**63, (method, path, parameter["name"])
    assert found >= 3


def test_integers_past_the_databases_range_are_refused(
        app: Flask, client: FlaskClient, as_allowed: Callable[..., dict[str, str]]) -> None:
    operations = [(m, p, op, as_allowed(op)) for m, p, op in _operations(app)]
    before = _counts(app)
    tried = 0
    for method, path, op, headers in operations:
        for parameter in _integer_query_parameters(op):
            for value in (PAST_BIGINT, -PAST_BIGINT, 10**400):
                response = client.open(_url(path), method=method,
                                       query_string={parameter["name"]: str(value)},
                                       headers=headers)
                _refused(response, 422)
                tried += 1
    assert tried and _counts(app) == before


def test_a_chunked_body_past_the_limit_is_413_like_a_sized_one(
        app: Flask, client: FlaskClient, make_token: Callable[..., str]) -> None:
    limit = marketplace_of(app).settings.max_content_length
    headers = {**bearer(make_token("innovator")), "Content-Type": "application/json",
               "Transfer-Encoding": "chunked"}
    before = _counts(app)
    body = json.dumps({"kind": "other", "title": "t", "filename": "a.pdf",
                       "media_type": "application/pdf",
                       "content_base64": "A" * (3 * limit)}).encode()
    response = client.post("/api/v1/innovations/QZZ/evidence", input_stream=io.BytesIO(body),
                           headers=headers,
                           environ_overrides={"CONTENT_LENGTH": "",
                                              "wsgi.input_terminated": True})
    _refused(response, 413)
    sized = client.post("/api/v1/innovations/QZZ/evidence", data=body, headers={
        k: v for k, v in headers.items() if k != "Transfer-Encoding"})
    _refused(sized, 413)
    small = client.post("/api/v1/innovations/QZZ/evidence", input_stream=io.BytesIO(b"{}"),
                        headers=headers, environ_overrides={"CONTENT_LENGTH": "",
                                                            "wsgi.input_terminated": True})
    _refused(small, 422)  # read whole and validated, not cut off
    assert _counts(app) == before


def test_an_over_long_request_id_is_refused_before_it_reaches_the_audit_trail(
        client: FlaskClient, make_token: Callable[..., str], app: Flask) -> None:
    headers = bearer(make_token("admin"))
    before = _counts(app)
    for bad in ("x" * 65, "has space", ""):
        response = client.post("/api/v1/organisations", headers={**headers,
                               "X-Request-Id": bad},
                               json={"code": "QE1", "kind": "icb", "name": "Lancashire ICB"})
        _refused(response, 400)
    assert _counts(app) == before
    ok = client.post("/api/v1/organisations", headers={**headers, "X-Request-Id": "r" * 64},
                     json={"code": "QE1", "kind": "icb", "name": "Lancashire ICB"})
    assert ok.status_code == 201


def _datetime_query_parameters(op: dict[str, Any]) -> list[str]:
    return [p["name"] for p in op.get("parameters", []) if p.get("in") == "query"
            and p.get("schema", {}).get("format") == "date-time"]


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:30:00-05:00",
                                    "0001-01-01T00:00:00+23:59"])
def test_instants_with_no_utc_form_are_refused_in_every_query(
        app: Flask, client: FlaskClient, as_allowed: Callable[..., dict[str, str]],
        moment: str) -> None:
    tried = 0
    for method, path, op in _operations(app):
        for name in _datetime_query_parameters(op):
            response = client.open(_url(path), method=method, query_string={name: moment},
                                   headers=as_allowed(op))
            _refused(response, 422)
            assert name in response.get_json()["errors"]
            tried += 1
    assert tried >= 2
    edge = client.get("/api/v1/audit", query_string={"since": "0001-01-01T00:00:00+00:00",
                                                     "until": "9999-12-31T23:59:59+00:00"},
                      headers=as_allowed({"x-roles": ["admin"]}))
    assert edge.status_code == 200


def test_a_string_longer_than_its_column_is_refused_on_every_database(
        app: Flask, uow_factory: Callable[..., Any]) -> None:
    from marketplace.kernel.errors import InvalidInput
    from marketplace.organisations import service as organisations

    before = _counts(app)
    with uow_factory() as uow:
        with pytest.raises(InvalidInput) as refused:
            organisations.add(uow, code="QE1", kind="icb", name="N" * 201)
        uow.rollback()
    assert refused.value.extra["errors"] == {"name": ["at most 200 characters"]}
    assert _counts(app) == before
    with uow_factory() as uow:
        organisations.add(uow, code="QE1", kind="icb", name="N" * 200)
        uow.commit()
