"""An innovator's side of tenders, under ``/my/tenders``: the published tenders, a tender
with its own responses, a clarification question, a sealed response (a listing, a price
in pounds and an answer per non-price criterion), withdrawing it, and the assessment
summary after the award.

Each view loads its form with the API's schema and calls the service the API endpoint
calls (``clarifications.ask``, ``responses.submit``/``withdraw``/``list_query``,
``evaluation.outcome``); eligibility, deadlines and sealing are the services' rules.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, request
from werkzeug.datastructures import MultiDict

from marketplace.catalogue import search as catalogue_search
from marketplace.catalogue.listing_pages import innovator_only, page
from marketplace.http.pagination import paginate
from marketplace.kernel.errors import InvalidInput
from marketplace.tenders import clarifications, evaluation, responses
from marketplace.tenders import service as tenders
from marketplace.web.forms import Errors, body, domain_errors, load
from marketplace.web.pages import unit_of_work
from schemas.api.innovations import InnovationOut
from schemas.api.tenders import (
    OutcomeOut,
    QuestionIn,
    ResponseCreate,
    ResponseOut,
    TenderOut,
)

bp = Blueprint("response_pages", __name__)

PER_PAGE = 50
RESPONSE_LABELS = {"innovation_id": "Listing", "price_pence": "Total price",
                   "price_pounds": "Total price", "answers": "Answers",
                   "unit_prices": "Unit prices", "question": "Your question"}


@bp.get("/my/tenders")
def my_tenders() -> Any:
    if (away := innovator_only()) is not None:
        return away
    with unit_of_work() as uow:
        found = paginate(uow.session, tenders.list_query(uow), TenderOut(), 1, PER_PAGE)
    shown = [t for t in found["items"] if t["status"] != "draft"]
    return page("innovator/tenders.html", "Tenders for your listings", tenders=shown)


def _tender_page(tender_id: str, values: Any, errors: Errors,
                 status: int = 200) -> tuple[str, int]:
    with unit_of_work() as uow:
        tender = TenderOut().dump(tenders.get_visible(uow, tender_id))
        own = paginate(uow.session, responses.list_query(uow, tender_id), ResponseOut(), 1,
                       PER_PAGE)["items"]
        names = _listing_names(uow)
    return page("innovator/tender.html", tender["title"], status=status, tender=tender,
                responses=own, names=names, values=values, errors=errors,
                labels=RESPONSE_LABELS)


def _listing_names(uow: Any) -> dict[str, str]:
    listings = uow.session.scalars(catalogue_search.search(uow, mine=True)).all()
    return {listing.id: listing.name for listing in listings}


@bp.get("/my/tenders/<tender_id>")
def tender(tender_id: str) -> Any:
    if (away := innovator_only()) is not None:
        return away
    return _tender_page(tender_id, MultiDict(), {})


@bp.post("/my/tenders/<tender_id>/questions")
def ask(tender_id: str) -> Any:
    if (away := innovator_only()) is not None:
        return away
    loaded, errors = load(QuestionIn, body(request.form))
    if errors:
        return _tender_page(tender_id, request.form, errors, 422)
    try:
        with unit_of_work() as uow:
            clarifications.ask(uow, tender_id, **loaded)
            uow.commit()
    except InvalidInput as exc:
        return _tender_page(tender_id, request.form, domain_errors(exc), 422)
    return redirect(f"/my/tenders/{tender_id}?asked=1", 303)


# --- responding -----------------------------------------------------------------------
def _response_body(form: MultiDict[str, str], tender: dict[str, Any]) -> dict[str, Any]:
    data = body(form, pounds={"price_pounds": "price_pence"})
    out: dict[str, Any] = {k: data[k] for k in ("innovation_id", "price_pence") if k in data}
    out["answers"] = [{"criterion_id": c["criterion_id"],
                       "text": form.get(f"answer_{c['criterion_id']}", "").strip()}
                      for c in tender["criteria"] if c["kind"] != "price"]
    if len(tender["lines"]) > 1:
        names = [f"unit_{line['item_id']}" for line in tender["lines"]]
        prices = body(form, pounds={name: name for name in names})
        out["unit_prices"] = [{"item_id": line["item_id"],
                               "unit_price_pence": prices.get(f"unit_{line['item_id']}")}
                              for line in tender["lines"]]
    return out


def _flat(errors: Errors, tender: dict[str, Any]) -> Errors:
    """Errors of nested answers and unit prices, by the form's own fields."""
    out: Errors = {}
    criteria = [c for c in tender["criteria"] if c["kind"] != "price"]
    for key, messages in errors.items():
        if key == "price_pence":
            out["price_pounds"] = messages
        elif key in ("answers", "unit_prices") and isinstance(messages, dict):
            items = criteria if key == "answers" else tender["lines"]
            for index, nested in messages.items():
                if str(index).isdigit() and int(index) < len(items):
                    item = items[int(index)]
                    name = (f"answer_{item['criterion_id']}" if key == "answers"
                            else f"unit_{item['item_id']}")
                    out[name] = [m for ms in nested.values() for m in ms] \
                        if isinstance(nested, dict) else nested
                else:
                    out[key] = nested
        else:
            out[key] = messages
    return out


