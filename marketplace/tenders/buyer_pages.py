"""``/buy/tenders``: an ICB buyer's tenders: drafting one (``POST /api/v1/tenders``), the
management page (publish, cancel, answer questions), and after the submission deadline
the opened responses, their scoring, the ranking and the award.

Each form is loaded with the API's schema and handed to the service the API calls; the
rules (deadlines, sealing, who may act) are the services'.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, redirect, request
from werkzeug.datastructures import MultiDict

from marketplace.approvals.rules import LONDON
from marketplace.demand.signal_pages import CATEGORIES, buyer_only, options, renamed
from marketplace.http.pagination import paginate
from marketplace.kernel.errors import Conflict, InvalidInput
from marketplace.tenders import clarifications, evaluation, responses
from marketplace.tenders import service as tenders
from marketplace.web.formatting import formatting
from marketplace.web.forms import body, domain_errors, load
from marketplace.web.pages import render, unit_of_work
from schemas.api.tenders import (
    AnswerIn,
    AwardIn,
    CancelIn,
    EvaluationIn,
    EvaluationOut,
    QuestionOut,
    ResponseOut,
    TenderCreate,
    TenderOut,
)
from schemas.events.common import ESF_TIERS, PATHWAY_STAGES
from schemas.events.tenders import CANCEL_REASONS

bp = Blueprint("buyer_tender_pages", __name__)

PER_PAGE = 100
#: The criteria rows the form offers: (kind, default title, default weight).
CRITERIA_ROWS = (("quality", "Clinical quality and safety", "50"),
                 ("quality", "Implementation and integration", "20"),
                 ("social_value", "Social value", "10"),
                 ("price", "Price", "20"))
DEADLINES = ("clarification_deadline", "submission_deadline")
LABELS = {"title": "Title", "description": "Description", "categories": "Categories",
          "pathway_stages": "Pathway stages", "estimated_value_pounds": "Estimated value",
          "contract_term_months": "Contract term", "min_esf_tier": "Minimum NICE ESF tier",
          "clarification_deadline": "Clarification deadline",
          "submission_deadline": "Submission deadline", "criteria": "Award criteria",
          "reason_code": "Reason", "reason": "Reason in words", "answer": "Answer",
          "scores": "Scores", "response_id": "Response"}


def _context() -> dict[str, Any]:
    return {"labels": LABELS, **formatting()}



def _aware(value: str) -> str:
    """``2026-12-01T12:00`` (a datetime-local field) as an instant in Europe/London;
    anything else is left for the schema to refuse."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LONDON)
    return moment.isoformat()


def _tender_body(form: MultiDict[str, str]) -> dict[str, Any]:
    data = body(form, lists=("categories", "pathway_stages"),
                integers=("contract_term_months",),
                pounds={"estimated_value_pounds": "estimated_value_pence"})
    for name in DEADLINES:
        if name in data:
            data[name] = _aware(data[name])
    criteria = []
    for n, (kind, _, _) in enumerate(CRITERIA_ROWS):
        data.pop(f"criteria-{n}-title", None)
        data.pop(f"criteria-{n}-weight", None)
        title = form.get(f"criteria-{n}-title", "").strip()
        weight = form.get(f"criteria-{n}-weight", "").strip()
        if not title and not weight and kind != "price":
            continue  # a row left empty: fewer criteria
        criteria.append({"title": title, "kind": kind,
                         "weight_percent": int(weight) if weight.isdigit() else weight})
    data["criteria"] = criteria
    data["procedure"] = "open"
    return data


def _new_form(values: MultiDict[str, str], errors: dict[str, Any], status: int = 200
              ) -> tuple[str, int]:
    return render("buyer/tender_new.html", "Create a tender", status=status, values=values,
                  errors=errors, categories=options(CATEGORIES),
                  stages=options(PATHWAY_STAGES), tiers=[(t, t) for t in ESF_TIERS],
                  rows=list(enumerate(CRITERIA_ROWS)), **_context())


