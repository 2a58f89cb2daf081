"""Funding pots, their allocations, each allocation's chain of revisions, and drawdowns.

The database holds the invariants: a pot never allocates more than it holds
(``allocated_pence <= amount_pence``, updated under the pot's row lock); an allocation
never has more drawn on it than it holds (``drawn_pence <= amount_pence``); a pharma
joint-working pot always carries its published agreement summary and transfer of value
(ABPI Code clause 20), and no other pot does; periods end on or after they start.

An allocation's history is its chain of revisions: revision 1 is the allocation, each
change is a new revision pointing at the one it supersedes, never an edit in place. The
allocation row holds the head (current amount, period end, status, drawn) for reading
and locking; the chain is the record.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.kernel.db import Base, UtcDateTime, in_list
from marketplace.organisations.models import Organisation
from schemas.events.funding import CHANGE_REASONS, FUNDER_TYPES
from schemas.statuses import AllocationChangeKind, AllocationStatus

PHARMA = "pharma_joint_working"


class FundingPot(Base):
    """Money a funder (or an ICB) makes available for a financial year."""

    __tablename__ = "funding_pot"
    __table_args__ = (
        CheckConstraint(f"funder_type IN ({in_list(FUNDER_TYPES)})", name="funder_type"),
        CheckConstraint("amount_pence > 0", name="amount"),
        CheckConstraint("allocated_pence >= 0 AND allocated_pence <= amount_pence",
                        name="not_over_allocated"),
        CheckConstraint("period_end >= period_start", name="period"),
        CheckConstraint(
            f"(funder_type = '{PHARMA}') = "
            "(agreement_summary IS NOT NULL AND transfer_of_value_pence IS NOT NULL)",
            name="pharma_transparency"),
        CheckConstraint("transfer_of_value_pence IS NULL OR transfer_of_value_pence >= 0",
                        name="transfer_of_value"),
        Index("ix_funding_pot_year_type", "financial_year", "funder_type"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"),
                                                       index=True)
    funder_type: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    amount_pence: Mapped[int] = mapped_column(BigInteger)
    allocated_pence: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="GBP")
    financial_year: Mapped[str] = mapped_column(String(7))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    recurrent: Mapped[bool] = mapped_column(Boolean)
    conditions: Mapped[str] = mapped_column(String(4000))
    agreement_summary: Mapped[str | None] = mapped_column(String(4000))
    transfer_of_value_pence: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    owner: Mapped[Organisation] = relationship(lazy="joined")
    allocations: Mapped[list[FundingAllocation]] = relationship(
        order_by="[FundingAllocation.created_at, FundingAllocation.id]", viewonly=True)

    __mapper_args__ = {"version_id_col": version}

    @property
    def remaining_pence(self) -> int:
        return self.amount_pence - self.allocated_pence


class FundingAllocation(Base):
    """Money of a pot given to an ICB or a trust; the row is the head of its revisions."""

    __tablename__ = "funding_allocation"
    __table_args__ = (
        CheckConstraint(f"status IN ({in_list(AllocationStatus)})", name="status"),
        CheckConstraint("amount_pence >= 0", name="amount"),
        CheckConstraint("drawn_pence >= 0 AND drawn_pence <= amount_pence",
                        name="not_overdrawn"),
        CheckConstraint("period_end >= period_start", name="period"),
        CheckConstraint("revision_number >= 1", name="revision_number"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    pot_id: Mapped[str] = mapped_column(ForeignKey("funding_pot.id"), index=True)
    recipient_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"),
                                                           index=True)
    purpose: Mapped[str] = mapped_column(String(1000))
    innovation_id: Mapped[str | None] = mapped_column(ForeignKey("innovation.id"))
    contract_id: Mapped[str | None] = mapped_column(ForeignKey("contract.id"))
    signal_id: Mapped[str | None] = mapped_column(ForeignKey("demand_signal.id"))
    status: Mapped[str] = mapped_column(String(16), default=AllocationStatus.ACTIVE)
    amount_pence: Mapped[int] = mapped_column(BigInteger)
    drawn_pence: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="GBP")
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    revision_number: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    pot: Mapped[FundingPot] = relationship(viewonly=True)
    recipient: Mapped[Organisation] = relationship(lazy="joined")
    revisions: Mapped[list[FundingAllocationRevision]] = relationship(
        order_by="FundingAllocationRevision.number", viewonly=True)

    __mapper_args__ = {"version_id_col": version}

    @property
    def remaining_pence(self) -> int:
        return self.amount_pence - self.drawn_pence


class FundingAllocationRevision(Base):
    """One immutable revision of an allocation: number 1 allocates, each later one
    supersedes the revision numbered one less."""

    __tablename__ = "funding_allocation_revision"
    __table_args__ = (
        CheckConstraint("number >= 1", name="number"),
        CheckConstraint("(number = 1) = (supersedes_id IS NULL)", name="chain"),
        CheckConstraint(f"kind IN ({in_list(AllocationChangeKind)})", name="kind"),
        CheckConstraint(f"(number = 1) = (kind = '{AllocationChangeKind.ALLOCATE}')",
                        name="first_allocates"),
        CheckConstraint(f"status IN ({in_list(AllocationStatus)})", name="status"),
        CheckConstraint("amount_pence >= 0", name="amount"),
        CheckConstraint(f"reason_code IS NULL OR reason_code IN ({in_list(CHANGE_REASONS)})",
                        name="reason_code"),
        UniqueConstraint("allocation_id", "number"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    allocation_id: Mapped[str] = mapped_column(ForeignKey("funding_allocation.id"),
                                               index=True)
    number: Mapped[int] = mapped_column(Integer)
    supersedes_id: Mapped[str | None] = mapped_column(
        ForeignKey("funding_allocation_revision.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    previous_amount_pence: Mapped[int | None] = mapped_column(BigInteger)
    amount_pence: Mapped[int] = mapped_column(BigInteger)
    period_end: Mapped[date] = mapped_column(Date)
    reason_code: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(String(1000))
    made_at: Mapped[datetime] = mapped_column(UtcDateTime)
    made_by: Mapped[str] = mapped_column(String(64))


class FundingDrawdown(Base):
    """An order's draw on an allocation (in the order's transaction); one per order."""

    __tablename__ = "funding_drawdown"
    __table_args__ = (
        CheckConstraint("amount_pence > 0", name="amount"),
        UniqueConstraint("order_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    allocation_id: Mapped[str] = mapped_column(ForeignKey("funding_allocation.id"),
                                               index=True)
    #: The order's id (no foreign key: orders' table comes in a later migration).
    order_id: Mapped[str] = mapped_column(String(36))
    amount_pence: Mapped[int] = mapped_column(BigInteger)
    drawn_at: Mapped[datetime] = mapped_column(UtcDateTime)
    drawn_by: Mapped[str] = mapped_column(String(64))
