"""Contracts: created by a tender's award, signed after the standstill, varied, terminated.

A tender's award creates a pending contract (:func:`create_for_award`, called by the
tenders service in the award's transaction); no event goes out until the buyer signs it,
which the standstill forbids until it has ended. Only a buyer of the ICB that holds the
contract acts on it: the contracting ICB, or its successor after a merger (a merged-away
ICB's buyers act for nobody). Every change locks the row, goes through
:data:`marketplace.contracts.lifecycle.MACHINE`, is audited and emits its ``contract.*``
event in the same unit of work; a forbidden change raises before anything is written.

A contract is read only by its parties: the buyer ICB's buyers (and its successor's),
the supplier's innovators, the eligible trusts' systems once it is signed, and the
operator. To anyone else it does not exist (404, and lists leave it out), so asking to
act on another ICB's contract is a 404 as well, never a hint that it exists.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import ColumnElement, Select, String, and_, cast, false, select, true
from sqlalchemy.orm import selectinload

from marketplace.contracts import events
from marketplace.contracts.lifecycle import (
    MACHINE,
    SIGNED,
    ContractAction,
    proposed_start,
    standstill_running,
    term_end,
)
from marketplace.contracts.models import (
    PAYMENT_TERMS_DAYS,
    Contract,
    ContractLine,
    ContractVariation,
)
from marketplace.frameworks.models import FrameworkAward
from marketplace.kernel.clock import LONDON, london_day
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
from marketplace.organisations.models import Organisation
from schemas.events.common import ContractLineSchema
from schemas.statuses import ContractStatus, OrganisationKind, Role

_SKIP = {"version"}
_LINE = ContractLineSchema()


def snapshot(contract: Contract) -> dict[str, Any]:
    """Every stored field, lines included: the audit row of a change shows what moved."""
    out = {c.key: getattr(contract, c.key) for c in Contract.__table__.columns
           if c.key not in _SKIP}
    out["lines"] = events.line_terms(contract.lines)
    return out


def _terms(contract: Contract) -> dict[str, Any]:
    """The terms a variation may change, as stored in its before and after (JSON)."""
    return {"value_pence": contract.value_pence, "starts_on": contract.starts_on.isoformat(),
            "ends_on": contract.ends_on.isoformat(), "lines": events.line_terms(contract.lines)}


def _today(uow: UnitOfWork) -> date:
    return london_day(uow.now())


# --- reading ----------------------------------------------------------------------------
def _visible(uow: UnitOfWork) -> ColumnElement[bool]:
    """SQL: the contracts the caller is a party to (the operator: every one)."""
    actor = uow.actor
    if actor.role == Role.ADMIN:
        return true()
    caller = (uow.session.get(Organisation, actor.organisation_id)
              if actor.organisation_id is not None else None)
    if caller is None:
        return false()
    if actor.role == Role.ICB_BUYER:
        # The ICB's own contracts, and those of every ICB merged into it.
        icbs = [caller.id, *(p.id for p in organisations.predecessors(uow, caller))]
        return Contract.buyer_icb_id.in_(icbs)
    if actor.role == Role.INNOVATOR:
        return Contract.supplier_organisation_id == caller.id
    if actor.role == Role.TRUST_SYSTEM:
        # The stored JSON list holds each code quoted; a trust code is three letters and
        # digits, so the quoted code matches that element exactly.
        named = cast(Contract.eligible_trusts, String).contains(f'"{caller.code}"',
                                                                 autoescape=True)
        return and_(Contract.status.in_(SIGNED), named)
    return false()


def _reads(stmt: Select[tuple[Contract]]) -> Select[tuple[Contract]]:
    """``stmt`` loading what a contract is shown with, read afresh."""
    return stmt.options(
        selectinload(Contract.variations), selectinload(Contract.buyer_icb),
        selectinload(Contract.supplier_organisation),
    ).execution_options(populate_existing=True)


def list_query(uow: UnitOfWork, *, status: str | None = None,
               tender_id: str | None = None) -> Select[tuple[Contract]]:
    """The caller's contracts, newest first."""
    stmt = select(Contract).where(_visible(uow))
    if status is not None:
        stmt = stmt.where(Contract.status == status)
    if tender_id is not None:
        stmt = stmt.where(Contract.tender_id == tender_id)
    return _reads(stmt.order_by(Contract.created_at.desc(), Contract.id))