@bp.get("/buy/tenders")
def tender_list() -> Any:
    if (refused := buyer_only()) is not None:
        return refused
    with unit_of_work() as uow:
        found = [TenderOut().dump(t) for t in uow.session.scalars(tenders.list_query(uow))
                 .unique() if tenders.is_buyer_of(uow, t)]
    return render("buyer/tenders.html", "Your tenders", found=found, **_context())


@bp.get("/buy/tenders/new")
def new_tender() -> Any:
    if (refused := buyer_only()) is not None:
        return refused
    defaults = MultiDict({"contract_term_months": "24"})
    for n, (_, title, weight) in enumerate(CRITERIA_ROWS):
        defaults[f"criteria-{n}-title"], defaults[f"criteria-{n}-weight"] = title, weight
    return _new_form(defaults, {})


@bp.post("/buy/tenders/new")
def create_tender() -> Any:
    if (refused := buyer_only()) is not None:
        return refused
    data, errors = load(TenderCreate, _tender_body(request.form))
    if not errors:
        try:
            with unit_of_work() as uow:
                tender_id = tenders.create(uow, **data).id
                uow.commit()
            return redirect(f"/buy/tenders/{tender_id}", 303)
        except InvalidInput as exc:
            errors = domain_errors(exc)
    return _new_form(request.form, renamed(errors, {
        "estimated_value_pence": "estimated_value_pounds"}), 422)


def _tender_page(tender_id: str, errors: dict[str, Any] | None = None,
                 values: MultiDict[str, str] | None = None, status: int = 200,
                 notice: str | None = None) -> tuple[str, int]:
    with unit_of_work() as uow:
        tender = TenderOut().dump(tenders.get_visible(uow, tender_id))
        questions = paginate(uow.session, clarifications.list_query(uow, tender_id),
                             QuestionOut(), 1, PER_PAGE)["items"]
        opened = tender["closed_at"] is not None and tenders.is_buyer_of(
            uow, tenders.get_visible(uow, tender_id))
        received = paginate(uow.session, responses.list_query(uow, tender_id),
                            ResponseOut(), 1, PER_PAGE)["items"] if opened else []
        ranking = EvaluationOut().dump(evaluation.evaluation(uow, tender_id)) \
            if opened else None
    return render("buyer/tender.html", tender["title"], status=status, tender=tender,
                  questions=questions, responses=received, ranking=ranking,
                  errors=errors or {}, values=values or {}, notice=notice,
                  reasons=options(CANCEL_REASONS), **_context())


@bp.get("/buy/tenders/<tender_id>")
def tender_page(tender_id: str) -> Any:
    if (refused := buyer_only()) is not None:
        return refused
    return _tender_page(tender_id)


@bp.post("/buy/tenders/<tender_id>/publish")
def publish(tender_id: str) -> Any:
    if (refused := buyer_only()) is not None:
        return refused
    try:
        with unit_of_work() as uow:
            tenders.publish(uow, tender_id)
            uow.commit()
    except Conflict as exc:
        return _tender_page(tender_id, status=409, notice=exc.detail)
    return redirect(f"/buy/tenders/{tender_id}", 303)


@bp.post("/buy/tenders/<tender_id>/cancel")
def cancel(tender_id: str) -> Any:
    if (refused := buyer_only()) is not None:
        return refused
    data, errors = load(CancelIn, body(request.form))
    if not errors:
        try:
            with unit_of_work() as uow:
                tenders.cancel(uow, tender_id, **data)
                uow.commit()
            return redirect(f"/buy/tenders/{tender_id}", 303)
        except InvalidInput as exc:
            errors = domain_errors(exc)
    return _tender_page(tender_id, errors, request.form, 422)


@bp.post("/buy/tenders/<tender_id>/questions/<question_id>/answer")
def answer(tender_id: str, question_id: str) -> Any:
    if (refused := buyer_only()) is not None:
        return refused
    data, errors = load(AnswerIn, body(request.form))
    if not errors:
        try:
            with unit_of_work() as uow:
                clarifications.answer(uow, tender_id, question_id, **data)
                uow.commit()
            return redirect(f"/buy/tenders/{tender_id}", 303)
        except InvalidInput as exc:
            errors = domain_errors(exc)
    # Each question's form has its own field; the error goes with that question's.
    return _tender_page(tender_id, {f"answer-{question_id}": errors.get("answer", errors)},
                        MultiDict({f"answer-{question_id}": request.form.get("answer", "")}),
                        422)


