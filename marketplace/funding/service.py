"""Funding pots, their allocations to ICBs and trusts, superseding changes, drawdown.

A funder organisation (NHS England, SBRI, a charity, a pharma company in joint working)
or an ICB (its own money, ``funder_type`` ``icb``) creates pots; pots are public. Only
the pot's owner allocates from it and changes its allocations; the pot is public, so to
anyone else that tries the answer is 403 (not a 404: the pot is there for all to see).

Money never goes over: every allocation and every increase adds to the pot's
``allocated_pence`` under the pot's row lock (``SELECT ... FOR UPDATE``; SQLite's writer
lock serialises), and a CHECK keeps it at most ``amount_pence``; the loser of a race is
told how much is left. Reductions and withdrawals give money back. The pot's
``allocated_pence`` is always the sum of its allocations' amounts.

A change is a new revision superseding the head one, never an edit in place; the
allocation row only holds the head (amount, period end, status, drawn). A withdrawal
keeps what orders have already drawn (the spend stays spent): the allocation's amount
becomes its drawn amount and the rest returns to the pot, as the trust adapters close
the budget line minus what is committed.

Orders draw on an allocation addressed to their trust (:func:`drawdown_blockers`,
:func:`draw_down`, in the order's transaction). Every state change is audited and emits
its ``funding.*`` event in the same unit of work.
"""
from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from marketplace.catalogue.models import Innovation
from marketplace.contracts.models import Contract
from marketplace.demand.models import DemandSignal
from marketplace.funding import events
from marketplace.funding.models import (
    PHARMA,
    FundingAllocation,
    FundingAllocationRevision,
    FundingDrawdown,
    FundingPot,
)
from marketplace.kernel.clock import london_day
from marketplace.kernel.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
)
from marketplace.kernel.published_text import stripped
from marketplace.kernel.row_lock import for_update
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.organisations import service as organisations
from marketplace.organisations.buyers import acting_icb
from marketplace.organisations.models import Organisation
from schemas.statuses import AllocationChangeKind, AllocationStatus, OrganisationKind, Role

K = AllocationChangeKind
ICB_FUNDER = "icb"
REPROFILED = "reprofiled"
_POT_SKIP = {"version"}
_ALLOCATION_SKIP = {"version"}


def pot_snapshot(pot: FundingPot) -> dict[str, Any]:
    return {c.key: getattr(pot, c.key) for c in FundingPot.__table__.columns
            if c.key not in _POT_SKIP}


def allocation_snapshot(allocation: FundingAllocation) -> dict[str, Any]:
    return {c.key: getattr(allocation, c.key) for c in FundingAllocation.__table__.columns
            if c.key not in _ALLOCATION_SKIP}


def _pence(amount: int) -> str:
    return f"£{amount / 100:,.2f}"


# --- reading ----------------------------------------------------------------------------
def _reads(stmt: Select[tuple[FundingPot]]) -> Select[tuple[FundingPot]]:
    return stmt.options(
        selectinload(FundingPot.allocations).selectinload(FundingAllocation.revisions),
    ).execution_options(populate_existing=True)


def list_query(uow: UnitOfWork, *, funder_type: str | None = None,
               financial_year: str | None = None, owner: str | None = None
               ) -> Select[tuple[FundingPot]]:
    """Every pot (public), newest first; ``owner`` is the owner's ODS code."""
    stmt = select(FundingPot)
    if funder_type is not None:
        stmt = stmt.where(FundingPot.funder_type == funder_type)
    if financial_year is not None:
        stmt = stmt.where(FundingPot.financial_year == financial_year)
    if owner is not None:
        stmt = stmt.join(Organisation, FundingPot.owner_organisation_id == Organisation.id
                         ).where(Organisation.code == owner.strip().upper())
    return _reads(stmt.order_by(FundingPot.created_at.desc(), FundingPot.id))


def get_pot(uow: UnitOfWork, pot_id: str) -> FundingPot:
    pot = uow.session.scalar(_reads(select(FundingPot).where(FundingPot.id == pot_id)))
    if pot is None:
        raise NotFound(f"No funding pot has the id {pot_id!r}.")
    return pot


def get_allocation(uow: UnitOfWork, pot_id: str, allocation_id: str) -> FundingAllocation:
    allocation = uow.session.scalar(
        select(FundingAllocation).where(FundingAllocation.id == allocation_id,
                                        FundingAllocation.pot_id == pot_id)
        .options(selectinload(FundingAllocation.revisions))
        .execution_options(populate_existing=True))
    if allocation is None:
        raise NotFound(f"Funding pot {pot_id!r} has no allocation {allocation_id!r}.")
    return allocation


