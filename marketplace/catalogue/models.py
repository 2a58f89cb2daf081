"""The catalogue: innovation listings, their evidence documents and central approvals.

A listing's categories, care-pathway stages and use cases are JSON lists on the listing
(read with it, carried in its events). For filtering, database triggers (migration 0002)
copy categories and stages into the facet tables ``innovation_category`` and
``innovation_pathway_stage``, so a filter is an indexed lookup on SQLite and PostgreSQL
alike; the application never writes those tables.

Full-text search lives outside these models, created by migration ``0002``: on SQLite an
external-content FTS5 table ``innovation_fts`` (rowid = ``innovation.pk``) kept in sync by
triggers, on PostgreSQL a generated
``innovation.search_vector`` column with a GIN index. They are registered in
``metadata.info["unmodelled"]`` so schema comparison skips them.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.db import Base, JsonType, UtcDateTime, metadata, utcnow
from marketplace.domain.approval_state import OPEN, ApprovalStatus
from marketplace.domain.listing_state import ListingStatus
from marketplace.models.organisation import Organisation

#: Search objects the migration creates by hand (SQLite FTS5 and its shadow tables,
#: PostgreSQL's generated tsvector column and its index): ``(kind, name)`` pairs.
SEARCH_OBJECTS: frozenset[tuple[str, str]] = frozenset({
    *(("table", f"innovation_fts{suffix}") for suffix in
      ("", "_data", "_idx", "_docsize", "_config")),
    ("column", "innovation.search_vector"),
    ("index", "ix_innovation_search_vector"),
})
metadata.info.setdefault("unmodelled", set()).update(SEARCH_OBJECTS)


def _in(values: Any) -> str:
    return ", ".join(f"'{v}'" for v in sorted(values))


OPEN_APPROVAL = f"status IN ({_in(OPEN)})"


class Innovation(Base):
    """A listing of one product by its innovator; ``product_version`` is the current one.

    ``id`` (a UUID) is the public identifier. ``pk`` is an internal integer key: on SQLite
    it is the rowid, which the FTS5 index points at and which facet rows join on, so a
    search hit or a filter costs one integer lookup rather than two string ones.
    """

    __tablename__ = "innovation"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(ListingStatus)})", name="status"),
        Index("ix_innovation_status_published_at", "status", "published_at", "pk"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=ListingStatus.DRAFT)
    name: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(String(2000))
    product_version: Mapped[str] = mapped_column(String(50))
    #: Sorted; the facet table innovation_category follows it (trigger).
    categories: Mapped[list[str]] = mapped_column(JsonType)
    #: In pathway order (prevention first); innovation_pathway_stage follows it (trigger).
    pathway_stages: Mapped[list[str]] = mapped_column(JsonType)
    use_cases: Mapped[list[str]] = mapped_column(JsonType)
    esf_tier: Mapped[str] = mapped_column(String(1), index=True)
    device_class: Mapped[str] = mapped_column(String(16), index=True)
    device_mark: Mapped[str] = mapped_column(String(8))
    pricing_model: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    withdrawal_reason: Mapped[str | None] = mapped_column(String(1000))
    version: Mapped[int] = mapped_column(Integer, default=1)

    organisation: Mapped[Organisation] = relationship(lazy="joined")
    approvals: Mapped[list[Approval]] = relationship(
        lazy="select", order_by="(Approval.submitted_at, Approval.id)", viewonly=True)

    __mapper_args__ = {"version_id_col": version}

    @property
    def current_approval(self) -> Approval | None:
        """The latest approval record for the current product version, if any."""
        mine = [a for a in self.approvals if a.product_version == self.product_version]
        return mine[-1] if mine else None


class InnovationCategory(Base):
    """Facet index: one row per listing and category (written by triggers only)."""

    __tablename__ = "innovation_category"
    # Covering index for the filter: category -> listings, without touching the table.
    __table_args__ = (Index("ix_innovation_category_category", "category", "innovation_pk"),)

    innovation_pk: Mapped[int] = mapped_column(
        ForeignKey("innovation.pk", ondelete="CASCADE"), primary_key=True)
    category: Mapped[str] = mapped_column(String(100), primary_key=True)


class InnovationPathwayStage(Base):
    """Facet index: one row per listing and pathway stage (written by triggers only)."""

    __tablename__ = "innovation_pathway_stage"
    __table_args__ = (Index("ix_innovation_pathway_stage_stage", "stage", "innovation_pk"),)

    innovation_pk: Mapped[int] = mapped_column(
        ForeignKey("innovation.pk", ondelete="CASCADE"), primary_key=True)
    stage: Mapped[str] = mapped_column(String(32), primary_key=True)


class EvidenceDocument(Base):
    """Metadata of an uploaded evidence file; the bytes live on disk, named by ``sha256``."""

    __tablename__ = "evidence_document"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    innovation_id: Mapped[str] = mapped_column(ForeignKey("innovation.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    uploaded_by: Mapped[str] = mapped_column(String(64))


def _evidence_fk() -> Any:
    return mapped_column(ForeignKey("evidence_document.id"))


class Approval(Base):
    """The central assessment (DTAC v2 and more) of one product version of a listing."""

    __tablename__ = "approval"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(ApprovalStatus)})", name="status"),
        # At most one open (non-final) approval per innovation and product version.
        Index("uq_approval_open_version", "innovation_id", "product_version", unique=True,
              sqlite_where=text(OPEN_APPROVAL), postgresql_where=text(OPEN_APPROVAL)),
        Index("ix_approval_innovation_version", "innovation_id", "product_version", "status"),
        Index("ix_approval_status_expires_at", "status", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    innovation_id: Mapped[str] = mapped_column(ForeignKey("innovation.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    product_version: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(16), default=ApprovalStatus.SUBMITTED)
    previous_status: Mapped[str | None] = mapped_column(String(16))
    submitted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    submitted_by: Mapped[str] = mapped_column(String(64))
    review_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    assessor_organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    status_changed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    reason_code: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(String(1000))

    # C1 clinical safety (DCB0129)
    safety_case_evidence_id: Mapped[str] = _evidence_fk()
    hazard_log_evidence_id: Mapped[str] = _evidence_fk()
    clinical_safety_officer: Mapped[str] = mapped_column(String(200))
    clinical_safety_officer_registration: Mapped[str] = mapped_column(String(50))
    # C2 data protection
    ico_registration: Mapped[str] = mapped_column(String(16))
    dpia_evidence_id: Mapped[str] = _evidence_fk()
    dspt_status: Mapped[str] = mapped_column(String(32))
    dspt_year: Mapped[str] = mapped_column(String(7))
    # C3 technical security
    cyber_essentials_level: Mapped[str] = mapped_column(String(32))
    cyber_essentials_expires_on: Mapped[date] = mapped_column(Date)
    penetration_test_on: Mapped[date | None] = mapped_column(Date)
    penetration_test_evidence_id: Mapped[str | None] = _evidence_fk()
    mfa_enabled: Mapped[bool] = mapped_column(Boolean)
    # C4 interoperability
    interoperability_standards: Mapped[list[str]] = mapped_column(JsonType)
    interoperability_notes: Mapped[str | None] = mapped_column(String(2000))
    # D usability and accessibility
    wcag_level: Mapped[str] = mapped_column(String(3))
    accessibility_notes: Mapped[str | None] = mapped_column(String(2000))
    # Medical device (MHRA) and NICE
    device_class: Mapped[str] = mapped_column(String(16))
    device_mark: Mapped[str] = mapped_column(String(8))
    device_certificate_expires_on: Mapped[date | None] = mapped_column(Date)
    device_certificate_evidence_id: Mapped[str | None] = _evidence_fk()
    nice_esf_tier: Mapped[str] = mapped_column(String(1))
    nice_route: Mapped[str | None] = mapped_column(String(40))
    nice_recommendation: Mapped[str | None] = mapped_column(String(1000))

    # The assessment
    dtac: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JsonType)
    decision_notes: Mapped[str | None] = mapped_column(String(2000))
    #: Evidence kind -> ISO time it lapses; ``expires_at`` is the earliest of them.
    evidence_expiries: Mapped[dict[str, str]] = mapped_column(JsonType)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    lapsed_evidence: Mapped[list[str] | None] = mapped_column(JsonType)
    version: Mapped[int] = mapped_column(Integer, default=1)

    # Loaded on access (many-to-one: usually from the identity map), keeping the row
    # lock's SELECT ... FOR UPDATE a plain single-table query.
    innovation: Mapped[Innovation] = relationship()
    organisation: Mapped[Organisation] = relationship(foreign_keys=[organisation_id])
    assessor_organisation: Mapped[Organisation | None] = relationship(
        foreign_keys=[assessor_organisation_id])

    __mapper_args__ = {"version_id_col": version}
