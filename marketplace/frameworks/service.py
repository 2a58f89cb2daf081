"""Framework agreements: drafted with lots, published, awards made and withdrawn, expired.

The marketplace operator (admin) lets frameworks on behalf of a contracting authority.
Every change goes through the transition tables of :mod:`marketplace.frameworks.lifecycle`
under a row lock, is audited and emits its ``framework.*`` event in the same transaction;
a forbidden change raises before anything is written. An award rests on a live central
approval of the innovation's current product version; when that approval is revoked or
expires, :func:`withdraw_for_approval` (a reaction, :mod:`marketplace.frameworks.reactions`)
withdraws its awards in the approval's own transaction.

Other areas ask :func:`award_in_force`, :func:`check_award_in_force` or
:func:`in_force_award_for` before a call-off or a framework competition rests on an award.
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload, with_expression

from marketplace.approvals.lifecycle import PRE_APPROVED
from marketplace.approvals.models import Approval
from marketplace.catalogue.categories import ancestors
from marketplace.catalogue.lifecycle import ListingStatus
from marketplace.catalogue.models import Innovation
from marketplace.frameworks import events
from marketplace.frameworks.lifecycle import (
    AWARD,
    FRAMEWORK,
    AwardAction,
    AwardStatus,
    FrameworkAction,
    FrameworkStatus,
    call_off_blockers,
)
from marketplace.frameworks.models import (
    Framework,
    FrameworkAward,
    FrameworkAwardLine,
    FrameworkLot,
    period_at,
)
from marketplace.kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from marketplace.kernel.published_text import stripped
from marketplace.kernel.row_lock import for_update, locked
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.organisations import service as organisations
from marketplace.organisations.models import Organisation
from schemas.statuses import OrganisationKind, Role

_SKIP = {"version"}
#: Lot numbers default to positions, and the contract's lot numbers have three digits.
MAX_LOTS = 100


def snapshot(row: Framework | FrameworkAward) -> dict[str, Any]:
    """Every stored field (a framework's lots, an award's lines included): the audit row
    of a change shows exactly what moved."""
    out = {c.key: getattr(row, c.key) for c in type(row).__table__.columns
           if c.key not in _SKIP}
    if isinstance(row, Framework):
        out["lots"] = [{"id": lot.id, "lot_number": lot.lot_number, "title": lot.title,
                        "categories": lot.categories} for lot in row.lots]
    else:
        out["lines"] = [{"item_id": line.item_id, "description": line.description,
                         "unit_code": line.unit_code,
                         "ceiling_unit_price_pence": line.ceiling_unit_price_pence}
                        for line in row.lines]
    return out


def _require_admin(uow: UnitOfWork) -> None:
    if uow.actor.role != Role.ADMIN:
        raise Forbidden("Only the marketplace operator (admin) manages frameworks.")


# --- reading ----------------------------------------------------------------------------
def _framework_reads(stmt: Select[tuple[Framework]], now: datetime
                     ) -> Select[tuple[Framework]]:
    """``stmt`` loading what a framework is shown with, each ``period`` derived at ``now``."""
    award_period = period_at(FrameworkAward.starts_at, FrameworkAward.ends_at, now)
    return stmt.options(
        with_expression(Framework.period, period_at(Framework.starts_at, Framework.ends_at,
                                                    now)),
        selectinload(Framework.owner_organisation), selectinload(Framework.lots),
        selectinload(Framework.awards).options(
            with_expression(FrameworkAward.period, award_period),
            selectinload(FrameworkAward.lines), selectinload(FrameworkAward.lot),
            selectinload(FrameworkAward.supplier_organisation)),
    ).execution_options(populate_existing=True)


def _visible(uow: UnitOfWork, stmt: Select[tuple[Framework]]) -> Select[tuple[Framework]]:
    """Drafts are the operator's working copies: nobody else sees them."""
    if uow.actor.role == Role.ADMIN:
        return stmt
    return stmt.where(Framework.status != FrameworkStatus.DRAFT)