# --- who funds --------------------------------------------------------------------------
def _caller_funder(uow: UnitOfWork, funder_type: str) -> Organisation:
    """The organisation the caller creates a pot for: its own funder organisation, or
    (an ICB buyer) its ICB, for ``funder_type`` ``icb`` only."""
    actor = uow.actor
    if actor.role == Role.ICB_BUYER:
        icb = acting_icb(uow, "creates pots of its own ICB's money")
        if funder_type != ICB_FUNDER:
            raise Forbidden("An ICB buyer creates pots of its ICB's own money, funder_type "
                            f"{ICB_FUNDER!r}; {funder_type!r} pots are created by that "
                            "funder.")
        return icb
    org = (uow.session.get(Organisation, actor.organisation_id)
           if actor.role == Role.FUNDER and actor.organisation_id is not None else None)
    if org is None or org.kind != OrganisationKind.FUNDER:
        raise Forbidden("Only a funder, or an ICB buyer for its own ICB, creates pots.")
    if funder_type == ICB_FUNDER:
        raise Forbidden("A pot of funder_type 'icb' is an ICB's own money: an ICB buyer "
                        "creates it.")
    return org


def _owned(uow: UnitOfWork, pot_id: str) -> FundingPot:
    """The pot, locked, if the caller acts for its owner (404 if none, 403 otherwise)."""
    pot = uow.session.scalar(for_update(select(FundingPot).where(FundingPot.id == pot_id),
                                        FundingPot))
    if pot is None:
        raise NotFound(f"No funding pot has the id {pot_id!r}.")
    actor = uow.actor
    owner = pot.owner.current() if pot.owner.kind == OrganisationKind.ICB else pot.owner
    expected_role = Role.ICB_BUYER if owner.kind == OrganisationKind.ICB else Role.FUNDER
    if actor.role == Role.ICB_BUYER and owner.kind == OrganisationKind.ICB:
        acting_icb(uow, "allocates its own ICB's funding")
    if actor.role != expected_role or actor.organisation_id != owner.id:
        raise Forbidden(f"Only {owner.code} ({owner.name}), the pot's owner, allocates from "
                        "it and changes its allocations.")
    return pot


# --- pots -------------------------------------------------------------------------------
def create_pot(uow: UnitOfWork, *, title: str, funder_type: str, amount_pence: int,
               financial_year: str, period_start: date, period_end: date, recurrent: bool,
               conditions: str, agreement_summary: str | None = None,
               transfer_of_value_pence: int | None = None, owner_ods: str | None = None,
               currency: str = "GBP") -> FundingPot:
    """A pot of the caller's organisation (``owner_ods`` naming another: 403)."""
    owner = _caller_funder(uow, funder_type)
    if owner_ods is not None and owner_ods.strip().upper() != owner.code:
        raise Forbidden(f"You create pots for {owner.code} only, not {owner_ods!r}.")
    text = stripped(title=title, conditions=conditions)
    pharma = funder_type == PHARMA
    if pharma:
        missing = {name: ["required for a pharma joint-working pot (ABPI Code clause 20)"]
                   for name, value in (("agreement_summary", agreement_summary),
                                       ("transfer_of_value_pence", transfer_of_value_pence))
                   if value is None}
        if missing:
            raise InvalidInput("A pharma joint-working pot publishes its agreement summary "
                               "and transfer of value.", missing)
        assert agreement_summary is not None
        agreement_summary = stripped(agreement_summary=agreement_summary)["agreement_summary"]
    elif agreement_summary is not None or transfer_of_value_pence is not None:
        raise InvalidInput("Only a pharma joint-working pot has an agreement summary and a "
                           "transfer of value.", {
                               name: [f"only for funder_type {PHARMA!r}"]
                               for name, value in (
                                   ("agreement_summary", agreement_summary),
                                   ("transfer_of_value_pence", transfer_of_value_pence))
                               if value is not None})
    now = uow.now()
    pot = FundingPot(
        id=str(uuid.uuid4()), owner_organisation_id=owner.id, funder_type=funder_type,
        title=text["title"], amount_pence=amount_pence, allocated_pence=0,
        currency=currency, financial_year=financial_year, period_start=period_start,
        period_end=period_end, recurrent=recurrent, conditions=text["conditions"],
        agreement_summary=agreement_summary if pharma else None,
        transfer_of_value_pence=transfer_of_value_pence if pharma else None,
        created_at=now, created_by=uow.actor.id, updated_at=now)
    uow.session.add(pot)
    uow.session.flush()
    uow.audit("funding_pot.created", "funding_pot", pot.id, after=pot_snapshot(pot),
              subject_organisation_id=owner.id)
    return get_pot(uow, pot.id)