def get_visible(uow: UnitOfWork, contract_id: str) -> Contract:
    """The contract, if the caller is a party to it (404 otherwise, as if missing)."""
    contract = uow.session.scalar(_reads(select(Contract).where(
        Contract.id == contract_id, _visible(uow))))
    if contract is None:
        raise NotFound(f"No contract has the id {contract_id!r}.")
    return contract


def get_for_tender(uow: UnitOfWork, tender_id: str) -> Contract | None:
    """The contract a tender's award created, if any (for the tenders service)."""
    return uow.session.scalar(select(Contract).where(Contract.tender_id == tender_id))


# --- who acts ---------------------------------------------------------------------------
def _own(uow: UnitOfWork, contract_id: str, expected_version: int | None = None
         ) -> Contract:
    """The contract, locked, if the caller is a buyer of the ICB that holds it today
    (404 to a non-party, 403 to another party, 412 if it changed since it was read)."""
    contract = uow.session.scalar(for_update(select(Contract).where(
        Contract.id == contract_id, _visible(uow)), Contract))
    if contract is None:
        raise NotFound(f"No contract has the id {contract_id!r}.")
    holder = contract.buyer_icb.current()
    actor = uow.actor
    if actor.role != Role.ICB_BUYER:
        raise Forbidden(f"Only a buyer of {holder.code}, the contracting ICB, signs, varies "
                        "or terminates this contract.")
    if actor.organisation_id != holder.id:  # a party, so an ICB merged into the holder
        raise Forbidden(f"{actor.organisation_code} was merged into {holder.code}, which "
                        f"holds its contracts now; act with a {holder.code} buyer's token.")
    if expected_version is not None and contract.version != expected_version:
        raise PreconditionFailed("The contract changed since you read it; fetch it again.")
    return contract


# --- rules of the terms -------------------------------------------------------------------
def _eligible_trusts(uow: UnitOfWork, icb: Organisation) -> list[str]:
    """ODS codes of the ICB's trusts and of the ICBs merged into it, sorted."""
    trusts = organisations.list_query(uow, kind=OrganisationKind.TRUST, parent=icb)
    return [trust.code for trust in uow.session.scalars(trusts)]


def _lines(lines: Iterable[dict[str, Any]], keep: Iterable[ContractLine] = ()
           ) -> list[ContractLine]:
    """Contract lines in the order given, each checked as ``contract.*`` events carry it;
    an item already on the contract keeps its ``line_id``, a new one gets a fresh id."""
    line_ids = {line.item_id: line.line_id for line in keep}
    rows: list[ContractLine] = []
    errors: dict[str, Any] = {}
    for n, line in enumerate(lines):
        try:
            line_id = line_ids.get(line.get("item_id", "")) or str(uuid.uuid4())
            terms = _LINE.load({**line, "line_id": line_id})
        except ValidationError as exc:
            errors[str(n)] = exc.messages
            continue
        rows.append(ContractLine(position=n + 1, **terms))
    items = [row.item_id for row in rows]
    if errors or not rows or len(set(items)) != len(items):
        raise InvalidInput("The contract lines are not valid.", {
            "lines": errors or ["at least one line, item ids unique"]})
    return rows


def _reference(icb: Organisation, now: datetime, kind: str = "C") -> str:
    """``<ICB>-C-<year>-<hex>`` for an awarded contract, ``-DA-`` for a direct award."""
    return f"{icb.code}-{kind}-{london_day(now).year}-{uuid.uuid4().hex[:8].upper()}"


