"""Sealed responses: submitted, replaced or withdrawn by their responder until the deadline.

Until the submission deadline a response exists only for the organisation that sent it:
to anyone else, the buyer and operators included, a read is a 404 (the same as a missing
id) and lists and counts leave it out. After the deadline the buyer reads every submitted
response. What a response says is sealed at rest (:mod:`marketplace.tenders.sealing`),
its audit rows hold no content and are shown to the responder alone
(:mod:`marketplace.audit.service`), and a submission answers with a receipt, so neither
an idempotency record nor a log line ever holds a price.

The deadline is the server's clock, read after the tender's row lock is taken: a
submission and the tender's close are serialised on that lock (responses take it shared,
the close exclusively), so a response either counts before the close or is refused.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select

from marketplace.approvals.lifecycle import PRE_APPROVED
from marketplace.catalogue.lifecycle import ListingStatus
from marketplace.catalogue.models import Innovation
from marketplace.demand.matching import tiers_at_or_above
from marketplace.frameworks import service as frameworks
from marketplace.kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from marketplace.kernel.mapped_query import MappedQuery
from marketplace.kernel.row_lock import for_update
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.tenders import service as tenders
from marketplace.tenders.lifecycle import OPENED, PROCEDURES, require_open_for
from marketplace.tenders.models import Tender, TenderResponse
from marketplace.tenders.sealing import Sealed, Sealer, sealer_for
from schemas.statuses import CriterionKind, ResponseStatus, Role


@dataclass(frozen=True)
class Opened:
    """A response with what it says: for its responder, or the buyer after the deadline."""

    response: TenderResponse
    price_pence: int
    unit_prices: list[dict[str, Any]]
    answers: list[dict[str, Any]]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.response, name)

    @property
    def supplier(self) -> str:
        return self.response.organisation.code


def sealer(uow: UnitOfWork) -> Sealer:
    settings = tenders.settings_of(uow)
    return sealer_for(settings.sealing_keys, settings.secret_key)


def open_response(uow: UnitOfWork, response: TenderResponse) -> Opened:
    """Unseal ``response`` (callers decide who may read it)."""
    contents = sealer(uow).open(response.tender_id, response.id,
                                Sealed(response.key_id, response.sealed))
    return Opened(response, contents["price_pence"], contents["unit_prices"],
                  contents["answers"])


def _snapshot(response: TenderResponse) -> dict[str, Any]:
    """What the audit trail keeps of a response: never its content."""
    return {"tender_id": response.tender_id, "innovation_id": response.innovation_id,
            "status": response.status, "replaced_count": response.replaced_count,
            "approval_id": response.approval_id, "key_id": response.key_id}


# --- who may respond --------------------------------------------------------------------
def _innovator_org(uow: UnitOfWork) -> int:
    actor = uow.actor
    if actor.role != Role.INNOVATOR or actor.organisation_id is None:
        raise Forbidden("Only an innovator responds to tenders, for its own listings.")
    return actor.organisation_id


def eligibility_blockers(uow: UnitOfWork, tender: Tender, innovation: Innovation,
                         at: datetime) -> tuple[list[str], str | None, str | None]:
    """Why ``innovation`` may not respond to ``tender`` at ``at`` (empty when it may), with
    the approval and the framework award it rests on."""
    reasons: list[str] = []
    if innovation.status != ListingStatus.PUBLISHED:
        reasons.append(f"the listing is {innovation.status}, not published")
    approval = innovation.current_approval
    what = f"version {innovation.product_version}"
    if approval is None:
        reasons.append(f"{what} has no central approval")
    elif approval.status not in PRE_APPROVED:
        reasons.append(f"the central approval of {what} is {approval.status}")
    elif approval.expires_at <= at:
        reasons.append(f"the central approval of {what} lapsed at "
                       f"{approval.expires_at.isoformat()}")
    if innovation.esf_tier not in tiers_at_or_above(tender.min_esf_tier):
        reasons.append(f"ESF tier {innovation.esf_tier}, the tender needs "
                       f"{tender.min_esf_tier} or above")
    award_id = None
    if PROCEDURES[tender.procedure].under_framework:
        assert tender.lot_id is not None
        award = frameworks.in_force_award_for(uow, tender.lot_id, innovation.id, at)
        if award is None:
            reasons.append("no framework award in force on the competition's lot")
        else:
            award_id = award.id
    approval_id = approval.id if approval is not None else None
    return reasons, approval_id, award_id


def _own_listing(uow: UnitOfWork, org_id: int, innovation_id: str) -> Innovation:
    innovation = uow.session.scalar(select(Innovation).where(Innovation.id == innovation_id))
    if innovation is None or innovation.organisation_id != org_id:
        raise InvalidInput("Respond with one of your own listings.",
                           {"innovation_id": ["not a listing of yours"]})
    return innovation


def _check_contents(tender: Tender, price_pence: int, answers: list[dict[str, Any]],
                    unit_prices: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The answers cover every non-price criterion once; the unit prices every item, adding
    up to the price. Returns the unit prices (derived for a one-item tender)."""
    wanted = {c.id for c in tender.criteria if c.kind != CriterionKind.PRICE}
    given = [a["criterion_id"] for a in answers]
    errors: dict[str, list[str]] = {}
    if sorted(given) != sorted(wanted):
        errors["answers"] = [f"answer each non-price criterion once: {', '.join(sorted(wanted))}"]
    quantities = {line["item_id"]: int(line["quantity"]) for line in tender.lines}
    if unit_prices is None:
        (item, quantity), = quantities.items() if len(quantities) == 1 else ((None, 0),)
        if item is None or price_pence % quantity:
            errors["unit_prices"] = ["price every item (the price does not divide evenly "
                                     "over the items)"]
        else:
            unit_prices = [{"item_id": item, "unit_price_pence": price_pence // quantity}]
    if unit_prices is not None and "unit_prices" not in errors:
        priced = {u["item_id"]: u["unit_price_pence"] for u in unit_prices}
        if len(priced) != len(unit_prices) or set(priced) != set(quantities):
            errors["unit_prices"] = [f"one unit price for each item: "
                                     f"{', '.join(sorted(quantities))}"]
        elif sum(priced[i] * q for i, q in quantities.items()) != price_pence:
            errors["price_pence"] = ["must equal the sum of unit price x quantity"]
    if errors:
        raise InvalidInput("The response does not fit the tender.", errors)
    assert unit_prices is not None
    return unit_prices


# --- submitting, replacing, withdrawing -------------------------------------------------
def submit(uow: UnitOfWork, tender_id: str, *, innovation_id: str, price_pence: int,
           answers: list[dict[str, Any]], unit_prices: list[dict[str, Any]] | None = None
           ) -> TenderResponse:
    """Seal a listing's response (replacing its earlier one) before the deadline."""
    org_id = _innovator_org(uow)
    tender = tenders.locked(uow, tender_id, shared=True)
    now = uow.now()
    require_open_for("responses", tender.status, tender.submission_closes_at, now)
    innovation = _own_listing(uow, org_id, innovation_id)
    blockers, approval_id, award_id = eligibility_blockers(uow, tender, innovation, now)
    if blockers:
        raise Conflict(f"{innovation.name} may not respond: {'; '.join(blockers)}.",
                       reasons=blockers)
    unit_prices = _check_contents(tender, price_pence, answers, unit_prices)
    contents = {"price_pence": price_pence, "unit_prices": unit_prices,
                "answers": [{"criterion_id": a["criterion_id"], "text": a["text"]}
                            for a in answers]}
    response = uow.session.scalar(for_update(select(TenderResponse).where(
        TenderResponse.tender_id == tender.id,
        TenderResponse.innovation_id == innovation.id), TenderResponse))
    before = None if response is None else _snapshot(response)
    if response is None:
        response = TenderResponse(id=str(uuid.uuid4()), tender_id=tender.id,
                                  innovation_id=innovation.id, organisation_id=org_id,
                                  replaced_count=0)
        uow.session.add(response)
        action = "tender_response.submitted"
    else:
        if response.status == ResponseStatus.SUBMITTED:
            response.replaced_count += 1
        action = "tender_response.replaced"
    sealed = sealer(uow).seal(tender.id, response.id, contents)
    response.key_id, response.sealed = sealed.key_id, sealed.blob
    response.status, response.withdrawn_at = ResponseStatus.SUBMITTED, None
    response.approval_id, response.framework_award_id = approval_id, award_id
    response.submitted_at = response.updated_at = now
    # Two first submissions for one listing at once: the unique (tender, listing) makes
    # the second's flush fail, and the endpoint answers that one 409 (retry: it replaces).
    uow.session.flush()
    uow.audit(action, "tender_response", response.id, before=before,
              after=_snapshot(response), subject_organisation_id=org_id)
    return response


def _own(uow: UnitOfWork, tender_id: str, response_id: str) -> TenderResponse:
    org_id = _innovator_org(uow)
    response = uow.session.scalar(for_update(select(TenderResponse).where(
        TenderResponse.id == response_id, TenderResponse.tender_id == tender_id),
        TenderResponse))
    if response is None or response.organisation_id != org_id:
        raise NotFound(f"No response has the id {response_id!r}.")
    return response


def withdraw(uow: UnitOfWork, tender_id: str, response_id: str) -> TenderResponse:
    """Withdraw one's response before the deadline (sending it again brings it back)."""
    tender = tenders.locked(uow, tender_id, shared=True)
    response = _own(uow, tender.id, response_id)
    now = uow.now()
    require_open_for("withdrawing responses", tender.status, tender.submission_closes_at,
                     now)
    if response.status != ResponseStatus.SUBMITTED:
        raise Conflict("The response is already withdrawn.",
                       current_status=response.status)
    before = _snapshot(response)
    response.status, response.withdrawn_at, response.updated_at = (
        ResponseStatus.WITHDRAWN, now, now)
    uow.session.flush()
    uow.audit("tender_response.withdrawn", "tender_response", response.id, before=before,
              after=_snapshot(response), subject_organisation_id=response.organisation_id)
    return response


# --- reading ----------------------------------------------------------------------------
def _readable(uow: UnitOfWork, tender: Tender) -> Select[tuple[TenderResponse]]:
    """The responses the caller may read: its organisation's own, and, for the buyer once
    the deadline has passed, every submitted one."""
    stmt = select(TenderResponse).where(TenderResponse.tender_id == tender.id)
    own = (TenderResponse.organisation_id == uow.actor.organisation_id
           if uow.actor.role == Role.INNOVATOR and uow.actor.organisation_id is not None
           else None)
    if tender.status in OPENED and tenders.is_buyer_of(uow, tender):
        opened = TenderResponse.status == ResponseStatus.SUBMITTED
        return stmt.where(opened if own is None else (opened | own))
    return stmt.where(own) if own is not None else stmt.where(TenderResponse.id.is_(None))


def list_query(uow: UnitOfWork, tender_id: str) -> MappedQuery:
    """The responses the caller may read, oldest first, each opened for the page."""
    tender = tenders.get_visible(uow, tender_id)
    stmt = _readable(uow, tender).order_by(TenderResponse.submitted_at, TenderResponse.id)
    return MappedQuery(stmt, lambda row: open_response(uow, row))


def get_opened(uow: UnitOfWork, tender_id: str, response_id: str) -> Opened:
    tender = tenders.get_visible(uow, tender_id)
    response = uow.session.scalar(_readable(uow, tender).where(
        TenderResponse.id == response_id))
    if response is None:
        raise NotFound(f"No response has the id {response_id!r}.")
    return open_response(uow, response)
