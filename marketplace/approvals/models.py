"""Central approvals: one record per product version of a listing, with its evidence.

The DTAC v2 sections are stored flat (one column per field); evidence documents are
referenced by id. A partial unique index allows one open approval per listing and
product version, so a concurrent second submission fails in the database.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.approvals.lifecycle import OPEN, ApprovalStatus
from marketplace.catalogue.models import Innovation
from marketplace.kernel.db import Base, JsonType, UtcDateTime, in_list
from marketplace.organisations.models import Organisation

OPEN_APPROVAL = f"status IN ({in_list(OPEN)})"


def _evidence_fk() -> Any:
    return mapped_column(ForeignKey("evidence_document.id"))


class Approval(Base):
    """The central assessment (DTAC v2 and more) of one product version of a listing."""

    __tablename__ = "approval"
    __table_args__ = (
        CheckConstraint(f"status IN ({in_list(ApprovalStatus)})", name="status"),
        # At most one open (non-final) approval per innovation and product version.
        Index("uq_approval_open_version", "innovation_id", "product_version", unique=True,
              sqlite_where=text(OPEN_APPROVAL), postgresql_where=text(OPEN_APPROVAL)),
        Index("ix_approval_innovation_version", "innovation_id", "product_version", "status"),
        Index("ix_approval_status_expires_at", "status", "expires_at"),
        # Covering the rule of "pre-approved" (demand: supply and matches, migration
        # 0009): the live approvals with their listing version, read from the index alone.
        Index("ix_approval_live_version", "status", "expires_at", "innovation_id",
              "product_version"),
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
