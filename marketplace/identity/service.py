"""API tokens: created once (the plain value is shown only then), stored hashed, revocable."""
from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import Any

from sqlalchemy import select

from marketplace.identity.models import ApiToken
from marketplace.kernel.errors import Conflict, InvalidInput, NotFound
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.kernel.wording import a_or_an
from marketplace.organisations import service as organisations
from marketplace.organisations.models import Organisation
from schemas.statuses import OrganisationKind, Role

TOKEN_PREFIX = "nhsm_"

# Which kind of organisation each role acts for.
ROLE_ORGANISATION_KIND: dict[Role, OrganisationKind | None] = {
    Role.ICB_BUYER: OrganisationKind.ICB,
    Role.INNOVATOR: OrganisationKind.INNOVATOR,
    Role.ASSESSOR: OrganisationKind.ASSESSOR,
    Role.FUNDER: OrganisationKind.FUNDER,
    Role.TRUST_SYSTEM: OrganisationKind.TRUST,
    Role.ADMIN: None,
}


def hash_token(token: str) -> str:
    """SHA-256 is enough: tokens carry 256 bits of randomness, so no stretching is needed."""
    return hashlib.sha256(token.encode()).hexdigest()


def _snapshot(token: ApiToken) -> dict[str, Any]:
    return {
        "name": token.name,
        "role": str(token.role),
        "organisation": token.organisation.code if token.organisation else None,
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }


def acting_for(uow: UnitOfWork, role: str, code: str | None, what: str
               ) -> tuple[Role, Organisation | None]:
    """The role, and the organisation a token or a person of that role acts for (an
    operator: none); 422 naming what does not fit, 409 for a merged-away organisation.
    ``what`` names the credential in messages ("token", "person")."""
    try:
        role_enum = Role(role)
    except ValueError as exc:
        choices = ", ".join(r.value for r in Role)
        raise InvalidInput("Unknown role.", {"role": [f"one of {choices}"]}) from exc
    expected_kind = ROLE_ORGANISATION_KIND[role_enum]
    if expected_kind is None:
        if code:
            raise InvalidInput(f"An admin {what} acts for no organisation.",
                               {"ods": ["not allowed"]})
        return role_enum, None
    if not code:
        raise InvalidInput("This role acts for an organisation.", {"ods": ["required"]})
    organisation = organisations.get_exact(uow, code)
    if organisation.successor is not None:
        raise Conflict(f"{organisation.code} was merged into {organisation.successor.code}.")
    if organisation.kind != expected_kind:
        raise InvalidInput(
            f"{a_or_an(role_enum.value).capitalize()} {what} acts for an organisation of kind "
            f"{expected_kind.value}; {organisation.code} is a {organisation.kind.value}.",
            {"role": ["does not fit the organisation"]},
        )
    return role_enum, organisation


def create(uow: UnitOfWork, *, role: str, name: str, code: str | None = None
           ) -> tuple[ApiToken, str]:
    """A new token and its plain value (never stored)."""
    role_enum, organisation = acting_for(uow, role, code, "token")
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(id=str(uuid.uuid4()), name=name, role=role_enum, organisation=organisation,
                     token_hash=hash_token(plain), prefix=plain[:12], created_at=uow.now())
    uow.session.add(token)
    uow.session.flush()
    uow.audit("token.created", "api_token", token.id, after=_snapshot(token),
              subject_organisation_id=organisation.id if organisation else None)
    return token, plain


def revoke(uow: UnitOfWork, token_id: str) -> ApiToken:
    token = uow.session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"No token has the id {token_id!r}.")
    if token.revoked_at is None:
        before = _snapshot(token)
        token.revoked_at = uow.now()
        uow.audit("token.revoked", "api_token", token.id, before=before, after=_snapshot(token),
                  subject_organisation_id=token.organisation_id)
    return token


def find_live(uow: UnitOfWork, plain: str) -> ApiToken | None:
    """The live token for ``plain``, untouched: lets a holder of a plain value (``marketplace
    dev``) check it still works without counting as a use; ``None`` if unknown or revoked."""
    token = uow.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(plain)))
    return None if token is None or token.revoked_at is not None else token


def authenticate(uow: UnitOfWork, plain: str) -> ApiToken | None:
    """The live token for ``plain`` (``last_used_at`` touched); ``None`` if unknown or revoked."""
    token = find_live(uow, plain)
    if token is None:
        return None
    now = uow.now()
    # Touch at most once a minute: a write per request would serialise readers on SQLite.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        token.last_used_at = now
    return token
