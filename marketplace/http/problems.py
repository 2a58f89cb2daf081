"""RFC 9457 problem details for every API error: never an HTML page or a stack trace.

The handlers are scoped to the API blueprint (and to unrouted paths under its prefix), so
pages outside ``/api/v1`` can answer errors in HTML.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Response, json, request
from marshmallow import ValidationError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException, InternalServerError

from marketplace.kernel import errors

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
#: Sent with every 401 (RFC 6750).
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="marketplace"'}

DOMAIN_STATUS: dict[type[errors.DomainError], int] = {
    errors.NotFound: 404,
    errors.NotAuthenticated: 401,
    errors.Conflict: 409,
    errors.Forbidden: 403,
    errors.InvalidInput: 422,
    errors.PreconditionFailed: 412,
    errors.Unavailable: 503,
    errors.BadRequest: 400,
}


class Problem(Exception):
    """Raised by the HTTP layer to answer with a problem document."""

    def __init__(self, status: int, title: str, detail: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


def problem_response(status: int, title: str, detail: str | None = None,
                     headers: dict[str, str] | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def validation_problem(errors_map: dict[str, Any], detail: str = "The request body is not valid."
                       ) -> Response:
    return problem_response(422, "Validation failed", detail, errors=errors_map)


def _problem(exc: Problem) -> Response:
    return problem_response(exc.status, exc.title, exc.detail, exc.headers, **exc.extra)


def _domain(exc: errors.DomainError) -> Response:
    status = next((s for cls, s in DOMAIN_STATUS.items() if isinstance(exc, cls)), 400)
    headers = CHALLENGE if status == 401 else None
    return problem_response(status, exc.title, exc.detail, headers, **exc.extra)


def field_messages(exc: ValidationError) -> dict[str, Any]:
    """A marshmallow error as the ``errors`` field map (``_schema`` for the whole input)."""
    return exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}


def _validation(exc: ValidationError) -> Response:
    return validation_problem(field_messages(exc))


def _stale(exc: StaleDataError) -> Response:
    return problem_response(412, "Precondition failed",
                            "The object changed while you updated it; fetch it again.")


def _http(exc: HTTPException) -> Response:
    headers = {}
    if exc.code == 405 and exc.response is None:
        allowed = getattr(exc, "valid_methods", None)
        if allowed:
            headers["Allow"] = ", ".join(allowed)
    return problem_response(exc.code or 500, exc.name, exc.description, headers)


def _unexpected(exc: Exception) -> Response:
    log.exception("unhandled error")
    return problem_response(500, "Internal Server Error",
                            "Something went wrong on our side; it has been logged.")


#: Exception class -> the problem+json it answers, for every view of the API blueprint.
HANDLERS: dict[type[Exception], Callable[[Any], Response]] = {
    Problem: _problem,
    errors.DomainError: _domain,
    ValidationError: _validation,
    StaleDataError: _stale,
    HTTPException: _http,
    Exception: _unexpected,
}


def register_api_problems(blueprint: Blueprint) -> None:
    """Every error raised by a view of ``blueprint`` (and its children) as problem+json."""
    for exc_class, handler in HANDLERS.items():
        blueprint.register_error_handler(exc_class, handler)


def register_unrouted_problems(app: Flask, prefix: str,
                               page: Callable[[HTTPException], Response] | None = None
                               ) -> None:
    """Errors raised before a view is chosen (an unknown path, a method not allowed) are
    problem+json under ``prefix``; elsewhere ``page`` renders them (the pages' HTML error
    page), or Flask's own page stands."""

    def _outside_views(exc: HTTPException) -> Response | HTTPException:
        if request.path == prefix or request.path.startswith(prefix + "/"):
            return _http(exc)
        return page(exc) if page is not None else exc

    def _unexpected_outside_views(exc: Exception) -> Response | Exception:
        if request.path == prefix or request.path.startswith(prefix + "/"):
            return _unexpected(exc)
        log.exception("unhandled error")
        return page(InternalServerError()) if page is not None else InternalServerError()

    app.register_error_handler(HTTPException, _outside_views)
    app.register_error_handler(Exception, _unexpected_outside_views)
