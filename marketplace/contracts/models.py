"""Contracts: created by a tender's award, signed after the standstill, varied, terminated.

The database holds the invariants: status CHECKs; at most one contract per tender (two
awards at once cannot make two contracts); a period that ends on or after it starts;
non-negative prices and values; variation numbers unique per contract and counted from 1.
A variation is a new row holding the contract's terms before and after, never an edit
that loses the old terms.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.catalogue.models import Innovation
from marketplace.kernel.db import Base, JsonType, UtcDateTime, in_list
from marketplace.kernel.priced_line import PricedLine
from marketplace.organisations.models import Organisation
from schemas.events.tenders import TERMINATION_REASONS
from schemas.statuses import ContractStatus

#: Days from a valid invoice to payment (the NHS's 30-day prompt-payment standard).
PAYMENT_TERMS_DAYS = 30


class Contract(Base):
    """The contract an award leads to: who may call off what, at what price, until when."""

    __tablename__ = "contract"
    __table_args__ = (
        CheckConstraint(f"status IN ({in_list(ContractStatus)})", name="status"),
        CheckConstraint(f"reason_code IS NULL OR reason_code IN "
                        f"({in_list(TERMINATION_REASONS)})", name="reason_code"),
        CheckConstraint("ends_on >= starts_on", name="period"),
        CheckConstraint("value_pence >= 0", name="value"),
        CheckConstraint("variation_number >= 0", name="variation_number"),
        Index("ix_contract_status", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    reference: Mapped[str] = mapped_column(String(41), unique=True)
    tender_id: Mapped[str | None] = mapped_column(ForeignKey("tender.id"), unique=True)
    award_id: Mapped[str | None] = mapped_column(String(36))
    framework_id: Mapped[str | None] = mapped_column(ForeignKey("framework.id"))
    buyer_icb_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    supplier_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"),
                                                          index=True)
    innovation_id: Mapped[str] = mapped_column(ForeignKey("innovation.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=ContractStatus.PENDING)
    value_pence: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="GBP")
    term_months: Mapped[int] = mapped_column(Integer)
    #: Proposed at the award (from the end of the standstill), fixed at signature.
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    #: ODS codes of the trusts that may call off, sorted (the buyer ICB's trusts).
    eligible_trusts: Mapped[list[str]] = mapped_column(JsonType)
    payment_terms_days: Mapped[int] = mapped_column(Integer, default=PAYMENT_TERMS_DAYS)
    standstill_ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    signed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    signed_by: Mapped[str | None] = mapped_column(String(64))
    variation_number: Mapped[int] = mapped_column(Integer, default=0)
    terminated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    effective_on: Mapped[date | None] = mapped_column(Date)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reason_code: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(String(1000))
    status_changed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    buyer_icb: Mapped[Organisation] = relationship(foreign_keys=[buyer_icb_id])
    supplier_organisation: Mapped[Organisation] = relationship(
        foreign_keys=[supplier_organisation_id])
    innovation: Mapped[Innovation] = relationship()
    lines: Mapped[list[ContractLine]] = relationship(
        order_by="ContractLine.position", cascade="all, delete-orphan", lazy="selectin")
    variations: Mapped[list[ContractVariation]] = relationship(
        order_by="ContractVariation.number", viewonly=True)

    __mapper_args__ = {"version_id_col": version}


class ContractLine(PricedLine, Base):
    """An item trusts may call off under the contract, at its unit price (pence, no VAT)."""

    __tablename__ = "contract_line"
    __table_args__ = (
        CheckConstraint("unit_price_pence >= 0", name="unit_price"),
        CheckConstraint("max_quantity IS NULL OR max_quantity >= 1", name="max_quantity"),
        UniqueConstraint("contract_id", "position"),
        UniqueConstraint("contract_id", "item_id"),
    )

    contract_id: Mapped[str] = mapped_column(ForeignKey("contract.id"), primary_key=True)
    max_quantity: Mapped[int | None] = mapped_column(BigInteger)


class ContractVariation(Base):
    """One variation of a contract: its number, the terms before and after, and why."""

    __tablename__ = "contract_variation"
    __table_args__ = (
        CheckConstraint("number >= 1", name="number"),
        UniqueConstraint("contract_id", "number"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    contract_id: Mapped[str] = mapped_column(ForeignKey("contract.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    previous_value_pence: Mapped[int] = mapped_column(BigInteger)
    value_pence: Mapped[int] = mapped_column(BigInteger)
    changed_fields: Mapped[list[str]] = mapped_column(JsonType)
    before: Mapped[dict[str, Any]] = mapped_column(JsonType)
    after: Mapped[dict[str, Any]] = mapped_column(JsonType)
    reason: Mapped[str] = mapped_column(String(1000))
    varied_at: Mapped[datetime] = mapped_column(UtcDateTime)
    varied_by: Mapped[str] = mapped_column(String(64))
