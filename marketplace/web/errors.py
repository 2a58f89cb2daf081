"""HTML error pages (404, 403, 500 and the rest) for the pages, in the same design; the
API under ``/api/v1`` keeps answering problem+json (``marketplace.http.problems``)."""
from __future__ import annotations

from flask import Flask, Response, make_response
from werkzeug.exceptions import HTTPException

from marketplace.http.problems import DOMAIN_STATUS
from marketplace.kernel.errors import DomainError
from marketplace.web.pages import render

TITLES = {400: "Sorry, there is a problem with the request",
          401: "You need to sign in", 403: "You do not have access to this page",
          404: "Page not found", 405: "Sorry, that cannot be done here",
          409: "Sorry, that cannot be done now", 413: "The upload is too large",
          422: "Sorry, there is a problem with what you entered",
          429: "Too many attempts", 500: "Sorry, there is a problem with the service",
          503: "Sorry, the service is unavailable"}
DETAILS = {404: "If you typed the web address, check it is correct. If you pasted the web "
                "address, check you copied the entire address.",
           500: "Try again later. Nothing you sent has been saved."}


def error_page(status: int, detail: str | None = None) -> Response:
    title = TITLES.get(status, "Sorry, there is a problem")
    body, _ = render("errors/error.html", title, status=status,
                     detail=detail or DETAILS.get(status, ""))
    return make_response(body, status)


def http_error_page(exc: HTTPException) -> Response:
    status = exc.code or 500
    detail = DETAILS.get(status) if status in DETAILS else exc.description
    return error_page(status, detail)


def install(app: Flask) -> None:
    """Domain errors raised by page views as HTML pages with their status (the API's
    blueprint handles its own first)."""

    def _domain(exc: DomainError) -> Response:
        status = next((code for cls, code in DOMAIN_STATUS.items() if isinstance(exc, cls)),
                      500)
        return error_page(status, exc.detail)

    app.register_error_handler(DomainError, _domain)
