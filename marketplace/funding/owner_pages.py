"""A funder's own pages: ``/fund`` (its pots, as ``GET /api/v1/funding?owner=<its code>``),
``/fund/new`` (create a pot, as ``POST /api/v1/funding``), ``/fund/<pot>`` (allocate from
it, and every allocation's revision chain) and ``/fund/<pot>/allocations/<allocation>``
(change an allocation: a new revision, as ``POST .../changes``).

Each view loads its form with the API's schema (amounts typed in pounds, sent in pence),
calls the one funding service function the API endpoint calls, acting as the signed-in
funder, and redirects (303) to the page showing the result. The service decides who owns
what; over-allocation (the service's ``Conflict``, 409) and a stale allocation version
(``PreconditionFailed``, 412) are shown in the form's error summary, with what was typed.
The public ``/funding`` pages are :mod:`marketplace.funding.pages`.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, request
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from marketplace.funding import service as funding
from marketplace.http.pagination import paginate
from marketplace.kernel.errors import Conflict, InvalidInput, PreconditionFailed
from marketplace.web.formatting import formatting, label, words
from marketplace.web.forms import body, domain_errors, load
from marketplace.web.pages import current_actor, render, unit_of_work
from schemas.api.funding import (
    CHANGE_KINDS,
    PHARMA,
    AllocationCreate,
    AllocationOut,
    ChangeCreate,
    PotCreate,
    PotOut,
)
from schemas.events.funding import CHANGE_REASONS, FUNDER_TYPES

bp = Blueprint("funder_pages", __name__)

PER_PAGE = 50
FUNDER_WORDS = {"nhs_england": "NHS England", "sbri": "SBRI Healthcare",
                "icb": "Integrated care board", "charity": "Charity",
                "pharma_joint_working": "Pharma joint working", "other": "Other funder"}
CHANGE_WORDS = {"allocate": "Allocated", "increase": "Increased", "reduce": "Reduced",
                "reprofile": "Reprofiled", "withdraw": "Withdrawn"}
#: Form fields in pounds -> the API's fields in pence.
POT_POUNDS = {"amount_pounds": "amount_pence",
              "transfer_of_value_pounds": "transfer_of_value_pence"}
AMOUNT_POUNDS = {"amount_pounds": "amount_pence"}
POT_LABELS = {"title": "Title", "funder_type": "Funder type", "amount_pounds": "Amount",
              "financial_year": "Financial year", "period_start": "Period start",
              "period_end": "Period end", "recurrent": "Recurrent",
              "conditions": "Conditions", "agreement_summary": "Agreement summary",
              "transfer_of_value_pounds": "Transfer of value", "_schema": "Pot"}
ALLOCATION_LABELS = {"recipient_ods": "Recipient ODS code", "amount_pounds": "Amount",
                     "purpose": "Purpose", "innovation_id": "Innovation id",
                     "contract_id": "Contract id", "signal_id": "Demand signal id"}
CHANGE_LABELS = {"kind": "Kind of change", "amount_pounds": "New amount",
                 "period_end": "New period end", "reason_code": "Reason code",
                 "reason": "Reason", "version": "Version"}




def _context() -> dict[str, Any]:
    return {"label": label, "funder_words": words(FUNDER_WORDS),
            "change_words": words(CHANGE_WORDS), "pharma": PHARMA, **formatting()}


def _funder_only() -> Response | None:
    """Anonymous: to the sign-in page; any role but a funder's: 403."""
    actor = current_actor()
    if actor.is_anonymous:
        return redirect(f"/sign-in?next={request.path}", 303)
    if actor.role != "funder":
        abort(403)
    return None


def _in_pounds(errors: dict[str, Any], pounds: dict[str, str]) -> dict[str, Any]:
    """The API's errors on pence fields, on the form's pounds fields."""
    names = {pence: field for field, pence in pounds.items()}
    return {names.get(field, field): messages for field, messages in errors.items()}


# --- pots ---------------------------------------------------------------------------------
@bp.get("/fund")
def pots() -> Any:
    if (refused := _funder_only()) is not None:
        return refused
    owner = current_actor().organisation_code
    with unit_of_work() as uow:
        found = paginate(uow.session, funding.list_query(uow, owner=owner), PotOut(), 1,
                         PER_PAGE)
    return render("funder/pots.html", "Funding pots", found=found, **_context())


def _new_form(values: MultiDict[str, str], errors: dict[str, Any], status: int) -> Any:
    return render("funder/new_pot.html", "Create a pot", status=status, values=values,
                  errors=errors, labels=POT_LABELS,
                  funder_types=[(f, FUNDER_WORDS.get(f, label(f))) for f in FUNDER_TYPES
                                if f != "icb"], **_context())


@bp.get("/fund/new")
def new_pot() -> Any:
    if (refused := _funder_only()) is not None:
        return refused
    return _new_form(MultiDict(), {}, 200)


