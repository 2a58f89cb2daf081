"""Clarifications: innovators ask until the clarification deadline; the buyer answers, and
every answer is published with its question to everyone, never with who asked.

The asker's organisation is kept (the audit trail, and the asker's own view of its
unanswered questions); nobody else ever reads it. A published answer is final: a
correction is a new question and answer, so nobody's earlier reading is rewritten.
"""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, func, or_, select

from marketplace.kernel.errors import Conflict, Forbidden, NotFound
from marketplace.kernel.published_text import stripped
from marketplace.kernel.row_lock import for_update
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.tenders import service as tenders
from marketplace.tenders.lifecycle import require_open_for
from marketplace.tenders.models import TenderQuestion
from schemas.statuses import Role, TenderStatus

#: The fact the OCDS area publishes a ``tenderUpdate`` release for (no wire event).
ANSWERED = "tender.question.answered"


def _snapshot(question: TenderQuestion) -> dict[str, Any]:
    return {"tender_id": question.tender_id, "number": question.number,
            "question": question.question, "answer": question.answer}


def ask(uow: UnitOfWork, tender_id: str, *, question: str) -> TenderQuestion:
    """An innovator's question, until the clarification deadline (server time)."""
    actor = uow.actor
    if actor.role != Role.INNOVATOR or actor.organisation_id is None:
        raise Forbidden("Only an innovator asks clarification questions.")
    text = stripped(question=question)["question"]
    tender = tenders.locked(uow, tender_id)
    now = uow.now()
    require_open_for("clarification questions", tender.status,
                     tender.clarification_closes_at, now)
    number = 1 + (uow.session.scalar(select(func.max(TenderQuestion.number)).where(
        TenderQuestion.tender_id == tender.id)) or 0)
    asked = TenderQuestion(id=str(uuid.uuid4()), tender_id=tender.id, number=number,
                           asker_organisation_id=actor.organisation_id, question=text,
                           asked_at=now)
    uow.session.add(asked)
    uow.session.flush()
    uow.audit("tender_question.asked", "tender_question", asked.id, after=_snapshot(asked),
              subject_organisation_id=actor.organisation_id)
    return asked


def answer(uow: UnitOfWork, tender_id: str, question_id: str, *, answer: str) -> TenderQuestion:
    """The buyer's answer, published with the question while the tender is open."""
    text = stripped(answer=answer)["answer"]
    tender = tenders.own_locked(uow, tender_id)
    if tender.status != TenderStatus.PUBLISHED:
        raise Conflict(f"The tender is {tender.status}; questions are answered while it "
                       "is published.", current_status=tender.status)
    question = uow.session.scalar(for_update(select(TenderQuestion).where(
        TenderQuestion.id == question_id, TenderQuestion.tender_id == tender.id),
        TenderQuestion))
    if question is None:
        raise NotFound(f"Tender {tender.reference} has no question {question_id!r}.")
    if question.answer is not None:
        raise Conflict(f"Question {question.number} was answered at "
                       f"{question.answered_at.isoformat() if question.answered_at else ''};"
                       " a published answer is final (ask a new question to correct it).")
    before = _snapshot(question)
    question.answer, question.answered_at, question.answered_by = text, uow.now(), uow.actor.id
    uow.session.flush()
    uow.audit("tender_question.answered", "tender_question", question.id, before=before,
              after=_snapshot(question), subject_organisation_id=tender.icb_id)
    uow.notify(ANSWERED, {"tender_id": tender.id, "question_id": question.id})
    return question


def list_query(uow: UnitOfWork, tender_id: str) -> Select[tuple[TenderQuestion]]:
    """Answered questions for everyone; the buyer also sees the unanswered ones (to answer
    them), an innovator its own."""
    tender = tenders.get_visible(uow, tender_id)
    stmt = select(TenderQuestion).where(TenderQuestion.tender_id == tender.id)
    if not tenders.is_buyer_of(uow, tender):
        shown = TenderQuestion.answer.is_not(None)
        if uow.actor.role == Role.INNOVATOR and uow.actor.organisation_id is not None:
            shown = or_(shown, TenderQuestion.asker_organisation_id
                        == uow.actor.organisation_id)
        stmt = stmt.where(shown)
    return stmt.order_by(TenderQuestion.number)
