"""One decorator that gives every API endpoint the same conventions.

A view only parses (the declared schemas), calls one service function and returns
what to serialise. The decorator authenticates, authorises, parses and validates,
runs the view inside a unit of work, applies ``Idempotency-Key`` and ``If-Match``,
serialises, and commits. The declared metadata also feeds the OpenAPI document
and the generated authorisation tests.
"""
from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, request
from marshmallow import Schema, ValidationError
from sqlalchemy import Select
from sqlalchemy.exc import IntegrityError

from marketplace.http import idempotency, text_input
from marketplace.http.auth import ANONYMOUS, authenticate, authorise
from marketplace.http.etag import etag_for, required_if_match_version
from marketplace.http.pagination import PageQuery, paginate
from marketplace.http.problems import Problem, field_messages
from marketplace.http.wiring import marketplace_of
from marketplace.kernel.actor import Actor
from marketplace.kernel.errors import Conflict
from marketplace.kernel.mapped_query import MappedQuery
from marketplace.kernel.unit_of_work import UnitOfWork

PUBLIC = None  # roles=PUBLIC: no token needed


@dataclass(frozen=True)
class EndpointSpec:
    method: str
    roles: frozenset[str] | None
    summary: str
    body: type[Schema] | None = None
    query: type[Schema] | None = None
    response: type[Schema] | None = None
    paginated: bool = False
    status: int = 200
    idempotent: bool = False
    if_match: bool = False
    etag: bool = False
    raw: bool = False
    tags: tuple[str, ...] = ()
    errors: tuple[int, ...] = field(default=())


@dataclass
class Call:
    """What a view gets: the unit of work, the caller and the parsed input."""

    uow: UnitOfWork
    actor: Actor
    body: dict[str, Any]
    query: dict[str, Any]
    expected_version: int | None = None


@dataclass
class Created:
    """Return this from a creating view to answer 201 with a ``Location``."""

    obj: Any
    location: str


@dataclass
class Refused:
    """Return this when a refusal is itself a record (an order refused by the route's
    checks is stored and announced): the problem answer is committed with what the view
    wrote, and a retry with the same ``Idempotency-Key`` gets it again, like a success."""

    response: Response


#: ``X-Request-Id`` is kept on every audit row of the request (a column of this width).
MAX_REQUEST_ID = 64
_REQUEST_ID = re.compile(rf"[!-~]{{1,{MAX_REQUEST_ID}}}")


def _request_id() -> str:
    """The caller's ``X-Request-Id`` (printable ASCII, at most 64), or a new UUID."""
    given = request.headers.get("X-Request-Id")
    if given is None:
        return str(uuid.uuid4())
    if _REQUEST_ID.fullmatch(given) is None:
        raise Problem(400, "Bad Request", f"X-Request-Id must be 1 to {MAX_REQUEST_ID} "
                      "printable ASCII characters without spaces.")
    return given


def _is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or mimetype.endswith("+json")


def _parse_json_body() -> Any:
    if not _is_json(request.mimetype or ""):
        raise Problem(415, "Unsupported Media Type", "Send the body as application/json.")
    return text_input.parse_json(request.get_data(cache=True))


@functools.cache
def _with_paging(schema_cls: type[Schema] | None) -> type[Schema]:
    """A list endpoint's query schema plus ``page``/``per_page`` (built once per schema)."""
    if schema_cls is None:
        return PageQuery
    return type(f"{schema_cls.__name__}Paged", (schema_cls, PageQuery), {})


def _load(schema_cls: type[Schema] | None, data: Any, *, paginated: bool,
          where: str = "body") -> dict[str, Any]:
    """``data`` loaded by the endpoint's schema; a 422 says whether the body or the query
    string is not valid."""
    if schema_cls is None and not paginated:
        return {}
    schema = (_with_paging(schema_cls) if paginated else schema_cls)()  # type: ignore[misc]
    if data is None or not isinstance(data, dict):
        raise Problem(422, "Validation failed", "The body must be a JSON object.",
                      errors={"_schema": ["must be an object"]})
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise Problem(422, "Validation failed", f"The {_WHERE[where]} is not valid.",
                      errors=field_messages(exc)) from exc


_WHERE = {"body": "request body", "query": "query string"}


class ApiBlueprint(Blueprint):
    """A blueprint whose routes are declared with :meth:`endpoint`."""

    def endpoint(self, method: str, rule: str, *, roles: tuple[str, ...] | None, summary: str,
                 **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Response]]:
        spec = EndpointSpec(method=method, roles=None if roles is None else frozenset(roles),
                            summary=summary, tags=(self.name,), **options)

        def decorator(view: Callable[..., Any]) -> Callable[..., Response]:
            @functools.wraps(view)
            def wrapper(**path_args: Any) -> Response:
                return _handle(spec, view, path_args)

            wrapper.endpoint_spec = spec  # type: ignore[attr-defined]
            self.add_url_rule(rule, endpoint=view.__name__, view_func=wrapper, methods=[method])
            return wrapper

        return decorator


def _serialise(spec: EndpointSpec, result: Any, call: Call) -> Response:
    if isinstance(result, Response):
        return result
    if isinstance(result, Refused):
        return result.response
    status, location, obj = spec.status, None, result
    if isinstance(result, Created):
        status, location, obj = 201, result.location, result.obj
    if spec.paginated:
        assert isinstance(obj, Select | MappedQuery) and spec.response is not None
        body = paginate(call.uow.session, obj, spec.response(), call.query["page"],
                        call.query["per_page"])
    elif spec.response is not None:
        body = spec.response().dump(obj)
    else:
        body = obj
    response = Response(json.dumps(body), status=status, mimetype="application/json")
    if location:
        response.headers["Location"] = location
    version = obj.get("version") if isinstance(obj, dict) else getattr(obj, "version", None)
    if spec.etag and version is not None:
        response.headers["ETag"] = etag_for(version)
    return response


def _handle(spec: EndpointSpec, view: Callable[..., Any], path_args: dict[str, Any]) -> Response:
    text_input.check_path(path_args)
    request_id = _request_id()
    with marketplace_of().unit_of_work(ANONYMOUS, request_id=request_id) as uow:
        actor = authenticate(uow)
        uow.actor = actor
        authorise(actor, spec.roles)
        text_input.check_query(request.args.items(multi=True))
        raw_body = _parse_json_body() if spec.body is not None else None
        body = _load(spec.body, raw_body, paginated=False) if spec.body is not None else {}
        query = _load(spec.query, request.args.to_dict(), paginated=spec.paginated,
                      where="query")
        expected = required_if_match_version() if spec.if_match else None
        key = idempotency.request_key() if spec.idempotent else None
        fingerprint = idempotency.request_fingerprint(raw_body) if key else ""
        if key:
            stored = idempotency.find(uow.session, actor.id, key)
            if stored is not None:
                return idempotency.replay(stored, fingerprint)
        call = Call(uow=uow, actor=actor, body=body, query=query, expected_version=expected)
        try:
            result = view(call, **path_args)
            response = _serialise(spec, result, call)
            if key and (response.status_code < 400 or isinstance(result, Refused)):
                idempotency.record(uow.session, actor.id, key, fingerprint, response)
            uow.commit()
        except (IntegrityError, Conflict) as exc:
            # A concurrent request may have done this very change under the same key.
            uow.rollback()
            if key and (stored := idempotency.find(uow.session, actor.id, key)) is not None:
                return idempotency.replay(stored, fingerprint)
            if isinstance(exc, Conflict):
                raise
            raise Problem(409, "Conflict", "The change clashes with a concurrent one; retry."
                          ) from exc
        return response

