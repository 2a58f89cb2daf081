"""Tenders, their award criteria, clarification questions, sealed responses and scores.

The database holds the invariants itself: status and procedure CHECKs; a framework
competition names its framework and a lot of that framework (a composite foreign key),
an open procedure names neither; the clarification deadline falls before the submission
deadline; criteria weights are 0-100 with one position each; one response per tender and
listing; scores 0-100, one per response and criterion; at most one award per tender.

A response's price and answers are never stored in clear: ``sealed`` is their AES-GCM
ciphertext (:mod:`marketplace.tenders.sealing`), bound to the tender and the response,
so a database reader cannot read a bid, and one bid cannot be swapped for another.

Deadlines are kept twice: as posted (``*_deadline``, nominal) and as enforced
(``*_closes_at``: equal to the posted ones unless a sandbox ``accelerator`` divides the
periods, see ``../shared/CONTRACT.md``).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, query_expression, relationship

from marketplace.catalogue.models import Innovation
from marketplace.kernel.db import Base, JsonType, UtcDateTime, in_list
from marketplace.organisations.models import Organisation
from schemas.events.common import ESF_TIERS
from schemas.events.tenders import CANCEL_REASONS
from schemas.statuses import CriterionKind, ResponseStatus, TenderProcedure, TenderStatus

FRAMEWORK_COMPETITION = TenderProcedure.FRAMEWORK_COMPETITION.value


class Tender(Base):
    """A competition run by one ICB, from its notice to its award."""

    __tablename__ = "tender"
    __table_args__ = (
        CheckConstraint(f"status IN ({in_list(TenderStatus)})", name="status"),
        CheckConstraint(f"procedure IN ({in_list(TenderProcedure)})", name="procedure"),
        CheckConstraint(f"min_esf_tier IN ({in_list(ESF_TIERS)})", name="min_esf_tier"),
        CheckConstraint(f"reason_code IS NULL OR reason_code IN ({in_list(CANCEL_REASONS)})",
                        name="reason_code"),
        CheckConstraint(f"(procedure = '{FRAMEWORK_COMPETITION}') = "
                        "(framework_id IS NOT NULL AND lot_id IS NOT NULL)",
                        name="framework_competition"),
        CheckConstraint("submission_deadline > clarification_deadline", name="deadlines"),
        CheckConstraint("accelerator BETWEEN 1 AND 14400", name="accelerator"),
        CheckConstraint("estimated_value_pence >= 0", name="estimated_value"),
        CheckConstraint("contract_term_months >= 1", name="contract_term"),
        ForeignKeyConstraint(["lot_id", "framework_id"],
                             ["framework_lot.id", "framework_lot.framework_id"]),
        # The scheduler's candidates: published tenders by enforced deadline.
        Index("ix_tender_status_submission_closes_at", "status", "submission_closes_at"),
        Index("ix_tender_status_published_at", "status", "published_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    reference: Mapped[str] = mapped_column(String(41), unique=True)
    #: The ICB that runs it (kept after a merger; its successor's buyers act then).
    icb_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=TenderStatus.DRAFT)
    procedure: Mapped[str] = mapped_column(String(32))
    framework_id: Mapped[str | None] = mapped_column(ForeignKey("framework.id"), index=True)
    lot_id: Mapped[str | None] = mapped_column(String(36))
    signal_id: Mapped[str | None] = mapped_column(ForeignKey("demand_signal.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(8000))
    #: Sorted catalogue categories.
    categories: Mapped[list[str]] = mapped_column(JsonType)
    #: In pathway order.
    pathway_stages: Mapped[list[str]] = mapped_column(JsonType)
    #: The items a contract will carry: item_id, description, unit_code, quantity,
    #: vat_category, vat_rate (a response prices each).
    lines: Mapped[list[dict[str, object]]] = mapped_column(JsonType)
    estimated_value_pence: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="GBP")
    contract_term_months: Mapped[int] = mapped_column(Integer)
    min_esf_tier: Mapped[str] = mapped_column(String(1))
    accelerator: Mapped[int] = mapped_column(Integer, default=1)
    #: As posted (Europe/London wall time when read).
    clarification_deadline: Mapped[datetime] = mapped_column(UtcDateTime)
    submission_deadline: Mapped[datetime] = mapped_column(UtcDateTime)
    #: As enforced, set at publication (the posted ones, or accelerated in the sandbox).
    clarification_closes_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    submission_closes_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    evaluated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    responses_received: Mapped[int | None] = mapped_column(Integer)
    award_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    awarded_response_id: Mapped[str | None] = mapped_column(String(36))
    awarded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    standstill_ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reason_code: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(String(1000))
    status_changed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    #: Loaded with the row when read (``tenders.service``): the OCDS ocid and the contract.
    ocid: Mapped[str | None] = query_expression()
    contract_id: Mapped[str | None] = query_expression()

    icb: Mapped[Organisation] = relationship(lazy="joined")
    criteria: Mapped[list[TenderCriterion]] = relationship(
        order_by="TenderCriterion.position", cascade="all, delete-orphan", lazy="selectin")
    questions: Mapped[list[TenderQuestion]] = relationship(
        order_by="TenderQuestion.number", viewonly=True)

    __mapper_args__ = {"version_id_col": version}

    @property
    def owner(self) -> Organisation:
        """The ICB that runs the tender now: its own, or its successor after a merger."""
        return self.icb.current()


class TenderCriterion(Base):
    """A published award criterion and its weight (one of a tender's is price)."""

    __tablename__ = "tender_criterion"
    __table_args__ = (
        CheckConstraint(f"kind IN ({in_list(CriterionKind)})", name="kind"),
        CheckConstraint("weight_percent BETWEEN 1 AND 100", name="weight"),
        UniqueConstraint("tender_id", "position"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tender_id: Mapped[str] = mapped_column(ForeignKey("tender.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    weight_percent: Mapped[int] = mapped_column(Integer)


class TenderQuestion(Base):
    """A clarification question and, once the buyer answers, its published answer.

    ``asker_organisation_id`` is kept for the audit trail and for the asker's own list;
    no reader other than the asker ever sees who asked.
    """

    __tablename__ = "tender_question"
    __table_args__ = (UniqueConstraint("tender_id", "number"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tender_id: Mapped[str] = mapped_column(ForeignKey("tender.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    asker_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"),
                                                       index=True)
    question: Mapped[str] = mapped_column(String(4000))
    asked_at: Mapped[datetime] = mapped_column(UtcDateTime)
    answer: Mapped[str | None] = mapped_column(String(8000))
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    answered_by: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class TenderResponse(Base):
    """One listing's sealed response to a tender.

    Replacing a response re-seals it in place (``replaced_count``); withdrawing keeps the
    row (a later submission for the same listing brings it back), so the unique
    ``(tender_id, innovation_id)`` holds one response per listing for good.
    """

    __tablename__ = "tender_response"
    __table_args__ = (
        CheckConstraint(f"status IN ({in_list(ResponseStatus)})", name="status"),
        UniqueConstraint("tender_id", "innovation_id"),
        Index("ix_tender_response_tender_status", "tender_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tender_id: Mapped[str] = mapped_column(ForeignKey("tender.id"))
    innovation_id: Mapped[str] = mapped_column(ForeignKey("innovation.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    #: The central approval it rested on when last submitted.
    approval_id: Mapped[str | None] = mapped_column(ForeignKey("approval.id"))
    #: The framework award it rested on (framework competitions).
    framework_award_id: Mapped[str | None] = mapped_column(ForeignKey("framework_award.id"))
    status: Mapped[str] = mapped_column(String(16), default=ResponseStatus.SUBMITTED)
    #: Which service key sealed it (key rotation), and the AES-GCM nonce + ciphertext.
    key_id: Mapped[str] = mapped_column(String(32))
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    submitted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    replaced_count: Mapped[int] = mapped_column(Integer, default=0)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    innovation: Mapped[Innovation] = relationship()
    organisation: Mapped[Organisation] = relationship()
    scores: Mapped[list[TenderScore]] = relationship(
        order_by="TenderScore.criterion_id", cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}


class TenderScore(Base):
    """The buyer's score of one response against one non-price criterion."""

    __tablename__ = "tender_score"
    __table_args__ = (CheckConstraint("score BETWEEN 0 AND 100", name="score"),)

    response_id: Mapped[str] = mapped_column(ForeignKey("tender_response.id"),
                                             primary_key=True)
    criterion_id: Mapped[str] = mapped_column(ForeignKey("tender_criterion.id"),
                                              primary_key=True)
    score: Mapped[int] = mapped_column(Integer)
    rationale: Mapped[str] = mapped_column(String(4000))
    scored_at: Mapped[datetime] = mapped_column(UtcDateTime)
    scored_by: Mapped[str] = mapped_column(String(64))
