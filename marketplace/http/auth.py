"""Bearer-token authentication and role checks."""
from __future__ import annotations

from flask import request

from marketplace.http.problems import CHALLENGE, Problem
from marketplace.identity import service as tokens
from marketplace.kernel.actor import ANONYMOUS, Actor
from marketplace.kernel.unit_of_work import UnitOfWork


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if not header:
        return None
    if scheme.lower() != "bearer" or not value.strip():
        raise Problem(401, "Unauthorized", "Use 'Authorization: Bearer <token>'.", CHALLENGE)
    return value.strip()


def authenticate(uow: UnitOfWork) -> Actor:
    """The caller's actor; anonymous without a token, 401 for a bad or revoked token."""
    plain = bearer_token()
    if plain is None:
        return ANONYMOUS
    token = tokens.authenticate(uow, plain)
    if token is None:
        raise Problem(401, "Unauthorized", "The token is unknown or revoked.", CHALLENGE)
    org = token.organisation
    return Actor(id=token.id, role=token.role, organisation_id=org.id if org else None,
                 organisation_code=org.code if org else None, label=token.name)


def authorise(actor: Actor, roles: frozenset[str] | None) -> None:
    """``roles=None``: anyone; otherwise the caller must hold one of ``roles``."""
    if roles is None:
        return
    if actor is ANONYMOUS:
        raise Problem(401, "Unauthorized", "This endpoint needs a bearer token.", CHALLENGE)
    if str(actor.role) not in roles:
        allowed = ", ".join(sorted(roles))
        raise Problem(403, "Forbidden", f"Role {actor.role} may not do this; allowed: {allowed}.")