def list_query(uow: UnitOfWork, *, status: str | None = None) -> Select[tuple[Framework]]:
    """Frameworks, latest start first (drafts: admins only)."""
    stmt = _visible(uow, select(Framework)).order_by(Framework.starts_at.desc(), Framework.id)
    if status is not None:
        stmt = stmt.where(Framework.status == status)
    return _framework_reads(stmt, uow.now())


def get_visible(uow: UnitOfWork, framework_id: str) -> Framework:
    framework = uow.session.scalar(_framework_reads(
        _visible(uow, select(Framework).where(Framework.id == framework_id)), uow.now()))
    if framework is None:
        raise NotFound(f"No framework has the id {framework_id!r}.")
    return framework


def get_lot(uow: UnitOfWork, framework_id: str, lot_id: str) -> FrameworkLot:
    framework = get_visible(uow, framework_id)
    found = next((lot for lot in framework.lots if lot.id == lot_id), None)
    if found is None:
        raise NotFound(f"Framework {framework.reference} has no lot {lot_id!r}.")
    return found


def get_award(uow: UnitOfWork, framework_id: str, award_id: str) -> FrameworkAward:
    framework = get_visible(uow, framework_id)
    found = next((award for award in framework.awards if award.id == award_id), None)
    if found is None:
        raise NotFound(f"Framework {framework.reference} has no award {award_id!r}.")
    return found


# --- other areas ask before a call-off or competition rests on an award -----------------
def award_in_force(uow: UnitOfWork, award_id: str, at: datetime) -> bool:
    """Whether a new call-off (or further competition) may rest on the award at ``at``."""
    award = uow.session.get(FrameworkAward, award_id)
    return award is not None and not call_off_blockers(award, at)


def check_award_in_force(uow: UnitOfWork, award_id: str, at: datetime) -> FrameworkAward:
    """The award, if in force at ``at``; otherwise a 409 naming every reason (404 if none)."""
    award = uow.session.get(FrameworkAward, award_id)
    if award is None:
        raise NotFound(f"No framework award has the id {award_id!r}.")
    if blockers := call_off_blockers(award, at):
        raise Conflict(f"Framework award {award.id} is not in force: {'; '.join(blockers)}.",
                       award_id=award.id, reasons=blockers)
    return award


def in_force_award_for(uow: UnitOfWork, lot_id: str, innovation_id: str, at: datetime
                       ) -> FrameworkAward | None:
    """The innovation's award on the lot, if one is in force at ``at`` (a competition under
    the lot is open to it)."""
    award = uow.session.scalar(select(FrameworkAward).where(
        FrameworkAward.lot_id == lot_id, FrameworkAward.innovation_id == innovation_id,
        FrameworkAward.status == AwardStatus.ACTIVE))
    return award if award is not None and not call_off_blockers(award, at) else None


# --- frameworks -------------------------------------------------------------------------
def _owner(uow: UnitOfWork, owner_ods: str | None) -> Organisation:
    """The contracting authority named, or by default the central body (the assessor)."""
    if owner_ods is None:
        central = uow.session.scalars(select(Organisation).where(
            Organisation.kind == OrganisationKind.ASSESSOR).limit(2)).all()
        if len(central) != 1:
            raise InvalidInput("Name the contracting authority.",
                               {"owner_ods": ["required: there is no one central body"]})
        return central[0]
    try:
        owner = organisations.resolve(uow, owner_ods)
    except NotFound:
        raise InvalidInput("No such organisation.", {"owner_ods": ["unknown code"]}) from None
    if owner.kind == OrganisationKind.INNOVATOR:
        raise InvalidInput("A supplier does not let frameworks.",
                           {"owner_ods": ["must be an NHS body, not an innovator"]})
    return owner


def _generated_reference(starts_at: datetime) -> str:
    return f"FW-{starts_at.astimezone(UTC).year}-{uuid.uuid4().hex[:8].upper()}"


def _flush_unique(uow: UnitOfWork, message: str, **extra: Any) -> None:
    """Flush in a savepoint: a unique index a concurrent request won is a 409."""
    try:
        with uow.session.begin_nested():
            uow.session.flush()
    except IntegrityError as exc:
        raise Conflict(message, **extra) from exc


