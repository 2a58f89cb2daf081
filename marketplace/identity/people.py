"""People who sign in to the web pages: added with a password (stored hashed), signed in
with a lockout per account and a rate limit per client address.

The rules (docs/web-sign-in.md):

* a person has a role and, except an admin, an organisation of the kind the role acts
  for, exactly as an API token (``service.ROLE_ORGANISATION_KIND``);
* a wrong password, an unknown email, a locked, disabled or merged-away account all
  give the same answer (``None``) after the same work (one argon2 verification);
* :data:`LOCK_AFTER` wrong passwords in a row lock the account for :data:`LOCK_FOR`;
* :data:`RATE_LIMIT` failed sign-ins from one client address within
  :data:`RATE_WINDOW` refuse further attempts from it (:class:`TooManyAttempts`) until
  the oldest leaves the window; no password is checked then.
"""
from __future__ import annotations

import math
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select

from marketplace.identity import passwords
from marketplace.identity.models import SignInFailure, WebUser
from marketplace.identity.service import ROLE_ORGANISATION_KIND, acting_for
from marketplace.kernel.errors import Conflict, InvalidInput
from marketplace.kernel.unit_of_work import UnitOfWork
from schemas.statuses import Role

LOCK_AFTER = 5
LOCK_FOR = timedelta(minutes=15)
RATE_LIMIT = 20
RATE_WINDOW = timedelta(minutes=15)

ROLE_LABELS: dict[Role, str] = {
    Role.ICB_BUYER: "ICB buyer",
    Role.INNOVATOR: "Innovator",
    Role.ASSESSOR: "Assessor",
    Role.FUNDER: "Funder",
    Role.TRUST_SYSTEM: "Trust system",
    Role.ADMIN: "Administrator",
}


class TooManyAttempts(Exception):
    """The client address has failed too often; ``retry_after`` seconds until it may try."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins; retry after {retry_after} s")
        self.retry_after = retry_after


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _snapshot(person: WebUser) -> dict[str, Any]:
    """What the audit trail keeps of a person: never the password hash."""
    return {"email": person.email, "role": str(person.role),
            "organisation": person.organisation.code if person.organisation else None,
            "disabled_at": person.disabled_at.isoformat() if person.disabled_at else None}


def add(uow: UnitOfWork, *, email: str, password: str, role: str,
        code: str | None = None) -> WebUser:
    """A new person with ``password`` (stored as an argon2id hash only)."""
    email = normalise_email(email)
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in email) \
            or len(email) > 254:
        raise InvalidInput("Enter an email address like name@example.nhs.uk.",
                           {"email": ["not an email address"]})
    if len(password) < passwords.MIN_LENGTH:
        raise InvalidInput(f"A password has at least {passwords.MIN_LENGTH} characters.",
                           {"password": ["too short"]})
    role_enum, organisation = acting_for(uow, role, code, "person")
    if uow.session.scalar(select(WebUser.id).where(WebUser.email == email)) is not None:
        raise Conflict(f"A person with the email {email} already exists.")
    person = WebUser(id=str(uuid.uuid4()), email=email, role=role_enum,
                     organisation=organisation, password_hash=passwords.hash_password(password),
                     created_at=uow.now(), failed_attempts=0, session_generation=0)
    uow.session.add(person)
    uow.session.flush()
    uow.audit("person.added", "web_user", person.id, after=_snapshot(person),
              subject_organisation_id=organisation.id if organisation else None)
    return person


def set_password(uow: UnitOfWork, person: WebUser, password: str) -> None:
    if len(password) < passwords.MIN_LENGTH:
        raise InvalidInput(f"A password has at least {passwords.MIN_LENGTH} characters.",
                           {"password": ["too short"]})
    person.password_hash = passwords.hash_password(password)
    person.failed_attempts = 0
    person.locked_until = None
    uow.audit("person.password_set", "web_user", person.id,
              subject_organisation_id=person.organisation_id)


def find(uow: UnitOfWork, email: str) -> WebUser | None:
    return uow.session.scalar(select(WebUser).where(WebUser.email == normalise_email(email)))


def may_act(person: WebUser) -> bool:
    """Not disabled, and (unless an admin) its organisation still stands on its own: an
    organisation merged into a successor no longer acts."""
    if person.disabled_at is not None:
        return False
    if ROLE_ORGANISATION_KIND[person.role] is None:
        return True
    org = person.organisation
    return org is not None and org.successor_id is None


def _check_rate(uow: UnitOfWork, client: str) -> None:
    since = uow.now() - RATE_WINDOW
    recent = select(SignInFailure.failed_at).where(SignInFailure.client == client,
                                                  SignInFailure.failed_at > since)
    count = uow.session.scalar(select(func.count()).select_from(recent.subquery()))
    if count is not None and count >= RATE_LIMIT:
        oldest = uow.session.scalar(select(func.min(SignInFailure.failed_at))
                                    .where(SignInFailure.client == client,
                                           SignInFailure.failed_at > since))
        wait = (oldest + RATE_WINDOW - uow.now()).total_seconds() if oldest else 60
        raise TooManyAttempts(max(1, math.ceil(wait)))


def _record_failure(uow: UnitOfWork, client: str) -> None:
    now = uow.now()
    uow.session.execute(delete(SignInFailure).where(SignInFailure.failed_at <= now - RATE_WINDOW))
    uow.session.add(SignInFailure(client=client[:64], failed_at=now))


def sign_in(uow: UnitOfWork, email: str, password: str, client: str) -> WebUser | None:
    """The person if ``password`` is theirs and they may sign in now; else ``None`` (the
    failure recorded; the caller commits either way). Raises :class:`TooManyAttempts`
    before checking anything when ``client`` has failed too often."""
    _check_rate(uow, client)
    now = uow.now()
    person = find(uow, email) if email else None
    usable = (person is not None and person.password_hash is not None and may_act(person)
              and (person.locked_until is None or person.locked_until <= now))
    if not usable:
        passwords.verify_dummy(password)
        _record_failure(uow, client)
        return None
    assert person is not None and person.password_hash is not None
    if not passwords.verify(person.password_hash, password):
        _record_failure(uow, client)
        person.failed_attempts = (person.failed_attempts or 0) + 1
        if person.failed_attempts >= LOCK_AFTER:
            person.failed_attempts = 0
            person.locked_until = now + LOCK_FOR
            uow.audit("person.locked", "web_user", person.id,
                      after={"locked_until": person.locked_until.isoformat()},
                      subject_organisation_id=person.organisation_id)
        return None
    if passwords.needs_rehash(person.password_hash):
        person.password_hash = passwords.hash_password(password)
    person.failed_attempts = 0
    person.locked_until = None
    person.last_signed_in_at = now
    return person


def sign_out(uow: UnitOfWork, person_id: str) -> None:
    """Every session of the person ends (their cookies carry the old generation)."""
    person = uow.session.get(WebUser, person_id)
    if person is not None:
        person.session_generation = (person.session_generation or 0) + 1
