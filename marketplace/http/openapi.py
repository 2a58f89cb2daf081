"""``/api/v1/openapi.json``: the OpenAPI 3 document, generated from the endpoint declarations."""
from __future__ import annotations

import json
import re
import weakref
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, Response, current_app

from marketplace.http.endpoint import EndpointSpec
from marketplace.http.pagination import PageQuery

bp = Blueprint("openapi", __name__)

_PATH_ARG = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def _problem_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["title", "status"],
        "properties": {
            "type": {"type": "string"}, "title": {"type": "string"},
            "status": {"type": "integer"}, "detail": {"type": "string"},
            "errors": {"type": "object", "description": "field: messages (validation)"},
        },
    }


def answered_statuses(endpoint: EndpointSpec, *, has_path_args: bool) -> set[int]:
    """Every problem status the conventions of :mod:`marketplace.http.endpoint` can give
    this endpoint, plus the ones its area declares (``errors``)."""
    # 400 a malformed X-Request-Id (or body); 401 an unknown or revoked token, sent even
    # where no token is needed; 422 a query string (or body) that is not valid.
    codes = {400, 401, 422}
    if has_path_args:
        codes.add(404)  # no such object (or a path segment no object can have)
    if endpoint.roles is not None:
        codes.add(403)
    if endpoint.method != "GET":
        codes.add(409)  # the change clashes with the current state or a concurrent one
    if endpoint.if_match:
        codes |= {412, 428}
    if endpoint.body is not None:
        codes |= {413, 415}
    return codes | set(endpoint.errors)


def _operation(spec: APISpec, endpoint: EndpointSpec, path_args: list[str]) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": endpoint.summary, "tags": list(endpoint.tags),
                          "parameters": [{"in": "path", "name": a, "required": True,
                                          "schema": {"type": "string"}} for a in path_args]}
    if endpoint.query is not None:
        op["parameters"].append({"in": "query", "schema": endpoint.query})
    if endpoint.paginated:
        op["parameters"].append({"in": "query", "schema": PageQuery})
    if endpoint.body is not None:
        op["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": endpoint.body}}}
    if endpoint.idempotent:
        op["parameters"].append({"in": "header", "name": "Idempotency-Key",
                                 "schema": {"type": "string", "maxLength": 255}})
    if endpoint.if_match:
        op["parameters"].append({"in": "header", "name": "If-Match", "required": True,
                                 "schema": {"type": "string"}})
    content: dict[str, Any] = {}
    if endpoint.response is not None:
        schema: Any = endpoint.response
        if endpoint.paginated:
            schema = {"type": "object", "properties": {
                "items": {"type": "array", "items": endpoint.response},
                "page": {"type": "integer"}, "per_page": {"type": "integer"},
                "total": {"type": "integer"}, "links": {"type": "object"}}}
        content = {"application/json": {"schema": schema}}
    problem = {"application/problem+json": {"schema": PROBLEM_REF}}
    responses: dict[str, Any] = {str(endpoint.status): {"description": "OK", "content": content}}
    codes = answered_statuses(endpoint, has_path_args=bool(path_args))
    for code in sorted(codes):
        responses[str(code)] = {"description": "Problem", "content": problem}
    op["responses"] = responses
    if endpoint.roles is not None:
        op["security"] = [{"bearer": []}]
        op["x-roles"] = sorted(endpoint.roles)
    return op


def build_openapi(app: Flask) -> dict[str, Any]:
    spec = APISpec(title="NHS innovation marketplace API", version="1.0.0", openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin()])
    spec.components.schema("Problem", _problem_schema())
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions.get(rule.endpoint)
        endpoint: EndpointSpec | None = getattr(view, "endpoint_spec", None)
        if endpoint is None:
            continue
        path = _PATH_ARG.sub(r"{\1}", rule.rule)
        paths.setdefault(path, {})[endpoint.method.lower()] = _operation(
            spec, endpoint, _PATH_ARG.findall(rule.rule))
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


#: Each app's document, built on first request (its routes do not change after start).
_DOCUMENTS: weakref.WeakKeyDictionary[Flask, str] = weakref.WeakKeyDictionary()


@bp.get("/openapi.json")
def openapi_json() -> Response:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app not in _DOCUMENTS:
        _DOCUMENTS[app] = json.dumps(build_openapi(app))
    return Response(_DOCUMENTS[app], mimetype="application/json")