def _response_page(tender_id: str, response_id: str, errors: dict[str, Any] | None = None,
                   values: MultiDict[str, str] | None = None, status: int = 200
                   ) -> tuple[str, int]:
    with unit_of_work() as uow:
        tender = TenderOut().dump(tenders.get_visible(uow, tender_id))
        shown = ResponseOut().dump(responses.get_opened(uow, tender_id, response_id))
        ranking = EvaluationOut().dump(evaluation.evaluation(uow, tender_id))
    entry = next((r for r in ranking["ranking"] if r["response_id"] == response_id), None)
    if values is None:  # the scores given so far, to revise
        values = MultiDict()
        for score in (entry or {}).get("scores", []):
            if score["kind"] != "price" and score["score"] is not None:
                values[f"score-{score['criterion_id']}"] = str(score["score"])
                values[f"rationale-{score['criterion_id']}"] = score["rationale"] or ""
    criteria = [c for c in tender["criteria"] if c["kind"] != "price"]
    answers = {a["criterion_id"]: a["text"] for a in shown["answers"]}
    context = _context()
    context["labels"] = {**LABELS, **{f"{kind}-{c['criterion_id']}": f"{word} for {c['title']}"
                                      for c in criteria
                                      for kind, word in (("score", "Score"),
                                                         ("rationale", "Rationale"))}}
    return render("buyer/response.html", f"Response from {shown['supplier']}",
                  status=status, tender=tender, response=shown, criteria=criteria,
                  answers=answers, errors=errors or {}, values=values, **context)


@bp.get("/buy/tenders/<tender_id>/responses/<response_id>")
def response_page(tender_id: str, response_id: str) -> Any:
    if (refused := buyer_only()) is not None:
        return refused
    return _response_page(tender_id, response_id)


@bp.post("/buy/tenders/<tender_id>/responses/<response_id>/score")
def score(tender_id: str, response_id: str) -> Any:
    if (refused := buyer_only()) is not None:
        return refused
    with unit_of_work() as uow:
        criteria = [c.id for c in tenders.get_visible(uow, tender_id).criteria
                    if c.kind != "price"]
    scores, errors = [], {}
    for criterion_id in criteria:
        given = request.form.get(f"score-{criterion_id}", "").strip()
        scores.append({"criterion_id": criterion_id,
                       "score": int(given) if given.isdigit() else given,
                       "rationale": request.form.get(f"rationale-{criterion_id}", "")})
    data, schema_errors = load(EvaluationIn, {"response_id": response_id, "scores": scores})
    errors = _score_errors(schema_errors, criteria)
    if not errors:
        try:
            with unit_of_work() as uow:
                evaluation.score(uow, tender_id, **data)
                uow.commit()
            return redirect(f"/buy/tenders/{tender_id}", 303)
        except InvalidInput as exc:
            errors = _score_errors(domain_errors(exc), criteria)
    return _response_page(tender_id, response_id, errors, request.form, 422)


def _score_errors(errors: dict[str, Any], criteria: list[str]) -> dict[str, Any]:
    """``scores.<n>.score`` errors on the criterion's own field (``score-<id>``)."""
    out: dict[str, Any] = {}
    for key, value in errors.items():
        if key == "scores" and isinstance(value, dict):
            for n, fields in value.items():
                for field, messages in (fields.items() if isinstance(fields, dict) else ()):
                    out[f"{field}-{criteria[int(n)]}"] = messages
        else:
            out[key] = value
    return out


@bp.post("/buy/tenders/<tender_id>/award")
def award(tender_id: str) -> Any:
    if (refused := buyer_only()) is not None:
        return refused
    data, errors = load(AwardIn, body(request.form))
    if errors:
        return _tender_page(tender_id, errors, status=422)
    try:
        with unit_of_work() as uow:
            evaluation.award(uow, tender_id, **data)
            uow.commit()
    except Conflict as exc:
        return _tender_page(tender_id, status=409, notice=exc.detail)
    return redirect(f"/buy/tenders/{tender_id}", 303)
