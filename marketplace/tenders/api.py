"""``/api/v1/tenders``: tenders, clarifications, sealed responses, evaluation and award.

An ICB's buyers draft, publish, answer, score, award and cancel their own ICB's tenders;
innovators ask questions and respond; published tenders and answered questions are
public. A response is readable only by its responder until the submission deadline (404
to anyone else), then by the buyer too.
"""
from __future__ import annotations

from typing import Any

from flask import url_for

from marketplace.http.endpoint import PUBLIC, ApiBlueprint, Call, Created
from marketplace.tenders import clarifications, evaluation, responses
from marketplace.tenders import service as tenders
from schemas.api.tenders import (
    AnswerIn,
    AwardIn,
    CancelIn,
    EvaluationIn,
    EvaluationOut,
    OutcomeOut,
    QuestionIn,
    QuestionOut,
    ResponseCreate,
    ResponseOut,
    ResponseReceipt,
    TenderCreate,
    TenderOut,
    TenderQuery,
)
from schemas.statuses import Role, words

bp = ApiBlueprint("tenders", __name__)

BUYER = (Role.ICB_BUYER.value,)
INNOVATOR = (Role.INNOVATOR.value,)
#: Any caller with a token: what each may read is decided by the service.
SIGNED_IN = words(Role)
CREATES = {"status": 201, "idempotent": True, "etag": True}
ACTS = {"etag": True, "idempotent": True, "errors": (403, 404, 409)}


@bp.endpoint("GET", "/tenders", roles=PUBLIC, query=TenderQuery, response=TenderOut,
             paginated=True, summary="Tenders (drafts: the buying ICB's buyers)")
def list_tenders(call: Call) -> Any:
    return tenders.list_query(call.uow, **{k: v for k, v in call.query.items()
                                           if k not in ("page", "per_page")})


@bp.endpoint("POST", "/tenders", roles=BUYER, body=TenderCreate, response=TenderOut,
             errors=(403, 409), summary="Draft a tender for the caller's ICB", **CREATES)
def create_tender(call: Call) -> Created:
    tender = tenders.create(call.uow, **call.body)
    return Created(tender, url_for(".get_tender", tender_id=tender.id))


@bp.endpoint("GET", "/tenders/<tender_id>", roles=PUBLIC, response=TenderOut, etag=True,
             errors=(404,), summary="A tender with its criteria and published answers")
def get_tender(call: Call, tender_id: str) -> Any:
    return tenders.get_visible(call.uow, tender_id)


@bp.endpoint("POST", "/tenders/<tender_id>/publish", roles=BUYER, response=TenderOut,
             summary="Publish a draft: questions and sealed responses until the deadlines",
             **ACTS)
def publish_tender(call: Call, tender_id: str) -> Any:
    return tenders.publish(call.uow, tender_id)


@bp.endpoint("POST", "/tenders/<tender_id>/cancel", roles=BUYER, body=CancelIn,
             response=TenderOut, summary="Cancel, with a reason, until a contract is signed",
             **ACTS)
def cancel_tender(call: Call, tender_id: str) -> Any:
    return tenders.cancel(call.uow, tender_id, **call.body)


@bp.endpoint("GET", "/tenders/<tender_id>/questions", roles=PUBLIC, response=QuestionOut,
             paginated=True, errors=(404,),
             summary="Clarifications: answered ones to all; unanswered to the buyer and "
                     "the asker")
def list_questions(call: Call, tender_id: str) -> Any:
    return clarifications.list_query(call.uow, tender_id)


@bp.endpoint("POST", "/tenders/<tender_id>/questions", roles=INNOVATOR, body=QuestionIn,
             response=QuestionOut, status=201, idempotent=True, errors=(403, 404, 409),
             summary="Ask a clarification question (until the clarification deadline)")
def ask_question(call: Call, tender_id: str) -> Any:
    return clarifications.ask(call.uow, tender_id, **call.body)


@bp.endpoint("POST", "/tenders/<tender_id>/questions/<question_id>/answer", roles=BUYER,
             body=AnswerIn, response=QuestionOut, idempotent=True, errors=(403, 404, 409),
             summary="Answer a question: published with it to everyone, not who asked")
def answer_question(call: Call, tender_id: str, question_id: str) -> Any:
    return clarifications.answer(call.uow, tender_id, question_id, **call.body)


@bp.endpoint("POST", "/tenders/<tender_id>/responses", roles=INNOVATOR, body=ResponseCreate,
             response=ResponseReceipt, errors=(403, 404, 409),
             summary="Submit (or replace) a sealed response for one of your listings",
             **CREATES)
def submit_response(call: Call, tender_id: str) -> Created:
    response = responses.submit(call.uow, tender_id, **call.body)
    return Created(response, url_for(".get_response", tender_id=tender_id,
                                     response_id=response.id))


@bp.endpoint("GET", "/tenders/<tender_id>/responses", roles=SIGNED_IN, response=ResponseOut,
             paginated=True, errors=(404,),
             summary="Responses you may read: your own; the buyer's after the deadline")
def list_responses(call: Call, tender_id: str) -> Any:
    return responses.list_query(call.uow, tender_id)


@bp.endpoint("GET", "/tenders/<tender_id>/responses/<response_id>", roles=SIGNED_IN,
             response=ResponseOut, etag=True, errors=(404,),
             summary="A response (404 to all but its responder until the deadline)")
def get_response(call: Call, tender_id: str, response_id: str) -> Any:
    return responses.get_opened(call.uow, tender_id, response_id)


@bp.endpoint("POST", "/tenders/<tender_id>/responses/<response_id>/withdraw",
             roles=INNOVATOR, response=ResponseReceipt,
             summary="Withdraw your response before the deadline", **ACTS)
def withdraw_response(call: Call, tender_id: str, response_id: str) -> Any:
    return responses.withdraw(call.uow, tender_id, response_id)


#: Not ``idempotent``: its answer (the ranking) carries every response's price, and an
#: idempotency record would keep that in clear; scoring again with the same scores
#: changes nothing, so a retry needs no stored answer.
@bp.endpoint("POST", "/tenders/<tender_id>/evaluations", roles=BUYER, body=EvaluationIn,
             response=EvaluationOut, errors=(403, 404, 409),
             summary="Score a response against the non-price criteria; returns the ranking")
def score_response(call: Call, tender_id: str) -> Any:
    return evaluation.score(call.uow, tender_id, **call.body)


@bp.endpoint("GET", "/tenders/<tender_id>/evaluations", roles=BUYER, response=EvaluationOut,
             errors=(403, 404, 409), summary="The ranking so far, ties reported")
def get_evaluation(call: Call, tender_id: str) -> Any:
    return evaluation.evaluation(call.uow, tender_id)


@bp.endpoint("POST", "/tenders/<tender_id>/award", roles=BUYER, body=AwardIn,
             response=TenderOut, summary="Award to the most advantageous response: the "
             "standstill starts and the contract is created", **ACTS)
def award_tender(call: Call, tender_id: str) -> Any:
    return evaluation.award(call.uow, tender_id, **call.body)


@bp.endpoint("GET", "/tenders/<tender_id>/outcome", roles=(*BUYER, *INNOVATOR),
             response=OutcomeOut, errors=(404, 409),
             summary="Assessment summaries after the award: your scores and the winner's")
def get_outcome(call: Call, tender_id: str) -> Any:
    return evaluation.outcome(call.uow, tender_id)