# --- commands ---------------------------------------------------------------------------
def create_for_award(uow: UnitOfWork, *, tender_id: str, award_id: str,
                     framework_id: str | None, buyer_icb_id: int,
                     supplier_organisation_id: int, innovation_id: str, value_pence: int,
                     currency: str, term_months: int, lines: list[dict[str, Any]],
                     standstill_ends_at: datetime) -> Contract:
    """A pending contract from a tender's award (no event: trusts hear of it when signed).

    lines: [{item_id, description, unit_code, unit_price_pence, vat_category, vat_rate,
    max_quantity}]. It is proposed to start on the first day after the standstill, for
    the tender's term, and to be called off by the buyer ICB's trusts; signature fixes
    both. The caller (the award) has authorised the buyer.
    """
    buyer = uow.session.get(Organisation, buyer_icb_id)
    if buyer is None or buyer.kind != OrganisationKind.ICB:
        raise InvalidInput("A contract's buyer is an ICB.", {"buyer_icb_id": ["not an ICB"]})
    if (existing := get_for_tender(uow, tender_id)) is not None:
        raise Conflict(f"Tender {tender_id} already led to contract {existing.reference}.",
                       contract_id=existing.id)
    now = uow.now()
    starts_on = proposed_start(standstill_ends_at)
    contract = Contract(
        id=str(uuid.uuid4()), reference=_reference(buyer, now), tender_id=tender_id,
        award_id=award_id, framework_id=framework_id, buyer_icb_id=buyer.id,
        supplier_organisation_id=supplier_organisation_id, innovation_id=innovation_id,
        status=ContractStatus.PENDING, value_pence=value_pence, currency=currency,
        term_months=term_months, starts_on=starts_on,
        ends_on=term_end(starts_on, term_months),
        eligible_trusts=_eligible_trusts(uow, buyer), payment_terms_days=PAYMENT_TERMS_DAYS,
        standstill_ends_at=standstill_ends_at, created_at=now, variation_number=0,
        status_changed_at=now, updated_at=now, lines=_lines(lines))
    uow.session.add(contract)
    uow.session.flush()  # a concurrent award of the same tender: the unique tender_id
    uow.audit("contract.created", "contract", contract.id, after=snapshot(contract),
              subject_organisation_id=supplier_organisation_id)
    return contract


#: VAT of a direct award's lines: framework ceilings carry no VAT treatment, and the
#: digital services bought here are standard rated (HMRC VAT Notice 700).
DIRECT_AWARD_VAT = {"vat_category": "S", "vat_rate": "20"}


def create_direct_award(uow: UnitOfWork, *, award: FrameworkAward, trust: Organisation,
                        value_pence: int) -> Contract:
    """The call-off contract of a trust's direct award under a framework award that
    allows it: signed at once (no competition, so no standstill), held by the trust's ICB,
    for that trust alone, at the award's ceiling prices, from today until the award ends,
    for ``value_pence`` (the order it is made for). ``contract.signed`` goes out first,
    so every trust hears of the contract before an order under it. The caller (the
    orders service) has checked the award is in force and the framework allows it."""
    icb = trust.current_parent
    if icb is None:
        raise InvalidInput("The trust belongs to no ICB.", {"trust": [trust.code]})
    now = uow.now()
    starts_on = london_day(now)
    ends_on = max(starts_on, london_day(award.ends_at - timedelta(microseconds=1)))
    months = max(1, (ends_on.year - starts_on.year) * 12 + ends_on.month - starts_on.month)
    lines = [{"item_id": line.item_id, "description": line.description,
              "unit_code": line.unit_code, "unit_price_pence": line.ceiling_unit_price_pence,
              **DIRECT_AWARD_VAT, "max_quantity": None} for line in award.lines]
    contract = Contract(
        id=str(uuid.uuid4()), reference=_reference(icb, now, "DA"),
        tender_id=None, award_id=award.id, framework_id=award.framework_id,
        buyer_icb_id=icb.id, supplier_organisation_id=award.supplier_organisation_id,
        innovation_id=award.innovation_id, status=ContractStatus.ACTIVE,
        value_pence=value_pence, currency=award.currency, term_months=months,
        starts_on=starts_on, ends_on=ends_on, eligible_trusts=[trust.code],
        payment_terms_days=PAYMENT_TERMS_DAYS, standstill_ends_at=None, created_at=now,
        signed_at=now, signed_by=uow.actor.id, variation_number=0, status_changed_at=now,
        updated_at=now, lines=_lines(lines))
    uow.session.add(contract)
    uow.session.flush()
    uow.audit("contract.direct_award_signed", "contract", contract.id,
              after=snapshot(contract), subject_organisation_id=award.supplier_organisation_id)
    events.signed(uow, contract)
    return contract


