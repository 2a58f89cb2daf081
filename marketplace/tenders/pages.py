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
from urllib.parse import urlencode

from flask import Blueprint, request
from marshmallow import ValidationError

from marketplace.http.pagination import paginate
from marketplace.http.problems import field_messages
from marketplace.tenders import service as tenders
from marketplace.web.formatting import formatting, label
from marketplace.web.pages import render, unit_of_work
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



def _words(table: dict[str, str]) -> Any:
    return lambda value: table.get(value, label(value or ""))


def _values() -> dict[str, str]:
    """The filters as asked: no ``status`` at all means open tenders; an empty one, any."""
    values = {name: request.args.get(name, "").strip() for name in FIELDS}
    if "status" not in request.args:
        values["status"] = DEFAULT_STATUS
    return values


def _query(values: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        return TenderQuery().load({k: v for k, v in values.items() if v}), {}
    except ValidationError as exc:
        return {}, field_messages(exc)


def _page_number() -> int:
    value = request.args.get("page", "1")
    return int(value) if value.isdigit() and 0 < int(value) < 10_000 else 1


def _page_query(page: int) -> str:
    return urlencode({**{k: v for k, v in request.args.items() if k != "page"},
                      "page": page})


def _context() -> dict[str, Any]:
    return {"label": label, "status_words": _words(STATUS_WORDS),
            "procedure_words": _words(PROCEDURE_WORDS), "kind_words": _words(KIND_WORDS),
            **formatting()}


@bp.get("/tenders")
def tender_list() -> tuple[str, int]:
    values = _values()
    query, errors = _query(values)
    found = None
    if not errors:
        with unit_of_work() as uow:
            found = paginate(uow.session, tenders.list_query(uow, **query), TenderOut(),
                             _page_number(), PER_PAGE)
    return render("tenders/index.html", "Tenders", status=422 if errors else 200,
                  found=found, errors=errors, values=values, statuses=TENDER_STATUSES,
                  procedures=PROCEDURES, page_query=_page_query,
                  field_label=lambda name: LABELS.get(name, label(name)), **_context())


@bp.get("/tenders/<tender_id>")
def tender(tender_id: str) -> tuple[str, int]:
    with unit_of_work() as uow:
        shown = TenderOut().dump(tenders.get_visible(uow, tender_id))
    return render("tenders/tender.html", shown["title"], tender=shown, **_context())
