"""Framework agreements, their lots, and suppliers' awards with price ceilings per item.

The database holds the invariants itself: status CHECKs, one lot number (and one
position) per framework, an award's lot belonging to the award's framework (a composite
foreign key), at most one active award per lot and innovation (a partial unique index),
non-negative ceilings, and every period ending after it starts. An award names the
central approval it rests on, so that approval's revocation or expiry finds its awards.

``period`` (upcoming, current, ended) follows from the timestamps at the reader's ``now``:
it is a query expression (:func:`period_at`) loaded with the row, never a column.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ColumnElement,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
    case,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, query_expression, relationship

from marketplace.approvals.models import Approval
from marketplace.catalogue.models import Innovation
from marketplace.kernel.db import Base, JsonType, UtcDateTime, in_list
from marketplace.organisations.models import Organisation
from schemas.events.frameworks import WITHDRAWAL_REASONS
from schemas.statuses import AwardStatus, FrameworkStatus, Period

PERIOD_CHECK = "ends_at > starts_at"
ACTIVE_AWARD = f"status = '{AwardStatus.ACTIVE}'"


def period_at(starts_at: Any, ends_at: Any, now: datetime) -> ColumnElement[str]:
    """SQL: where ``now`` stands in the period ``starts_at``..``ends_at``."""
    return case((starts_at > now, Period.UPCOMING.value),
                (ends_at > now, Period.CURRENT.value), else_=Period.ENDED.value)


class Framework(Base):
    """A framework agreement let by a contracting authority, with lots."""

    __tablename__ = "framework"
    __table_args__ = (
        CheckConstraint(f"status IN ({in_list(FrameworkStatus)})", name="status"),
        CheckConstraint(PERIOD_CHECK, name="period"),
        Index("ix_framework_status_ends_at", "status", "ends_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    reference: Mapped[str] = mapped_column(String(41), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(4000))
    owner_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"),
                                                       index=True)
    status: Mapped[str] = mapped_column(String(16), default=FrameworkStatus.DRAFT)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: Its terms allow direct award: a trust calls off an award without a competition.
    direct_award: Mapped[bool] = mapped_column(Boolean, default=False,
                                               server_default=false())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    expired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    status_changed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    period: Mapped[str | None] = query_expression()

    owner_organisation: Mapped[Organisation] = relationship()
    lots: Mapped[list[FrameworkLot]] = relationship(
        back_populates="framework", order_by="FrameworkLot.position")
    awards: Mapped[list[FrameworkAward]] = relationship(
        order_by="(FrameworkAward.awarded_at, FrameworkAward.id)", viewonly=True)

    __mapper_args__ = {"version_id_col": version}


class FrameworkLot(Base):
    """A lot: the categories of innovation a framework buys under one heading."""

    __tablename__ = "framework_lot"
    __table_args__ = (
        UniqueConstraint("framework_id", "lot_number"),
        UniqueConstraint("framework_id", "position"),
        # The target of the awards' composite foreign key (lot and framework agree).
        UniqueConstraint("id", "framework_id"),
        CheckConstraint("position >= 1", name="position"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    framework_id: Mapped[str] = mapped_column(ForeignKey("framework.id"))
    position: Mapped[int] = mapped_column(Integer)
    lot_number: Mapped[str] = mapped_column(String(4))
    title: Mapped[str] = mapped_column(String(200))
    #: Sorted catalogue categories; a listing qualifies under one of them or below it.
    categories: Mapped[list[str]] = mapped_column(JsonType)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    framework: Mapped[Framework] = relationship(back_populates="lots")


class FrameworkAward(Base):
    """A supplier's place on a lot for one approved innovation, for a period."""

    __tablename__ = "framework_award"
    __table_args__ = (
        CheckConstraint(f"status IN ({in_list(AwardStatus)})", name="status"),
        CheckConstraint(f"reason_code IS NULL OR reason_code IN ({in_list(WITHDRAWAL_REASONS)})",
                        name="reason_code"),
        CheckConstraint(PERIOD_CHECK, name="period"),
        ForeignKeyConstraint(["lot_id", "framework_id"],
                             ["framework_lot.id", "framework_lot.framework_id"]),
        # At most one active award per lot and innovation.
        Index("uq_framework_award_active_lot_innovation", "lot_id", "innovation_id",
              unique=True, sqlite_where=text(ACTIVE_AWARD),
              postgresql_where=text(ACTIVE_AWARD)),
        Index("ix_framework_award_status_ends_at", "status", "ends_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    framework_id: Mapped[str] = mapped_column(ForeignKey("framework.id"), index=True)
    lot_id: Mapped[str] = mapped_column(String(36))
    innovation_id: Mapped[str] = mapped_column(ForeignKey("innovation.id"), index=True)
    supplier_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"),
                                                          index=True)
    #: The live central approval of the product version awarded.
    approval_id: Mapped[str] = mapped_column(ForeignKey("approval.id"), index=True)
    product_version: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(16), default=AwardStatus.ACTIVE)
    currency: Mapped[str] = mapped_column(String(3))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    awarded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    awarded_by: Mapped[str] = mapped_column(String(64))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reason_code: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(String(1000))
    status_changed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    period: Mapped[str | None] = query_expression()

    # Loaded on access, keeping the row lock's SELECT ... FOR UPDATE a single-table query.
    framework: Mapped[Framework] = relationship()
    lot: Mapped[FrameworkLot] = relationship(
        foreign_keys=[lot_id], primaryjoin="FrameworkAward.lot_id == FrameworkLot.id",
        viewonly=True)
    innovation: Mapped[Innovation] = relationship()
    supplier_organisation: Mapped[Organisation] = relationship()
    approval: Mapped[Approval] = relationship()
    lines: Mapped[list[FrameworkAwardLine]] = relationship(
        order_by="FrameworkAwardLine.position", cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}


class FrameworkAwardLine(Base):
    """The ceiling unit price of one item under an award (integer pence, no VAT)."""

    __tablename__ = "framework_award_line"
    __table_args__ = (
        CheckConstraint("ceiling_unit_price_pence >= 0", name="ceiling_not_negative"),
        UniqueConstraint("award_id", "position"),
    )

    award_id: Mapped[str] = mapped_column(ForeignKey("framework_award.id"), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(500))
    unit_code: Mapped[str] = mapped_column(String(3))
    ceiling_unit_price_pence: Mapped[int] = mapped_column(BigInteger)