def create(uow: UnitOfWork, *, title: str, description: str, starts_at: datetime,
           ends_at: datetime, reference: str | None = None, owner_ods: str | None = None,
           direct_award: bool = False) -> Framework:
    """A draft framework; lots are added, then it is published. ``direct_award``: its
    terms let a trust call off an award directly, without a further competition."""
    _require_admin(uow)
    text = stripped(title=title, description=description)
    now = uow.now()
    if ends_at <= now:
        raise InvalidInput("The framework would end before it is published.",
                           {"ends_at": ["in the past"]})
    owner = _owner(uow, owner_ods)
    reference = reference or _generated_reference(starts_at)
    taken = uow.session.scalar(select(Framework.id).where(Framework.reference == reference))
    if taken is not None:
        raise Conflict(f"Framework {taken} already has the reference {reference}.",
                       framework_id=taken)
    framework = Framework(id=str(uuid.uuid4()), reference=reference, **text,
                          owner_organisation_id=owner.id, direct_award=direct_award,
                          status=FrameworkStatus.DRAFT, starts_at=starts_at, ends_at=ends_at,
                          created_at=now, created_by=uow.actor.id, status_changed_at=now,
                          updated_at=now, lots=[])
    uow.session.add(framework)
    _flush_unique(uow, f"The reference {reference} is already used.")
    uow.audit("framework.created", "framework", framework.id, after=snapshot(framework),
              subject_organisation_id=owner.id)
    return get_visible(uow, framework.id)


def add_lot(uow: UnitOfWork, framework_id: str, *, title: str, categories: list[str],
            lot_number: str | None = None) -> FrameworkLot:
    """A new lot of a draft framework, numbered by its position unless a number is given."""
    _require_admin(uow)
    title = stripped(title=title)["title"]
    framework = locked(uow, Framework, framework_id, "framework")
    FRAMEWORK.target(framework.status, FrameworkAction.ADD_LOT)
    position = 1 + (uow.session.scalar(select(func.max(FrameworkLot.position)).where(
        FrameworkLot.framework_id == framework.id)) or 0)
    if position > MAX_LOTS:
        raise Conflict(f"A framework has at most {MAX_LOTS} lots.")
    lot_number = lot_number or str(position)
    clash = f"Framework {framework.reference} already has a lot {lot_number}."
    if any(lot.lot_number == lot_number for lot in framework.lots):
        raise Conflict(clash, lot_number=lot_number)
    before = snapshot(framework)
    now = uow.now()
    lot = FrameworkLot(id=str(uuid.uuid4()), framework=framework, position=position,
                       lot_number=lot_number, title=title,
                       categories=sorted(set(categories)), created_at=now)
    uow.session.add(lot)
    framework.updated_at = now  # a new version: the framework's ETag changes with its lots
    _flush_unique(uow, clash, lot_number=lot_number)
    uow.audit("framework.lot_added", "framework", framework.id, before=before,
              after=snapshot(framework), subject_organisation_id=framework.owner_organisation_id)
    return lot


def publish(uow: UnitOfWork, framework_id: str) -> Framework:
    """Publish a draft with its lots: awards may follow, call-offs from ``starts_at``."""
    _require_admin(uow)
    framework = locked(uow, Framework, framework_id, "framework")
    target = FRAMEWORK.target(framework.status, FrameworkAction.PUBLISH)
    now = uow.now()
    if not framework.lots:
        raise Conflict("A framework is published with at least one lot; add a lot first.")
    if framework.ends_at <= now:
        raise Conflict(f"The framework ended at {framework.ends_at.isoformat()}; it cannot "
                       "be published.")
    before = snapshot(framework)
    framework.status, framework.published_at = target, now
    framework.status_changed_at = framework.updated_at = now
    uow.session.flush()
    uow.audit("framework.published", "framework", framework.id, before=before,
              after=snapshot(framework), subject_organisation_id=framework.owner_organisation_id)
    events.published(uow, framework)
    return get_visible(uow, framework.id)


