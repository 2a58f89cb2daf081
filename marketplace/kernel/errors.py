"""Domain errors: what went wrong in the rules, independent of HTTP.

The HTTP layer maps each class to a status code and a problem+json body.
"""
from __future__ import annotations

from typing import Any


class DomainError(Exception):
    title = "Request failed"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(DomainError):
    title = "Not found"


class Conflict(DomainError):
    """The request clashes with the current state (a duplicate, a forbidden transition)."""

    title = "Conflict"


class NotAuthenticated(DomainError):
    """The rule depends on who the caller is, and the caller did not say (HTTP 401)."""

    title = "Unauthorized"


class Forbidden(DomainError):
    title = "Forbidden"


class InvalidInput(DomainError):
    """Input that is well formed but breaks a rule; ``errors`` maps fields to messages."""

    title = "Validation failed"

    def __init__(self, detail: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(detail, errors=errors or {})


class PreconditionFailed(DomainError):
    title = "Precondition failed"


class Unavailable(DomainError):
    """A service the request needs is switched off or cannot be reached (HTTP 503); the
    detail says which, and what would switch it on."""

    title = "Service unavailable"


class BadRequest(DomainError):
    """A request the server will not read at all (an unsigned webhook, say: HTTP 400)."""

    title = "Bad request"
