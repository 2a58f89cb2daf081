"""Demand signals: what an ICB needs, in the catalogue's words, with its evidence bar.

An ICB says what it needs in the catalogue's own terms (categories, pathway stages, a
NICE ESF tier, whether a central approval is required), so supply can be matched to it
and demand summed nationally. The signal keeps the ICB that posted it (``icb``); after a
merger it belongs to that ICB's successor (:attr:`DemandSignal.owner`), without
rewriting history.

As with listings, categories and stages are JSON lists on the signal, and database
triggers (migration 0007) copy them into the facet tables ``demand_signal_category`` and
``demand_signal_pathway_stage`` for indexed filters and the reverse match (which signals
a listing serves); the application never writes those tables.

``demand_tally`` holds the national summary's figures, kept up to date by the service
in the same transaction as each change (see :mod:`marketplace.demand.summary`).
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
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.kernel.clock import utcnow
from marketplace.kernel.db import Base, JsonType, UtcDateTime, in_list
from marketplace.organisations.models import Organisation
from schemas.events.common import ESF_TIERS
from schemas.events.demand import CLOSE_OUTCOMES
from schemas.statuses import SignalStatus

#: Fields the ICB states, all public.
EDITABLE = ("title", "need", "categories", "pathway_stages", "use_cases", "trusts",
            "min_esf_tier", "requires_central_approval", "population_covered",
            "indicative_budget_pence", "needed_by")


class DemandSignal(Base):
    """One ICB need. ``id`` (a UUID) is public; ``pk`` is the facet tables' integer key."""

    __tablename__ = "demand_signal"
    __table_args__ = (
        CheckConstraint(f"status IN ({in_list(SignalStatus)})", name="status"),
        CheckConstraint(f"min_esf_tier IN ({in_list(ESF_TIERS)})", name="min_esf_tier"),
        CheckConstraint(f"outcome IS NULL OR outcome IN ({in_list(CLOSE_OUTCOMES)})",
                        name="outcome"),
        Index("ix_demand_signal_status_posted_at", "status", "posted_at", "pk"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    #: The ICB that posted it (kept after a merger; :attr:`owner` follows succession).
    icb_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=SignalStatus.OPEN)
    title: Mapped[str] = mapped_column(String(200))
    need: Mapped[str] = mapped_column(String(4000))
    #: Sorted; demand_signal_category follows it (trigger).
    categories: Mapped[list[str]] = mapped_column(JsonType)
    #: In pathway order; demand_signal_pathway_stage follows it (trigger).
    pathway_stages: Mapped[list[str]] = mapped_column(JsonType)
    use_cases: Mapped[list[str]] = mapped_column(JsonType)
    #: ODS codes of the ICB's trusts that share the need, sorted.
    trusts: Mapped[list[str]] = mapped_column(JsonType)
    min_esf_tier: Mapped[str] = mapped_column(String(1))
    requires_central_approval: Mapped[bool] = mapped_column(Boolean, default=True)
    population_covered: Mapped[int | None] = mapped_column(BigInteger)
    indicative_budget_pence: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="GBP")
    needed_by: Mapped[date | None] = mapped_column(Date)
    posted_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    #: The Europe/London day of ``posted_at``: what period filters and tallies count by.
    posted_on: Mapped[date] = mapped_column(Date, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    outcome: Mapped[str | None] = mapped_column(String(32))
    tender_id: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)

    icb: Mapped[Organisation] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": version}

    @property
    def owner(self) -> Organisation:
        """The ICB the signal belongs to now: the poster, or its successor after a merger."""
        return self.icb.current()


class DemandSignalCategory(Base):
    """Facet index: one row per signal and category (written by triggers only)."""

    __tablename__ = "demand_signal_category"
    __table_args__ = (Index("ix_demand_signal_category_category", "category", "signal_pk"),)

    signal_pk: Mapped[int] = mapped_column(
        ForeignKey("demand_signal.pk", ondelete="CASCADE"), primary_key=True)
    category: Mapped[str] = mapped_column(String(100), primary_key=True)


class DemandSignalPathwayStage(Base):
    """Facet index: one row per signal and pathway stage (written by triggers only)."""

    __tablename__ = "demand_signal_pathway_stage"
    __table_args__ = (Index("ix_demand_signal_pathway_stage_stage", "stage", "signal_pk"),)

    signal_pk: Mapped[int] = mapped_column(
        ForeignKey("demand_signal.pk", ondelete="CASCADE"), primary_key=True)
    stage: Mapped[str] = mapped_column(String(32), primary_key=True)


class DemandTally(Base):
    """Open demand of one ICB in one period under one facet: the summary's running sums.

    ``grain`` is ``all`` (``period_start`` 1970-01-01: every period), ``month`` (the first
    of the month) or ``day``; ``facet_kind`` is ``total`` (``facet`` empty: each signal
    once), ``category`` or ``stage``. ``icb_id`` is the posting ICB, mapped to its
    successor when read. Rows are only ever incremented and decremented; one at zero
    stays (it costs nothing and is reused).
    """

    __tablename__ = "demand_tally"

    grain: Mapped[str] = mapped_column(String(8), primary_key=True)
    period_start: Mapped[date] = mapped_column(Date, primary_key=True)
    icb_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), primary_key=True)
    facet_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    facet: Mapped[str] = mapped_column(String(100), primary_key=True)
    open_signals: Mapped[int] = mapped_column(BigInteger, default=0)
    budget_pence: Mapped[int] = mapped_column(BigInteger, default=0)
    signals_with_budget: Mapped[int] = mapped_column(BigInteger, default=0)
    population: Mapped[int] = mapped_column(BigInteger, default=0)
    signals_with_population: Mapped[int] = mapped_column(BigInteger, default=0)