def expire(uow: UnitOfWork, framework: Framework) -> None:
    """Record the end of a framework (the caller holds the row lock and checked
    ``ends_at``). Its awards end with it: their own deadline marks them, since no award
    outlasts its framework."""
    target = FRAMEWORK.target(framework.status, FrameworkAction.EXPIRE)
    before = snapshot(framework)
    now = uow.now()
    framework.status, framework.expired_at = target, now
    framework.status_changed_at = framework.updated_at = now
    uow.session.flush()
    uow.audit("framework.expired", "framework", framework.id, before=before,
              after=snapshot(framework), subject_organisation_id=framework.owner_organisation_id)
    events.expired(uow, framework)


# --- awards -----------------------------------------------------------------------------
def _check_award_terms(framework: Framework, lot: FrameworkLot | None, starts_at: datetime,
                       ends_at: datetime, now: datetime) -> FrameworkLot:
    errors: dict[str, list[str]] = {}
    if lot is None or lot.framework_id != framework.id:
        errors["lot_id"] = ["no such lot on this framework"]
    if starts_at < framework.starts_at:
        errors["starts_at"] = [f"before the framework starts "
                               f"({framework.starts_at.isoformat()})"]
    if ends_at > framework.ends_at:
        errors["ends_at"] = [f"after the framework ends ({framework.ends_at.isoformat()})"]
    elif ends_at <= now:
        errors["ends_at"] = ["in the past"]
    if errors or lot is None:
        raise InvalidInput("The award does not fit the framework.", errors)
    return lot


def _listing(uow: UnitOfWork, innovation_id: str, lot: FrameworkLot) -> Innovation:
    innovation = uow.session.scalar(select(Innovation).where(Innovation.id == innovation_id))
    if innovation is None:
        raise InvalidInput("No such listing.", {"innovation_id": ["no such innovation"]})
    if innovation.status != ListingStatus.PUBLISHED:
        raise Conflict(f"The listing is {innovation.status}; only a published listing is "
                       "awarded a place on a framework.")
    in_scope = set(lot.categories)
    if not any(in_scope.intersection(ancestors(c)) for c in innovation.categories):
        raise InvalidInput(f"The listing is in none of lot {lot.lot_number}'s categories.", {
            "innovation_id": [f"listed under {', '.join(innovation.categories)}; lot "
                              f"{lot.lot_number} covers {', '.join(lot.categories)}"]})
    return innovation


def _live_approval(uow: UnitOfWork, innovation: Innovation, now: datetime) -> Approval:
    """The live central approval of the listing's current version, locked so that a
    concurrent revocation either waits for this award or is seen by it."""
    latest = innovation.current_approval
    approval = None if latest is None else uow.session.scalar(
        for_update(select(Approval).where(Approval.id == latest.id), Approval))
    what = f"version {innovation.product_version} of {innovation.name}"
    if approval is None:
        raise Conflict(f"There is no central approval of {what}; an award needs a live one.",
                       approval_status=None)
    if approval.status not in PRE_APPROVED:
        raise Conflict(f"The central approval of {what} is {approval.status}; an award "
                       "needs a live one.", approval_id=approval.id,
                       approval_status=approval.status)
    if approval.expires_at <= now:
        raise Conflict(f"The central approval of {what} lapsed at "
                       f"{approval.expires_at.isoformat()}; an award needs a live one.",
                       approval_id=approval.id, approval_status="lapsed")
    return approval