@bp.post("/fund/new")
def create_pot() -> Any:
    if (refused := _funder_only()) is not None:
        return refused
    data = body(request.form, pounds=POT_POUNDS, flags=("recurrent",))
    pot, errors = load(PotCreate, data)
    if not errors:
        try:
            with unit_of_work() as uow:
                created = funding.create_pot(uow, **pot)
                pot_id = created.id
                uow.commit()
            return redirect(f"/fund/{pot_id}", 303)
        except InvalidInput as exc:
            errors = domain_errors(exc)
    return _new_form(request.form, _in_pounds(errors, POT_POUNDS), 422)


def _own_pot(uow: Any, pot_id: str) -> Any:
    """The pot, if the signed-in funder's organisation owns it (403 otherwise: the public
    page is ``/funding/<pot>``)."""
    pot = funding.get_pot(uow, pot_id)
    if pot.owner_organisation_id != current_actor().organisation_id:
        abort(403)
    return pot


def _pot_page(pot_id: str, values: MultiDict[str, str] | None = None,
              errors: dict[str, Any] | None = None, status: int = 200) -> Any:
    with unit_of_work() as uow:
        shown = PotOut().dump(_own_pot(uow, pot_id))
    return render("funder/pot.html", shown["title"], status=status, pot=shown,
                  values=values if values is not None else MultiDict(), errors=errors or {},
                  labels=ALLOCATION_LABELS, **_context())


@bp.get("/fund/<pot_id>")
def pot_page(pot_id: str) -> Any:
    if (refused := _funder_only()) is not None:
        return refused
    return _pot_page(pot_id)


@bp.post("/fund/<pot_id>/allocations")
def allocate(pot_id: str) -> Any:
    if (refused := _funder_only()) is not None:
        return refused
    allocation, errors = load(AllocationCreate, body(request.form, pounds=AMOUNT_POUNDS))
    status = 422
    if not errors:
        try:
            with unit_of_work() as uow:
                funding.allocate(uow, pot_id, **allocation)
                uow.commit()
            return redirect(f"/fund/{pot_id}", 303)
        except InvalidInput as exc:
            errors = domain_errors(exc)
        except Conflict as exc:  # not enough left in the pot: the detail says how much
            errors, status = {"amount_pence": [exc.detail]}, 409
    return _pot_page(pot_id, request.form, _in_pounds(errors, AMOUNT_POUNDS), status)


# --- an allocation and its changes ----------------------------------------------------------
def _allocation_page(pot_id: str, allocation_id: str, values: MultiDict[str, str] | None = None,
                     errors: dict[str, Any] | None = None, status: int = 200) -> Any:
    with unit_of_work() as uow:
        pot = PotOut(only=("id", "title", "remaining_pence", "owner")).dump(
            _own_pot(uow, pot_id))
        shown = AllocationOut().dump(funding.get_allocation(uow, pot_id, allocation_id))
    return render("funder/allocation.html", f"Allocation to {shown['recipient']['name']}",
                  status=status, pot=pot, allocation=shown,
                  values=values if values is not None else MultiDict(), errors=errors or {},
                  labels=CHANGE_LABELS, kinds=[(k, label(k)) for k in CHANGE_KINDS],
                  reasons=[(r, label(r)) for r in CHANGE_REASONS], **_context())


@bp.get("/fund/<pot_id>/allocations/<allocation_id>")
def allocation_page(pot_id: str, allocation_id: str) -> Any:
    if (refused := _funder_only()) is not None:
        return refused
    return _allocation_page(pot_id, allocation_id)


@bp.post("/fund/<pot_id>/allocations/<allocation_id>/changes")
def change(pot_id: str, allocation_id: str) -> Any:
    """A change names the version it was made on (the page's hidden field, as the API's
    ``If-Match``): a change made meanwhile is a 412, shown with the allocation re-read."""
    if (refused := _funder_only()) is not None:
        return refused
    version = request.form.get("version", "")
    data = body(request.form, pounds=AMOUNT_POUNDS)
    data.pop("version", None)
    loaded, errors = load(ChangeCreate, data)
    status = 422
    if not version.isdigit():
        errors = {**errors, "_schema": ["The page did not say which version of the "
                                        "allocation you changed; reload it and try again."]}
    if not errors:
        try:
            with unit_of_work() as uow:
                funding.change(uow, pot_id, allocation_id, expected_version=int(version),
                               **loaded)
                uow.commit()
            return redirect(f"/fund/{pot_id}/allocations/{allocation_id}", 303)
        except InvalidInput as exc:
            errors = domain_errors(exc)
        except Conflict as exc:  # over-allocation, below what is drawn, or withdrawn
            on_amount = {"remaining_pence", "drawn_pence"} & set(exc.extra)
            errors, status = {"amount_pence" if on_amount else "_schema": [exc.detail]}, 409
        except PreconditionFailed as exc:
            errors, status = {"_schema": [f"{exc.detail} The page now shows the "
                                          "allocation as it is."]}, 412
    return _allocation_page(pot_id, allocation_id, request.form,
                            _in_pounds(errors, AMOUNT_POUNDS), status)
