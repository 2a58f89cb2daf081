"""``/buy/signals``: an ICB buyer's demand signals (``GET /api/v1/demand-signals?icb=``),
posting one (``POST /api/v1/demand-signals``), a signal's page with its matches
(``GET /api/v1/demand-signals/{id}/matches``) and closing it with its outcome.

Each view parses the form with the API's schema, calls the demand service in a unit of
work acting as the signed-in buyer, and renders; the rules are the service's.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, abort, g, redirect, request
from werkzeug.datastructures import MultiDict

from marketplace.demand import matching
from marketplace.demand import service as signals
from marketplace.http.pagination import paginate
from marketplace.kernel.errors import InvalidInput
from marketplace.web.formatting import formatting, label
from marketplace.web.forms import body, domain_errors, load
from marketplace.web.pages import current_actor, render, unit_of_work
from schemas.api.demand import DemandSignalClose, DemandSignalCreate, DemandSignalOut, MatchOut
from schemas.events.common import ESF_TIERS, PATHWAY_STAGES
from schemas.events.demand import CLOSE_OUTCOMES

bp = Blueprint("signal_pages", __name__)

PER_PAGE = 100
#: Categories a buyer may tick (the catalogue's, as the demo and listings use them).
CATEGORIES = ("cancer.triage", "cancer.referral", "cancer.prevention", "cancer.diagnostics",
              "cancer.treatment", "cancer.patient_information", "cancer.research",
              "consent", "imaging", "translation")
LABELS = {"title": "Title", "need": "The need", "categories": "Categories",
          "pathway_stages": "Pathway stages", "min_esf_tier": "Minimum NICE ESF tier",
          "requires_central_approval": "Central approval required",
          "population_covered": "Population covered",
          "indicative_budget_pounds": "Indicative budget", "needed_by": "Needed by",
          "outcome": "Outcome", "tender_id": "Tender id"}



def options(values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(value, label(value)) for value in values]


def buyer_only() -> Response | None:
    """Anonymous: to the sign-in page and back; another role: the 403 page."""
    if g.get("person") is None:
        return redirect(f"/sign-in?next={quote(request.full_path.rstrip('?'))}", 303)
    if str(current_actor().role) != "icb_buyer":
        abort(403)
    return None


def renamed(errors: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """Errors keyed by the API's field names, keyed by the form's (pence -> pounds)."""
    return {names.get(key, key): value for key, value in errors.items()}


def context() -> dict[str, Any]:
    return {"label": label, "labels": LABELS, **formatting()}


@bp.get("/buy/signals")
def signal_list() -> Any:
    if (refused := buyer_only()) is not None:
        return refused
    with unit_of_work() as uow:
        code = current_actor().organisation_code
        found = paginate(uow.session, signals.list_query(uow, icb=code), DemandSignalOut(),
                         1, PER_PAGE)
    return render("buyer/signals.html", "Demand signals", found=found, icb=code, **context())


SIGNAL_FORM = {"lists": ("categories", "pathway_stages"),
               "integers": ("population_covered",),
               "pounds": {"indicative_budget_pounds": "indicative_budget_pence"},
               "flags": ("requires_central_approval",)}


def _signal_form(values: MultiDict[str, str], errors: dict[str, Any], status: int = 200
                 ) -> tuple[str, int]:
    return render("buyer/signal_new.html", "Post a demand signal", status=status,
                  values=values, errors=errors, categories=options(CATEGORIES),
                  stages=options(PATHWAY_STAGES), tiers=[(t, t) for t in ESF_TIERS],
                  **context())


@bp.get("/buy/signals/new")
def new_signal() -> Any:
    if (refused := buyer_only()) is not None:
        return refused
    return _signal_form(MultiDict({"requires_central_approval": "on"}), {})


@bp.post("/buy/signals/new")
def post_signal() -> Any:
    if (refused := buyer_only()) is not None:
        return refused
    data, errors = load(DemandSignalCreate, body(request.form, **SIGNAL_FORM))
    if not errors:
        try:
            with unit_of_work() as uow:
                signal = signals.post(uow, **data)
                signal_id = signal.id
                uow.commit()
            return redirect(f"/buy/signals/{signal_id}", 303)
        except InvalidInput as exc:
            errors = domain_errors(exc)
    errors = renamed(errors, {"indicative_budget_pence": "indicative_budget_pounds"})
    return _signal_form(request.form, errors, 422)


def _signal_page(signal_id: str, values: MultiDict[str, str] | dict[str, str],
                 errors: dict[str, Any], status: int = 200) -> tuple[str, int]:
    with unit_of_work() as uow:
        signal = DemandSignalOut().dump(signals.get(uow, signal_id))
        items, _ = matching.matches(uow, signal_id).page(1, PER_PAGE)
        found = MatchOut(many=True).dump(items)
    return render("buyer/signal.html", signal["title"], status=status, signal=signal,
                  matches=found, values=values, errors=errors,
                  outcomes=options(CLOSE_OUTCOMES), **context())


@bp.get("/buy/signals/<signal_id>")
def signal_page(signal_id: str) -> Any:
    if (refused := buyer_only()) is not None:
        return refused
    return _signal_page(signal_id, {}, {})


@bp.post("/buy/signals/<signal_id>/close")
def close_signal(signal_id: str) -> Any:
    if (refused := buyer_only()) is not None:
        return refused
    data, errors = load(DemandSignalClose, body(request.form))
    if not errors:
        try:
            with unit_of_work() as uow:
                signals.close(uow, signal_id, **data)
                uow.commit()
            return redirect(f"/buy/signals/{signal_id}", 303)
        except InvalidInput as exc:
            errors = domain_errors(exc)
    return _signal_page(signal_id, request.form, errors, 422)