def grant_award(uow: UnitOfWork, framework_id: str, *, lot_id: str, innovation_id: str,
                lines: list[dict[str, Any]], starts_at: datetime, ends_at: datetime,
                currency: str = "GBP") -> FrameworkAward:
    """Award an approved innovation's supplier a place on a lot, with price ceilings."""
    _require_admin(uow)
    blank = {str(n): {"description": ["blank"]} for n, line in enumerate(lines)
             if not line["description"].strip()}
    if blank:
        raise InvalidInput("Some item descriptions are blank.", {"lines": blank})
    framework = locked(uow, Framework, framework_id, "framework")
    FRAMEWORK.target(framework.status, FrameworkAction.AWARD)
    now = uow.now()
    if framework.ends_at <= now:
        raise Conflict(f"The framework ended at {framework.ends_at.isoformat()}.")
    lot = _check_award_terms(framework, uow.session.get(FrameworkLot, lot_id), starts_at,
                             ends_at, now)
    innovation = _listing(uow, innovation_id, lot)
    approval = _live_approval(uow, innovation, now)
    held = uow.session.scalar(select(FrameworkAward.id).where(
        FrameworkAward.lot_id == lot.id, FrameworkAward.innovation_id == innovation.id,
        FrameworkAward.status == AwardStatus.ACTIVE))
    clash = f"{innovation.name} already holds an award on lot {lot.lot_number}"
    if held is not None:
        raise Conflict(f"{clash} ({held}).", award_id=held)
    granted = FrameworkAward(
        id=str(uuid.uuid4()), framework_id=framework.id, lot_id=lot.id,
        innovation_id=innovation.id, supplier_organisation_id=innovation.organisation_id,
        approval_id=approval.id, product_version=approval.product_version,
        status=AwardStatus.ACTIVE, currency=currency, starts_at=starts_at, ends_at=ends_at,
        awarded_at=now, awarded_by=uow.actor.id, status_changed_at=now,
        lines=[FrameworkAwardLine(position=n, item_id=line["item_id"],
                                  description=line["description"].strip(),
                                  unit_code=line["unit_code"],
                                  ceiling_unit_price_pence=line["ceiling_unit_price_pence"])
               for n, line in enumerate(lines, start=1)])
    uow.session.add(granted)
    _flush_unique(uow, f"{clash}.")
    uow.audit("framework_award.granted", "framework_award", granted.id,
              after=snapshot(granted), subject_organisation_id=granted.supplier_organisation_id)
    events.award_granted(uow, granted)
    return get_award(uow, framework.id, granted.id)


def _locked_awards(uow: UnitOfWork, *criteria: Any) -> list[FrameworkAward]:
    return list(uow.session.scalars(for_update(
        select(FrameworkAward).where(*criteria).order_by(FrameworkAward.id), FrameworkAward)))


def _withdraw(uow: UnitOfWork, award: FrameworkAward, reason_code: str, reason: str) -> None:
    target = AWARD.target(award.status, AwardAction.WITHDRAW)
    before = snapshot(award)
    now = uow.now()
    award.status, award.withdrawn_at, award.status_changed_at = target, now, now
    award.reason_code, award.reason = reason_code, reason
    uow.session.flush()
    uow.audit("framework_award.withdrawn", "framework_award", award.id, before=before,
              after=snapshot(award), subject_organisation_id=award.supplier_organisation_id)
    events.award_withdrawn(uow, award)


def withdraw(uow: UnitOfWork, framework_id: str, award_id: str, *, reason_code: str,
             reason: str) -> FrameworkAward:
    """Withdraw an award: no new call-offs under it; existing contracts run on."""
    _require_admin(uow)
    reason = stripped(reason=reason)["reason"]
    found = _locked_awards(uow, FrameworkAward.id == award_id,
                           FrameworkAward.framework_id == framework_id)
    if not found:
        raise NotFound(f"Framework {framework_id!r} has no award {award_id!r}.")
    _withdraw(uow, found[0], reason_code, reason)
    return get_award(uow, framework_id, award_id)


def withdraw_for_approval(uow: UnitOfWork, approval_id: str, reason_code: str,
                          reason: str) -> list[FrameworkAward]:
    """Withdraw every active award resting on an approval that has ended, in the
    approval's transaction, whoever ended it."""
    awards = [award for award in _locked_awards(
        uow, FrameworkAward.approval_id == approval_id,
        FrameworkAward.status == AwardStatus.ACTIVE)
        if award.status == AwardStatus.ACTIVE]  # as re-read under the lock
    for award in awards:
        _withdraw(uow, award, reason_code, reason)
    return awards


def expire_award(uow: UnitOfWork, award: FrameworkAward) -> None:
    """Record that an award's period ended (the caller holds the row lock and checked
    ``ends_at``). No event: trusts hold the end date from ``framework.award.granted``."""
    target = AWARD.target(award.status, AwardAction.EXPIRE)
    before = snapshot(award)
    award.status, award.status_changed_at = target, uow.now()
    uow.session.flush()
    uow.audit("framework_award.expired", "framework_award", award.id, before=before,
              after=snapshot(award), subject_organisation_id=award.supplier_organisation_id)
