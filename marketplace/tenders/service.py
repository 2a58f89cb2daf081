"""Tenders: an ICB's buyers draft, publish and cancel their own ICB's competitions.

Every change locks the tender row, goes through :data:`marketplace.tenders.lifecycle.MACHINE`,
is audited and emits its ``tender.*`` event in the same unit of work. A tender answering
a demand signal closes that signal (``tender_published``) in the publication's own
transaction. Drafts are the buying ICB's working copies; everything after publication is
public, except what a response says (:mod:`marketplace.tenders.responses`).

Clarifications, responses and evaluation are their own modules; this one holds the
tender itself and the rules every one of them shares (who owns a tender, who sees it).
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, String, func, literal, select
from sqlalchemy.orm import lazyload, selectinload, with_expression

from marketplace.contracts import service as contracts
from marketplace.contracts.models import Contract
from marketplace.demand import service as demand
from marketplace.frameworks.lifecycle import FrameworkStatus
from marketplace.frameworks.models import Framework, FrameworkLot
from marketplace.kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from marketplace.kernel.published_text import stripped
from marketplace.kernel.row_lock import for_update
from marketplace.kernel.settings import Settings
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.organisations import service as organisations
from marketplace.organisations.buyers import acting_icb
from marketplace.organisations.models import Organisation
from marketplace.tenders import events
from marketplace.tenders.lifecycle import MACHINE, PROCEDURES, TenderAction
from marketplace.tenders.models import Tender, TenderCriterion, TenderResponse
from marketplace.tenders.standstill import accelerated
from schemas.statuses import ResponseStatus, Role, SignalStatus, TenderStatus

_SKIP = {"version"}
RUNS_TENDERS = "runs tenders, for its own ICB"
#: The item a tender without lines prices: the whole requirement, once.
WHOLE_REQUIREMENT = {"item_id": "requirement", "unit_code": "C62", "quantity": 1,
                     "vat_category": "S", "vat_rate": "20"}


def snapshot(tender: Tender) -> dict[str, Any]:
    """Every stored field and the criteria: the audit row shows exactly what moved."""
    out = {c.key: getattr(tender, c.key) for c in Tender.__table__.columns
           if c.key not in _SKIP}
    out["criteria"] = [{"id": c.id, "title": c.title, "kind": c.kind,
                        "weight_percent": c.weight_percent} for c in tender.criteria]
    return out


def settings_of(uow: UnitOfWork) -> Settings:
    if uow.settings is None:
        raise RuntimeError("tenders need the marketplace's settings (sealing keys, sandbox)")
    return uow.settings


def ocid_prefix(uow: UnitOfWork) -> str:
    return uow.settings.ocds_prefix if uow.settings is not None else Settings.ocds_prefix


# --- who owns it, who sees it -----------------------------------------------------------
def _buyer_icb_ids(uow: UnitOfWork) -> list[int]:
    """The ICBs whose tenders the caller's buyers run: its own and its predecessors'."""
    actor = uow.actor
    if actor.role != Role.ICB_BUYER or actor.organisation_id is None:
        return []
    icb = uow.session.get(Organisation, actor.organisation_id)
    if icb is None or icb.successor is not None:
        return []
    return [icb.id, *(p.id for p in organisations.predecessors(uow, icb))]


def is_buyer_of(uow: UnitOfWork, tender: Tender) -> bool:
    """Whether the caller is a buyer of the ICB that runs ``tender`` (after a merger: of
    its successor)."""
    return tender.icb_id in _buyer_icb_ids(uow)


def _visible(uow: UnitOfWork, stmt: Select[tuple[Tender]]) -> Select[tuple[Tender]]:
    """Drafts are the buying ICB's working copies: nobody else sees them."""
    if uow.actor.role == Role.ADMIN:
        return stmt
    own = _buyer_icb_ids(uow)
    published = Tender.status != TenderStatus.DRAFT
    return stmt.where(published | Tender.icb_id.in_(own) if own else published)


def _reads(uow: UnitOfWork, stmt: Select[tuple[Tender]]) -> Select[tuple[Tender]]:
    """``stmt`` loading what a tender is shown with: its ``ocid`` and its contract."""
    contract = (select(Contract.id).where(Contract.tender_id == Tender.id)
                .scalar_subquery())
    return stmt.options(
        with_expression(Tender.ocid, literal(f"{ocid_prefix(uow)}-", String) + Tender.id),
        with_expression(Tender.contract_id, contract),
        selectinload(Tender.criteria), selectinload(Tender.questions),
    ).execution_options(populate_existing=True)


def list_query(uow: UnitOfWork, *, status: str | None = None,
               procedure: str | None = None) -> Select[tuple[Tender]]:
    """Tenders, latest published (or drafted) first."""
    stmt = _visible(uow, select(Tender))
    if status is not None:
        stmt = stmt.where(Tender.status == status)
    if procedure is not None:
        stmt = stmt.where(Tender.procedure == procedure)
    return _reads(uow, stmt.order_by(Tender.created_at.desc(), Tender.id))


