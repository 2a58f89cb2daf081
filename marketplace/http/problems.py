"""RFC 9457 problem details for every error: never an HTML page or a stack trace."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, json
from marshmallow import ValidationError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from marketplace import errors

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

DOMAIN_STATUS: dict[type[errors.DomainError], int] = {
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.Forbidden: 403,
    errors.InvalidInput: 422,
    errors.PreconditionFailed: 412,
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


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(Problem)
    def _problem(exc: Problem) -> Response:
        return problem_response(exc.status, exc.title, exc.detail, exc.headers, **exc.extra)

    @app.errorhandler(errors.DomainError)
    def _domain(exc: errors.DomainError) -> Response:
        status = next((s for cls, s in DOMAIN_STATUS.items() if isinstance(exc, cls)), 400)
        return problem_response(status, exc.title, exc.detail, **exc.extra)

    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError) -> Response:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        return validation_problem(messages)

    @app.errorhandler(StaleDataError)
    def _stale(exc: StaleDataError) -> Response:
        return problem_response(412, "Precondition failed",
                                "The object changed while you updated it; fetch it again.")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        headers = {}
        if exc.code == 405 and exc.response is None:
            allowed = getattr(exc, "valid_methods", None)
            if allowed:
                headers["Allow"] = ", ".join(allowed)
        return problem_response(exc.code or 500, exc.name, exc.description, headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return problem_response(500, "Internal Server Error",
                                "Something went wrong on our side; it has been logged.")