def sign(uow: UnitOfWork, contract_id: str) -> Contract:
    """The buyer signs once the standstill has ended: the contract is in force and every
    eligible trust hears of it. Signed after the proposed start, it starts that day and
    keeps its term; the trusts are those of the buyer ICB at signature."""
    contract = _own(uow, contract_id)
    target = MACHINE.target(contract.status, ContractAction.SIGN)
    now = uow.now()
    if standstill_running(contract.standstill_ends_at, now):
        assert contract.standstill_ends_at is not None
        ends = contract.standstill_ends_at.astimezone(LONDON).isoformat()
        raise Conflict(f"The standstill runs until {ends}; the contract can be signed from "
                       "then.", standstill_ends_at=ends)
    trusts = _eligible_trusts(uow, contract.buyer_icb)
    if not trusts:
        raise Conflict(f"{contract.buyer_icb.code} has no trusts to call off the contract; "
                       "add its trusts, then sign.")
    before = snapshot(contract)
    if (today := london_day(now)) > contract.starts_on:
        contract.starts_on, contract.ends_on = today, term_end(today, contract.term_months)
    contract.eligible_trusts = trusts
    contract.status, contract.signed_at, contract.signed_by = target, now, uow.actor.id
    contract.status_changed_at = contract.updated_at = now
    uow.session.flush()
    uow.audit(f"contract.{MACHINE.done[ContractAction.SIGN]}", "contract", contract.id,
              before=before, after=snapshot(contract),
              subject_organisation_id=contract.supplier_organisation_id)
    events.signed(uow, contract)
    return get_visible(uow, contract.id)


def _variation(uow: UnitOfWork, contract: Contract, value_pence: int | None,
               ends_on: date | None, lines: list[dict[str, Any]] | None
               ) -> tuple[dict[str, Any], list[ContractLine] | None]:
    """What a variation changes: the new value and end date, and the new lines (None if
    they stay); 422 if it changes nothing."""
    changes: dict[str, Any] = {}
    if value_pence is not None and value_pence != contract.value_pence:
        changes["value_pence"] = value_pence
    if ends_on is not None and ends_on != contract.ends_on:
        floor = max(contract.starts_on, _today(uow))
        if ends_on < floor:
            raise InvalidInput("The contract cannot end before it starts or in the past.", {
                "ends_on": [f"before {floor.isoformat()} (to end it early, terminate it)"]})
        changes["ends_on"] = ends_on
    new_lines = None if lines is None else _lines(lines, keep=contract.lines)
    if new_lines is not None and (events.line_terms(new_lines)
                                  == events.line_terms(contract.lines)):
        new_lines = None
    if not changes and new_lines is None:
        raise InvalidInput("The variation changes nothing.",
                           {"_schema": ["the value, end date and lines are as they are"]})
    return changes, new_lines