# --- allocations ------------------------------------------------------------------------
def _recipient(uow: UnitOfWork, pot: FundingPot, code: str) -> Organisation:
    try:
        org = organisations.resolve(uow, code)
    except NotFound:
        raise InvalidInput("The recipient is not a known organisation.", {
            "recipient_ods": [f"no organisation has the code {code!r}"]}) from None
    if org.kind not in (OrganisationKind.ICB, OrganisationKind.TRUST):
        raise InvalidInput("Funding goes to an ICB or a trust.", {
            "recipient_ods": [f"{org.code} is an organisation of kind {org.kind}"]})
    if pot.owner.kind == OrganisationKind.ICB:
        icb = pot.owner.current()
        ok = org.id == icb.id or (org.kind == OrganisationKind.TRUST
                                  and org.current_parent is not None
                                  and org.current_parent.id == icb.id)
        if not ok:
            raise InvalidInput("An ICB's pot funds the ICB itself or one of its trusts.", {
                "recipient_ods": [f"{org.code} is neither {icb.code} nor one of its trusts"]})
    return org


def _must_exist(uow: UnitOfWork, **refs: tuple[type[Any], str | None]) -> None:
    errors = {name: [f"no such {model.__tablename__.replace('_', ' ')}"]
              for name, (model, key) in refs.items()
              if key is not None
              and uow.session.scalar(select(model.id).where(model.id == key)) is None}
    if errors:
        raise InvalidInput("Some referenced objects do not exist.", errors)


def _pharma_ok(pot: FundingPot) -> None:
    """Defence in depth (the CHECK holds too): no pharma money without its transparency."""
    if pot.funder_type == PHARMA and (not pot.agreement_summary
                                      or pot.transfer_of_value_pence is None):
        raise Conflict("A pharma joint-working pot without its published agreement summary "
                       "and transfer of value cannot allocate.")


def _over(pot: FundingPot, wanted: int) -> Conflict:
    return Conflict(f"The pot has {_pence(pot.remaining_pence)} left to allocate; "
                    f"{_pence(wanted)} is more than that.",
                    remaining_pence=pot.remaining_pence, requested_pence=wanted)


def allocate(uow: UnitOfWork, pot_id: str, *, recipient_ods: str, amount_pence: int,
             purpose: str, innovation_id: str | None = None, contract_id: str | None = None,
             signal_id: str | None = None) -> FundingAllocation:
    """Allocate money of the pot to an ICB or trust for the pot's period (revision 1)."""
    purpose = stripped(purpose=purpose)["purpose"]
    pot = _owned(uow, pot_id)
    recipient = _recipient(uow, pot, recipient_ods)
    _must_exist(uow, innovation_id=(Innovation, innovation_id),
                contract_id=(Contract, contract_id), signal_id=(DemandSignal, signal_id))
    _pharma_ok(pot)
    if amount_pence > pot.remaining_pence:
        raise _over(pot, amount_pence)
    now, before = uow.now(), pot_snapshot(pot)
    allocation = FundingAllocation(
        id=str(uuid.uuid4()), pot_id=pot.id, recipient_organisation_id=recipient.id,
        purpose=purpose, innovation_id=innovation_id, contract_id=contract_id,
        signal_id=signal_id, status=AllocationStatus.ACTIVE, amount_pence=amount_pence,
        drawn_pence=0, currency=pot.currency, period_start=pot.period_start,
        period_end=pot.period_end, revision_number=1, created_at=now,
        created_by=uow.actor.id, updated_at=now)
    pot.allocated_pence += amount_pence
    pot.updated_at = now
    uow.session.add(allocation)
    uow.session.flush()
    revision = FundingAllocationRevision(
        id=str(uuid.uuid4()), allocation_id=allocation.id, number=1, supersedes_id=None,
        kind=K.ALLOCATE, status=AllocationStatus.ACTIVE, previous_amount_pence=None,
        amount_pence=amount_pence, period_end=allocation.period_end, reason_code=None,
        reason=None, made_at=now, made_by=uow.actor.id)
    uow.session.add(revision)
    uow.session.flush()
    uow.audit("funding.allocated", "funding_allocation", allocation.id,
              after=allocation_snapshot(allocation), subject_organisation_id=recipient.id)
    uow.audit("funding_pot.allocated", "funding_pot", pot.id, before=before,
              after=pot_snapshot(pot), subject_organisation_id=pot.owner_organisation_id)
    events.allocated(uow, pot, allocation, recipient)
    return get_allocation(uow, pot.id, allocation.id)


