"""Organisations, their ICB membership and ICB succession (mergers)."""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError

from marketplace.kernel.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.organisations.models import Organisation
from schemas.identifiers import organisation_code_error
from schemas.statuses import OrganisationKind

MAX_SUCCESSION_DEPTH = 20


def snapshot(org: Organisation) -> dict[str, Any]:
    """The audited fields of an organisation."""
    return {
        "code": org.code,
        "kind": str(org.kind),
        "name": org.name,
        "parent": org.parent.code if org.parent else None,
        "successor": org.successor.code if org.successor else None,
        "succeeded_on": org.succeeded_on.isoformat() if org.succeeded_on else None,
        "vat_number": org.vat_number,
    }


def get_exact(uow: UnitOfWork, code: str) -> Organisation:
    org = uow.session.scalar(select(Organisation).where(Organisation.code == code.upper()))
    if org is None:
        raise NotFound(f"No organisation has the code {code!r}.")
    return org


def resolve(uow: UnitOfWork, code: str) -> Organisation:
    """Look a code up and follow any succession: an old ICB code finds the merged ICB."""
    try:
        return get_exact(uow, code).current(MAX_SUCCESSION_DEPTH)
    except ValueError as exc:
        raise Conflict(str(exc)) from exc


def predecessors(uow: UnitOfWork, org: Organisation) -> list[Organisation]:
    """Every organisation that was merged (directly or through others) into ``org``."""
    found: list[Organisation] = []
    frontier = [org.id]
    while frontier:
        rows = uow.session.scalars(
            select(Organisation).where(Organisation.successor_id.in_(frontier))
            .order_by(Organisation.code)
        ).all()
        found.extend(rows)
        frontier = [r.id for r in rows]
    return found


def list_query(uow: UnitOfWork, kind: str | None = None, parent: Organisation | None = None,
               q: str | None = None) -> Select[tuple[Organisation]]:
    """Organisations by code; ``parent`` also finds trusts of the ICBs merged into it."""
    stmt = select(Organisation).order_by(Organisation.code)
    if kind:
        stmt = stmt.where(Organisation.kind == OrganisationKind(kind))
    if parent is not None:
        icbs = [parent.id, *(p.id for p in predecessors(uow, parent))]
        stmt = stmt.where(Organisation.parent_id.in_(icbs))
    if q:
        stmt = stmt.where(Organisation.name.ilike(f"%{q}%"))
    return stmt


def _check_code(kind: str, code: str) -> None:
    problem = organisation_code_error(kind, code)
    if problem:
        raise InvalidInput("The organisation code is not valid.", {"code": [problem]})


def _parent_icb(uow: UnitOfWork, kind: OrganisationKind, parent_code: str | None
                ) -> Organisation | None:
    if kind != OrganisationKind.TRUST:
        if parent_code:
            raise InvalidInput("Only trusts have a parent ICB.", {"parent": ["not allowed"]})
        return None
    if not parent_code:
        raise InvalidInput("A trust belongs to an ICB.", {"parent": ["required for a trust"]})
    try:
        parent = resolve(uow, parent_code)
    except NotFound as exc:
        raise InvalidInput("Unknown parent ICB.", {"parent": [str(exc)]}) from exc
    if parent.kind != OrganisationKind.ICB:
        raise InvalidInput("A trust's parent must be an ICB.", {"parent": ["not an ICB"]})
    return parent


def add(uow: UnitOfWork, *, code: str, kind: str, name: str,
        parent: str | None = None) -> Organisation:
    code = code.strip().upper()
    kind_enum = OrganisationKind(kind)
    _check_code(kind, code)
    if uow.session.scalar(select(Organisation.id).where(Organisation.code == code)):
        raise Conflict(f"An organisation with the code {code} already exists.")
    org = Organisation(code=code, kind=kind_enum, name=name.strip(),
                       parent=_parent_icb(uow, kind_enum, parent))
    uow.session.add(org)
    try:
        uow.session.flush()
    except IntegrityError as exc:  # a concurrent insert of the same code
        raise Conflict(f"An organisation with the code {code} already exists.") from exc
    uow.audit("organisation.added", "organisation", org.code, after=snapshot(org),
              subject_organisation_id=org.id)
    return org


def update(uow: UnitOfWork, code: str, *, expected_version: int, name: str | None = None,
           parent: str | None = None, successor: str | None = None,
           succeeded_on: date | None = None, vat_number: str | None = None) -> Organisation:
    """Rename, move a trust to another ICB, record an ICB merger (succession), or
    record a supplier's VAT registration number."""
    org = get_exact(uow, code)
    if org.version != expected_version:
        raise PreconditionFailed("The organisation changed since you read it; fetch it again.")
    before = snapshot(org)
    if name is not None:
        org.name = name.strip()
    if parent is not None:
        org.parent = _parent_icb(uow, org.kind, parent)
    if successor is not None:
        _succeed(uow, org, successor, succeeded_on)
    if vat_number is not None:
        if org.kind != OrganisationKind.INNOVATOR:
            raise InvalidInput("Only suppliers (innovators) invoice, so only they hold a "
                               "VAT number here.", {"vat_number": ["not a supplier"]})
        org.vat_number = vat_number
    if snapshot(org) == before:
        return org
    uow.session.flush()
    uow.audit("organisation.updated", "organisation", org.code, before=before,
              after=snapshot(org), subject_organisation_id=org.id)
    return org


def _succeed(uow: UnitOfWork, org: Organisation, successor_code: str,
             succeeded_on: date | None) -> None:
    if org.kind != OrganisationKind.ICB:
        raise InvalidInput("Only ICBs are merged into successors.", {"successor": ["not an ICB"]})
    if org.successor is not None:
        raise Conflict(f"{org.code} was already merged into {org.successor.code}.")
    try:
        target = resolve(uow, successor_code)
    except NotFound as exc:
        raise InvalidInput("Unknown successor.", {"successor": [str(exc)]}) from exc
    if target.kind != OrganisationKind.ICB or target.id == org.id:
        raise InvalidInput("The successor must be another ICB.", {"successor": ["not valid"]})
    org.successor = target
    org.succeeded_on = succeeded_on or uow.now().date()
