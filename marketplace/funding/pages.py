"""``/funding``: the funding pots (as ``GET /api/v1/funding``), filterable by funder type
and financial year; ``/funding/<pot>``: a pot with its allocations and their change
history, and a pharma joint-working pot's published agreement summary and transfer of
value (as ``GET /api/v1/funding/{id}``).

Each view parses the query with the API's schema, calls the funding service in a unit of
work acting as the signed-in person (or anonymously: pots are public) and renders what
the API's output schema dumps.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from marketplace.funding import service as funding
from marketplace.http.pagination import paginate
from marketplace.web.formatting import formatting, label, words
from marketplace.web.forms import load_filters
from marketplace.web.pages import page_number, render, unit_of_work
from schemas.api.funding import PHARMA, PotOut, PotQuery
from schemas.events.funding import FUNDER_TYPES

bp = Blueprint("funding_pages", __name__)

PER_PAGE = 20
FIELDS = ("funder_type", "financial_year")
FUNDER_WORDS = {"nhs_england": "NHS England", "sbri": "SBRI Healthcare",
                "icb": "Integrated care board", "charity": "Charity",
                "pharma_joint_working": "Pharma joint working", "other": "Other funder"}
CHANGE_WORDS = {"allocate": "Allocated", "increase": "Increased", "reduce": "Reduced",
                "reprofile": "Reprofiled", "withdraw": "Withdrawn"}
LABELS = {"funder_type": "Funder type", "financial_year": "Financial year",
          "_schema": "Filters"}




def _values() -> dict[str, str]:
    return {name: request.args.get(name, "").strip() for name in FIELDS}





def _context() -> dict[str, Any]:
    return {"label": label, "funder_words": words(FUNDER_WORDS),
            "change_words": words(CHANGE_WORDS), "pharma": PHARMA, **formatting()}


@bp.get("/funding")
def pots() -> tuple[str, int]:
    values = _values()
    query, errors = load_filters(PotQuery, values)
    found = None
    if not errors:
        with unit_of_work() as uow:
            found = paginate(uow.session, funding.list_query(uow, **query), PotOut(),
                             page_number(), PER_PAGE)
    return render("funding/index.html", "Funding", status=422 if errors else 200,
                  found=found, errors=errors, values=values, funder_types=FUNDER_TYPES,

                  field_label=lambda name: LABELS.get(name, label(name)), **_context())


@bp.get("/funding/<pot_id>")
def pot(pot_id: str) -> tuple[str, int]:
    with unit_of_work() as uow:
        shown = PotOut().dump(funding.get_pot(uow, pot_id))
    return render("funding/pot.html", shown["title"], pot=shown, **_context())