def get_visible(uow: UnitOfWork, tender_id: str) -> Tender:
    tender = uow.session.scalar(_reads(uow, _visible(
        uow, select(Tender).where(Tender.id == tender_id))))
    if tender is None:
        raise NotFound(f"No tender has the id {tender_id!r}.")
    return tender


def locked(uow: UnitOfWork, tender_id: str, *, shared: bool = False) -> Tender:
    """The tender under a row lock (``shared``: ``FOR SHARE``, so responses to one tender
    run side by side while its close, which locks ``FOR UPDATE``, waits for them); 404 for
    a draft the caller may not see, as for a missing id."""
    stmt = _visible(uow, select(Tender).where(Tender.id == tender_id)).options(
        lazyload(Tender.icb))  # FOR UPDATE OF the tender alone, without the ICB's join
    if shared:
        stmt = stmt.with_for_update(read=True, of=Tender).execution_options(
            populate_existing=True)
    else:
        stmt = for_update(stmt, Tender)
    tender = uow.session.scalar(stmt)
    if tender is None:
        raise NotFound(f"No tender has the id {tender_id!r}.")
    return tender


def own_locked(uow: UnitOfWork, tender_id: str) -> Tender:
    """The tender, locked, if the caller is a buyer of the ICB that runs it."""
    icb = acting_icb(uow, RUNS_TENDERS)
    tender = locked(uow, tender_id)
    if not is_buyer_of(uow, tender):
        raise Forbidden(f"This tender is run by {tender.owner.code}; only its buyers act "
                        f"on it ({icb.code} is not).")
    return tender


def submitted_count(uow: UnitOfWork, tender_id: str) -> int:
    """Responses standing (submitted, not withdrawn): what the close counts."""
    return uow.session.scalar(select(func.count()).select_from(TenderResponse).where(
        TenderResponse.tender_id == tender_id,
        TenderResponse.status == ResponseStatus.SUBMITTED)) or 0


# --- drafting ---------------------------------------------------------------------------
def _framework_lot(uow: UnitOfWork, framework_id: str, lot_id: str, now: datetime
                   ) -> FrameworkLot:
    """The lot of a live framework a competition runs under (409 if not live)."""
    lot = uow.session.get(FrameworkLot, lot_id)
    if lot is None or lot.framework_id != framework_id:
        raise InvalidInput("No such lot on that framework.",
                           {"lot_id": ["no such lot on this framework"]})
    framework: Framework = lot.framework
    if framework.status != FrameworkStatus.PUBLISHED:
        raise Conflict(f"Framework {framework.reference} is {framework.status}; a further "
                       "competition runs under a published framework.")
    if not framework.starts_at <= now < framework.ends_at:
        raise Conflict(f"Framework {framework.reference} runs from "
                       f"{framework.starts_at.isoformat()} to {framework.ends_at.isoformat()}"
                       "; a further competition runs while it is live.")
    return lot


def _signal_of(uow: UnitOfWork, signal_id: str, icb: Organisation) -> None:
    """The demand signal a tender answers: the ICB's own, and still open."""
    try:
        signal = demand.get(uow, signal_id)
    except NotFound:
        raise InvalidInput("No such demand signal.",
                           {"signal_id": ["no such demand signal"]}) from None
    if signal.owner.id != icb.id:
        raise Forbidden(f"The demand signal belongs to {signal.owner.code}; a tender "
                        "answers its own ICB's signal.")
    if signal.status != SignalStatus.OPEN:
        raise Conflict(f"The demand signal is {signal.status}; a tender answers an open one.")