def _locked_allocation(uow: UnitOfWork, pot_id: str, allocation_id: str
                       ) -> FundingAllocation:
    allocation = uow.session.scalar(for_update(
        select(FundingAllocation).where(FundingAllocation.id == allocation_id,
                                        FundingAllocation.pot_id == pot_id),
        FundingAllocation))
    if allocation is None:
        raise NotFound(f"Funding pot {pot_id!r} has no allocation {allocation_id!r}.")
    return allocation


def _new_terms(uow: UnitOfWork, allocation: FundingAllocation, kind: str,
               amount_pence: int | None, period_end: date | None) -> tuple[int, date]:
    """The amount and period end a change leaves (422 if the kind does not fit)."""
    current = allocation.amount_pence
    if kind == K.WITHDRAW:
        if amount_pence not in (None, 0):
            raise InvalidInput("A withdrawal takes the allocation to 0.",
                               {"amount_pence": ["0 or absent for a withdrawal"]})
        return allocation.drawn_pence, allocation.period_end
    if period_end is not None:
        floor = max(allocation.period_start, london_day(uow.now()))
        if period_end < floor:
            raise InvalidInput("The money cannot stop being spendable before its period "
                               "starts or in the past.", {
                                   "period_end": [f"before {floor.isoformat()}"]})
    new_end = period_end or allocation.period_end
    if kind == K.REPROFILE:
        if amount_pence not in (None, current):
            raise InvalidInput("A reprofile keeps the amount; increase or reduce instead.", {
                "amount_pence": [f"must be the current amount, {current}"]})
        if period_end is None or period_end == allocation.period_end:
            raise InvalidInput("A reprofile moves the period end.", {
                "period_end": ["a new last day is required"]})
        return current, new_end
    if amount_pence is None:
        raise InvalidInput(f"An {kind} names the new amount.",
                           {"amount_pence": ["required"]})
    if kind == K.INCREASE and amount_pence <= current:
        raise InvalidInput("An increase raises the amount.", {
            "amount_pence": [f"must be more than the current amount, {current}"]})
    if kind == K.REDUCE:
        if amount_pence >= current:
            raise InvalidInput("A reduction lowers the amount.", {
                "amount_pence": [f"must be less than the current amount, {current}"]})
        if amount_pence == 0:
            raise InvalidInput("A reduction to 0 is a withdrawal.", {
                "amount_pence": ["more than 0 (to take it all back, withdraw)"]})
        if amount_pence < allocation.drawn_pence:
            raise Conflict(f"Orders have drawn {_pence(allocation.drawn_pence)} on this "
                           f"allocation; it cannot be reduced below that.",
                           drawn_pence=allocation.drawn_pence)
    return amount_pence, new_end


def change(uow: UnitOfWork, pot_id: str, allocation_id: str, *, expected_version: int,
           kind: str, reason: str, amount_pence: int | None = None,
           period_end: date | None = None, reason_code: str | None = None
           ) -> FundingAllocation:
    """A new revision superseding the allocation's head: increase, reduce, reprofile
    (same amount, a new period end) or withdraw (final)."""
    reason = stripped(reason=reason)["reason"]
    if kind == K.REPROFILE:
        reason_code = reason_code or REPROFILED
    if (reason_code == REPROFILED) != (kind == K.REPROFILE) or reason_code is None:
        raise InvalidInput("A reprofile's reason_code is 'reprofiled'; any other change "
                           "names another reason.", {"reason_code": ["does not fit the kind"]})
    pot = _owned(uow, pot_id)  # the pot first, then the allocation: one lock order
    allocation = _locked_allocation(uow, pot_id, allocation_id)
    if allocation.version != expected_version:
        raise PreconditionFailed("The allocation changed since you read it; fetch it again.")
    if allocation.status == AllocationStatus.WITHDRAWN:
        raise Conflict("The allocation is withdrawn; it takes no further changes.",
                       current_status=allocation.status)
    new_amount, new_end = _new_terms(uow, allocation, kind, amount_pence, period_end)
    previous, delta = allocation.amount_pence, new_amount - allocation.amount_pence
    if delta > pot.remaining_pence:
        raise _over(pot, delta)
    head = uow.session.scalar(select(FundingAllocationRevision).where(
        FundingAllocationRevision.allocation_id == allocation.id,
        FundingAllocationRevision.number == allocation.revision_number))
    assert head is not None, allocation.id
    now, before, pot_before = uow.now(), allocation_snapshot(allocation), pot_snapshot(pot)
    withdraw = kind == K.WITHDRAW
    status = AllocationStatus.WITHDRAWN if withdraw else AllocationStatus.ACTIVE
    allocation.amount_pence, allocation.period_end, allocation.status = (
        new_amount, new_end, status)
    allocation.revision_number += 1
    allocation.updated_at = now
    if withdraw:
        allocation.withdrawn_at = now
    if delta:
        pot.allocated_pence += delta
        pot.updated_at = now
    revision = FundingAllocationRevision(
        id=str(uuid.uuid4()), allocation_id=allocation.id,
        number=allocation.revision_number, supersedes_id=head.id, kind=kind, status=status,
        previous_amount_pence=previous, amount_pence=new_amount, period_end=new_end,
        reason_code=reason_code, reason=reason, made_at=now, made_by=uow.actor.id)
    uow.session.add(revision)
    uow.session.flush()
    recipient = allocation.recipient
    uow.audit(f"funding.{'withdrawn' if withdraw else 'changed'}", "funding_allocation",
              allocation.id, before=before, after=allocation_snapshot(allocation),
              subject_organisation_id=recipient.id)
    if delta:
        uow.audit("funding_pot.allocation_changed", "funding_pot", pot.id,
                  before=pot_before, after=pot_snapshot(pot),
                  subject_organisation_id=pot.owner_organisation_id)
    if withdraw:
        events.withdrawn(uow, pot, allocation, recipient, previous, revision)
    else:
        events.changed(uow, pot, allocation, recipient, revision)
    return get_allocation(uow, pot.id, allocation.id)


