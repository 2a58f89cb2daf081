"""``/tenders``: the published tenders (as ``GET /api/v1/tenders``), with their deadlines
in Europe/London, value and procedure; ``/tenders/<id>``: a tender's notice with its
criteria, deadlines, published clarifications and status (as ``GET /api/v1/tenders/{id}``).

Each view parses the query with the API's schema, calls the tenders service in a unit of
work acting as the signed-in person (or anonymously: drafts stay the buying ICB's, and a
draft or unknown tender is the 404 page) and renders what the API's output schema dumps.
Sealed responses are never read here.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from marketplace.http.pagination import paginate
from marketplace.tenders import service as tenders
from marketplace.web.formatting import formatting, label, words
from marketplace.web.forms import load_filters
from marketplace.web.pages import page_number, render, unit_of_work
from schemas.api.tenders import PROCEDURES, TENDER_STATUSES, TenderOut, TenderQuery
from schemas.statuses import TenderStatus

bp = Blueprint("tenders_pages", __name__)

PER_PAGE = 20
FIELDS = ("status", "procedure")
#: What the list shows when no status is asked for: tenders open for responses.
DEFAULT_STATUS = TenderStatus.PUBLISHED.value
STATUS_WORDS = {"draft": "Draft", "published": "Open for responses",
                "closed": "Closed for responses", "evaluated": "Evaluated",
                "awarded": "Awarded", "unsuccessful": "Unsuccessful",
                "cancelled": "Cancelled"}
PROCEDURE_WORDS = {"open": "Open procedure",
                   "framework_competition": "Further competition under a framework"}
KIND_WORDS = {"quality": "Quality", "social_value": "Social value", "price": "Price"}
LABELS = {"status": "Status", "procedure": "Procedure", "_schema": "Filters"}




def _values() -> dict[str, str]:
    """The filters as asked: no ``status`` at all means open tenders; an empty one, any."""
    values = {name: request.args.get(name, "").strip() for name in FIELDS}
    if "status" not in request.args:
        values["status"] = DEFAULT_STATUS
    return values





def _context() -> dict[str, Any]:
    return {"label": label, "status_words": words(STATUS_WORDS),
            "procedure_words": words(PROCEDURE_WORDS), "kind_words": words(KIND_WORDS),
            **formatting()}


@bp.get("/tenders")
def tender_list() -> tuple[str, int]:
    values = _values()
    query, errors = load_filters(TenderQuery, values)
    found = None
    if not errors:
        with unit_of_work() as uow:
            found = paginate(uow.session, tenders.list_query(uow, **query), TenderOut(),
                             page_number(), PER_PAGE)
    return render("tenders/index.html", "Tenders", status=422 if errors else 200,
                  found=found, errors=errors, values=values, statuses=TENDER_STATUSES,
                  procedures=PROCEDURES,
                  field_label=lambda name: LABELS.get(name, label(name)), **_context())


@bp.get("/tenders/<tender_id>")
def tender(tender_id: str) -> tuple[str, int]:
    with unit_of_work() as uow:
        shown = TenderOut().dump(tenders.get_visible(uow, tender_id))
    return render("tenders/tender.html", shown["title"], tender=shown, **_context())