def _lines(title: str, lines: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    if not lines:
        return [{**WHOLE_REQUIREMENT, "description": title[:500]}]
    return [{"vat_category": "S", "vat_rate": "20", **line,
             "description": line["description"].strip()} for line in lines]


def create(uow: UnitOfWork, *, title: str, description: str, categories: list[str],
           pathway_stages: list[str], procedure: str, estimated_value_pence: int,
           contract_term_months: int, clarification_deadline: datetime,
           submission_deadline: datetime, min_esf_tier: str,
           criteria: list[dict[str, Any]], currency: str = "GBP",
           framework_id: str | None = None, lot_id: str | None = None,
           lines: list[dict[str, Any]] | None = None, signal_id: str | None = None,
           accelerator: int | None = None) -> Tender:
    """A draft tender of the caller's ICB."""
    icb = acting_icb(uow, RUNS_TENDERS)
    text = stripped(title=title, description=description)
    if accelerator is not None and not settings_of(uow).sandbox:
        raise InvalidInput("Time acceleration is for the sandbox only.", {
            "accelerator": ["only when the service runs with MARKETPLACE_SANDBOX=true"]})
    blank = sorted(str(n) for n, c in enumerate(criteria) if not c["title"].strip())
    if blank:
        raise InvalidInput("Some criteria titles are blank.",
                           {"criteria": {n: {"title": ["blank"]} for n in blank}})
    now = uow.now()
    if clarification_deadline <= now:
        raise InvalidInput("The clarification deadline has passed.",
                           {"clarification_deadline": ["in the past"]})
    if PROCEDURES[procedure].under_framework:
        assert framework_id is not None and lot_id is not None  # the schema requires them
        _framework_lot(uow, framework_id, lot_id, now)
    if signal_id is not None:
        _signal_of(uow, signal_id, icb)
    tender_id = str(uuid.uuid4())
    tender = Tender(
        id=tender_id, reference=f"{icb.code}-{now.astimezone(UTC).year}-"
                                f"{uuid.uuid4().hex[:6].upper()}",
        icb_id=icb.id, status=TenderStatus.DRAFT, procedure=procedure,
        framework_id=framework_id, lot_id=lot_id, signal_id=signal_id, **text,
        categories=sorted(set(categories)), pathway_stages=pathway_stages,
        lines=_lines(text["title"], lines), estimated_value_pence=estimated_value_pence,
        currency=currency, contract_term_months=contract_term_months,
        min_esf_tier=min_esf_tier, accelerator=accelerator or 1,
        clarification_deadline=clarification_deadline,
        submission_deadline=submission_deadline, created_at=now, created_by=uow.actor.id,
        status_changed_at=now, updated_at=now,
        criteria=[TenderCriterion(id=str(uuid.uuid4()), position=n, title=c["title"].strip(),
                                  kind=c["kind"], weight_percent=c["weight_percent"])
                  for n, c in enumerate(criteria, start=1)])
    uow.session.add(tender)
    uow.session.flush()
    uow.audit("tender.created", "tender", tender.id, after=snapshot(tender),
              subject_organisation_id=icb.id)
    return get_visible(uow, tender.id)


# --- publication, close, cancellation ---------------------------------------------------
def publish(uow: UnitOfWork, tender_id: str) -> Tender:
    """Publish the notice: questions until the clarification deadline, sealed responses
    until the submission deadline (both divided by the sandbox accelerator, if any)."""
    tender = own_locked(uow, tender_id)
    target = MACHINE.target(tender.status, TenderAction.PUBLISH)
    now = uow.now()
    if tender.clarification_deadline <= now:
        raise Conflict(f"The clarification deadline "
                       f"({tender.clarification_deadline.isoformat()}) has passed; cancel "
                       "this draft and post the tender again with new deadlines.")
    if PROCEDURES[tender.procedure].under_framework:
        assert tender.framework_id is not None and tender.lot_id is not None
        _framework_lot(uow, tender.framework_id, tender.lot_id, now)
    before = snapshot(tender)
    tender.status, tender.published_at = target, now
    tender.clarification_closes_at = accelerated(now, tender.clarification_deadline,
                                                 tender.accelerator)
    tender.submission_closes_at = accelerated(now, tender.submission_deadline,
                                              tender.accelerator)
    tender.status_changed_at = tender.updated_at = now
    uow.session.flush()
    uow.audit("tender.published", "tender", tender.id, before=before, after=snapshot(tender),
              subject_organisation_id=tender.icb_id)
    events.published(uow, tender)
    # A signal closed since the draft (by another tender answering it, or by its ICB)
    # stays as it closed: the tender is published all the same.
    if (tender.signal_id is not None
            and demand.get(uow, tender.signal_id).status == SignalStatus.OPEN):
        demand.close(uow, tender.signal_id, outcome=demand.TENDER_PUBLISHED,
                     tender_id=tender.id)
    return get_visible(uow, tender.id)


def close(uow: UnitOfWork, tender: Tender) -> None:
    """The submission deadline passed (the caller holds the row lock and checked it): the
    responses open to the buyer, or, with none, the tender is unsuccessful."""
    received = submitted_count(uow, tender.id)
    target = MACHINE.target(tender.status, TenderAction.CLOSE if received
                            else TenderAction.CLOSE_EMPTY)
    before = snapshot(tender)
    now = uow.now()
    tender.status, tender.closed_at, tender.responses_received = target, now, received
    tender.status_changed_at = tender.updated_at = now
    uow.session.flush()
    uow.audit("tender.closed", "tender", tender.id, before=before, after=snapshot(tender),
              subject_organisation_id=tender.icb_id)
    events.closed(uow, tender)


def cancel(uow: UnitOfWork, tender_id: str, *, reason_code: str, reason: str) -> Tender:
    """Cancel with a reason, at any point before a contract is signed."""
    reason = stripped(reason=reason)["reason"]
    tender = own_locked(uow, tender_id)
    target = MACHINE.target(tender.status, TenderAction.CANCEL)
    if tender.status == TenderStatus.AWARDED:
        contracts.cancel_for_tender(uow, tender.id, reason)
    before = snapshot(tender)
    now = uow.now()
    tender.status, tender.cancelled_at = target, now
    tender.reason_code, tender.reason = reason_code, reason
    tender.status_changed_at = tender.updated_at = now
    uow.session.flush()
    uow.audit("tender.cancelled", "tender", tender.id, before=before, after=snapshot(tender),
              subject_organisation_id=tender.icb_id)
    if tender.published_at is not None:  # a draft was never announced
        events.cancelled(uow, tender)
    return get_visible(uow, tender.id)
