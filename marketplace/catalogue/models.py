"""The catalogue: innovation listings and their evidence documents.

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

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.catalogue.lifecycle import ListingStatus
from marketplace.kernel.clock import utcnow
from marketplace.kernel.db import Base, JsonType, UtcDateTime, in_list, metadata
from marketplace.organisations.models import Organisation

if TYPE_CHECKING:
    from marketplace.approvals.models import Approval

#: Search objects the migration creates by hand (SQLite FTS5 and its shadow tables,
#: PostgreSQL's generated tsvector column and its index): ``(kind, name)`` pairs.
SEARCH_OBJECTS: frozenset[tuple[str, str]] = frozenset({
    *(("table", f"innovation_fts{suffix}") for suffix in
      ("", "_data", "_idx", "_docsize", "_config")),
    ("column", "innovation.search_vector"),
    ("index", "ix_innovation_search_vector"),
})
metadata.info.setdefault("unmodelled", set()).update(SEARCH_OBJECTS)

#: Fields the innovator edits, all public once the listing is published.
EDITABLE = ("name", "summary", "product_version", "categories", "pathway_stages", "use_cases",
            "esf_tier", "device_class", "device_mark", "pricing_model")


class Innovation(Base):
    """A listing of one product by its innovator; ``product_version`` is the current one.

    ``id`` (a UUID) is the public identifier. ``pk`` is an internal integer key: on SQLite
    it is the rowid, which the FTS5 index points at and which facet rows join on, so a
    search hit or a filter costs one integer lookup rather than two string ones.
    """

    __tablename__ = "innovation"
    __table_args__ = (
        CheckConstraint(f"status IN ({in_list(ListingStatus)})", name="status"),
        Index("ix_innovation_status_published_at", "status", "published_at", "pk"),
        # Covering a live approval's join to its listing (demand, migration 0009): the
        # current version, whether it is published and its key, without the wide row.
        Index("ix_innovation_id_version_status", "id", "product_version", "status", "pk"),
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