def _respond_form(tender_id: str, values: Any, errors: Errors,
                  status: int = 200) -> tuple[str, int]:
    with unit_of_work() as uow:
        tender = TenderOut().dump(tenders.get_visible(uow, tender_id))
        listings = [(item["id"], item["name"]) for item in InnovationOut(many=True).dump(
            uow.session.scalars(catalogue_search.search(uow, mine=True)).all())
            if item["status"] == "published"]
    labels = {**RESPONSE_LABELS,
              **{f"answer_{c['criterion_id']}": c["title"] for c in tender["criteria"]},
              **{f"unit_{line['item_id']}": f"Unit price: {line['description']}"
                 for line in tender["lines"]}}
    return page("innovator/respond.html", f"Respond to {tender['title']}", status=status,
                tender=tender, listings=listings, values=values, errors=errors,
                labels=labels)


@bp.get("/my/tenders/<tender_id>/respond")
def respond_form(tender_id: str) -> Any:
    if (away := innovator_only()) is not None:
        return away
    return _respond_form(tender_id, MultiDict(), {})


@bp.post("/my/tenders/<tender_id>/respond")
def respond(tender_id: str) -> Any:
    if (away := innovator_only()) is not None:
        return away
    with unit_of_work() as uow:
        tender = TenderOut().dump(tenders.get_visible(uow, tender_id))
    loaded, errors = load(ResponseCreate, _response_body(request.form, tender))
    if errors:
        return _respond_form(tender_id, request.form, _flat(errors, tender), 422)
    try:
        with unit_of_work() as uow:
            responses.submit(uow, tender_id, **loaded)
            uow.commit()
    except InvalidInput as exc:
        return _respond_form(tender_id, request.form, _flat(domain_errors(exc), tender), 422)
    return redirect(f"/my/tenders/{tender_id}", 303)


@bp.post("/my/tenders/<tender_id>/responses/<response_id>/withdraw")
def withdraw(tender_id: str, response_id: str) -> Any:
    if (away := innovator_only()) is not None:
        return away
    with unit_of_work() as uow:
        responses.withdraw(uow, tender_id, response_id)
        uow.commit()
    return redirect(f"/my/tenders/{tender_id}", 303)


@bp.get("/my/tenders/<tender_id>/outcome")
def outcome(tender_id: str) -> Any:
    if (away := innovator_only()) is not None:
        return away
    with unit_of_work() as uow:
        tender = TenderOut().dump(tenders.get_visible(uow, tender_id))
        summary = OutcomeOut().dump(evaluation.outcome(uow, tender_id))
        names = _listing_names(uow)
    won = any(entry["response_id"] == summary["winner"]["response_id"]
              for entry in summary["own"])
    return page("innovator/outcome.html", f"Outcome of {tender['title']}", tender=tender,
                outcome=summary, won=won, names=names)