def vary(uow: UnitOfWork, contract_id: str, *, expected_version: int, reason: str,
         value_pence: int | None = None, ends_on: date | None = None,
         lines: list[dict[str, Any]] | None = None) -> Contract:
    """A numbered variation of an active contract (its value, end date or lines, which
    replace all its lines); the terms before and after are kept, and trusts replace
    their copy."""
    reason = stripped(reason=reason)["reason"]
    contract = _own(uow, contract_id, expected_version)
    MACHINE.target(contract.status, ContractAction.VARY)
    changes, new_lines = _variation(uow, contract, value_pence, ends_on, lines)
    before, before_terms = snapshot(contract), _terms(contract)
    previous_value, now = contract.value_pence, uow.now()
    for name, value in changes.items():
        setattr(contract, name, value)
    contract.variation_number += 1
    contract.updated_at = now
    if new_lines is not None:
        contract.lines.clear()
        uow.session.flush()  # the old lines go first: positions and items are unique
        contract.lines.extend(new_lines)
    uow.session.flush()
    variation = ContractVariation(
        id=str(uuid.uuid4()), contract_id=contract.id, number=contract.variation_number,
        previous_value_pence=previous_value, value_pence=contract.value_pence,
        changed_fields=sorted([*changes, *(() if new_lines is None else ("lines",))]),
        before=before_terms, after=_terms(contract), reason=reason, varied_at=now,
        varied_by=uow.actor.id)
    uow.session.add(variation)
    uow.session.flush()
    uow.audit(f"contract.{MACHINE.done[ContractAction.VARY]}", "contract", contract.id,
              before=before, after=snapshot(contract),
              subject_organisation_id=contract.supplier_organisation_id)
    events.varied(uow, contract, variation)
    return get_visible(uow, contract.id)


def terminate(uow: UnitOfWork, contract_id: str, *, expected_version: int,
              reason_code: str, reason: str, effective_on: date) -> Contract:
    """End an active contract early: no orders after ``effective_on`` (not in the past,
    not after it ends); trusts release the remaining commitment."""
    reason = stripped(reason=reason)["reason"]
    contract = _own(uow, contract_id, expected_version)
    target = MACHINE.target(contract.status, ContractAction.TERMINATE)
    if effective_on < (today := _today(uow)):
        raise InvalidInput("A termination takes effect today or later.",
                           {"effective_on": [f"before today ({today.isoformat()})"]})
    if effective_on > contract.ends_on:
        raise InvalidInput("A termination takes effect before the contract ends.", {
            "effective_on": [f"after the contract ends ({contract.ends_on.isoformat()})"]})
    before, now = snapshot(contract), uow.now()
    contract.status, contract.terminated_at, contract.effective_on = target, now, effective_on
    contract.reason_code, contract.reason = reason_code, reason
    contract.status_changed_at = contract.updated_at = now
    uow.session.flush()
    uow.audit(f"contract.{MACHINE.done[ContractAction.TERMINATE]}", "contract", contract.id,
              before=before, after=snapshot(contract),
              subject_organisation_id=contract.supplier_organisation_id)
    events.terminated(uow, contract)
    return get_visible(uow, contract.id)


def cancel_for_tender(uow: UnitOfWork, tender_id: str, reason: str) -> Contract | None:
    """The tender was cancelled: its pending (unsigned) contract is cancelled, no event
    (trusts never heard of it); a signed one raises Conflict (it is terminated instead)."""
    contract = uow.session.scalar(for_update(
        select(Contract).where(Contract.tender_id == tender_id), Contract))
    if contract is None:
        return None
    target = MACHINE.target(contract.status, ContractAction.CANCEL)
    before, now = snapshot(contract), uow.now()
    contract.status, contract.cancelled_at = target, now
    contract.reason = stripped(reason=reason)["reason"]
    contract.status_changed_at = contract.updated_at = now
    uow.session.flush()
    uow.audit(f"contract.{MACHINE.done[ContractAction.CANCEL]}", "contract", contract.id,
              before=before, after=snapshot(contract),
              subject_organisation_id=contract.supplier_organisation_id)
    return contract