# --- drawdown by orders -----------------------------------------------------------------
def drawdown_blockers(uow: UnitOfWork, allocation_id: str, *, trust: Organisation,
                      amount_pence: int, day: date) -> list[str]:
    """Why an order of ``amount_pence`` (gross) by ``trust`` on London day ``day`` cannot
    draw on the allocation (locked until the order's transaction ends); [] = it can."""
    allocation = uow.session.scalar(for_update(
        select(FundingAllocation).where(FundingAllocation.id == allocation_id),
        FundingAllocation))
    if allocation is None:
        return [f"no funding allocation has the id {allocation_id!r}"]
    reasons: list[str] = []
    recipient = allocation.recipient
    if recipient.id != trust.id:
        reasons.append(f"the funding allocation is addressed to {recipient.code}, not "
                       f"{trust.code}")
    if allocation.status == AllocationStatus.WITHDRAWN:
        reasons.append("the funding allocation is withdrawn")
    if not allocation.period_start <= day <= allocation.period_end:
        reasons.append(f"the funding may be spent from {allocation.period_start.isoformat()}"
                       f" to {allocation.period_end.isoformat()}, not on {day.isoformat()}")
    if allocation.remaining_pence < amount_pence:
        reasons.append(f"the funding allocation has {_pence(allocation.remaining_pence)} "
                       f"left, less than the order's {_pence(amount_pence)}")
    return reasons


def draw_down(uow: UnitOfWork, allocation_id: str, *, amount_pence: int,
              order_id: str) -> None:
    """Draw ``amount_pence`` on the allocation for ``order_id``, in the order's
    transaction, audited (no event: ``order.placed`` names the allocation)."""
    allocation = uow.session.scalar(for_update(
        select(FundingAllocation).where(FundingAllocation.id == allocation_id),
        FundingAllocation))
    if allocation is None:
        raise NotFound(f"No funding allocation has the id {allocation_id!r}.")
    if allocation.status == AllocationStatus.WITHDRAWN:
        raise Conflict("The funding allocation is withdrawn.")
    if amount_pence <= 0:
        raise InvalidInput("A drawdown is of a positive amount.",
                           {"amount_pence": ["must be more than 0"]})
    if amount_pence > allocation.remaining_pence:
        raise Conflict(f"The funding allocation has {_pence(allocation.remaining_pence)} "
                       f"left, less than {_pence(amount_pence)}.",
                       remaining_pence=allocation.remaining_pence)
    now, before = uow.now(), allocation_snapshot(allocation)
    allocation.drawn_pence += amount_pence
    allocation.updated_at = now
    uow.session.add(FundingDrawdown(
        id=str(uuid.uuid4()), allocation_id=allocation.id, order_id=order_id,
        amount_pence=amount_pence, drawn_at=now, drawn_by=uow.actor.id))
    uow.session.flush()
    uow.audit("funding.drawn_down", "funding_allocation", allocation.id, before=before,
              after={**allocation_snapshot(allocation), "order_id": order_id},
              subject_organisation_id=allocation.recipient_organisation_id)
