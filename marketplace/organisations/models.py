"""Organisations: ICBs, trusts, innovators, the central assessor and funders."""
from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.kernel.clock import utcnow
from marketplace.kernel.db import Base, UtcDateTime, str_enum
from schemas.statuses import OrganisationKind


class Organisation(Base):
    """An organisation, identified by its NHS ODS code or Companies House number.

    ``code`` is the ODS code for NHS bodies and the Companies House number for
    innovators (and for funders that are companies). A merged ICB keeps its row
    and code, pointing at its ``successor``: history stays, lookups follow.
    """

    __tablename__ = "organisation"
    __table_args__ = (
        CheckConstraint("successor_id IS NULL OR successor_id <> id", name="not_own_successor"),
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The organisation's id in events and the API: a UUID, the same in every environment
    #: and after a restore (``id`` is this database's row number, never published).
    public_id: Mapped[str] = mapped_column(String(36), unique=True,
                                           default=lambda: str(uuid.uuid4()))
    code: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[OrganisationKind] = mapped_column(
        str_enum(OrganisationKind, "organisation_kind")
    )
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    successor_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    succeeded_on: Mapped[date | None] = mapped_column(Date)
    #: A supplier's UK VAT registration number (invoices that charge VAT need it).
    vat_number: Mapped[str | None] = mapped_column(String(14))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    parent: Mapped[Organisation | None] = relationship(
        remote_side=[id], foreign_keys=[parent_id], lazy="joined", join_depth=1
    )
    successor: Mapped[Organisation | None] = relationship(
        remote_side=[id], foreign_keys=[successor_id], lazy="joined", join_depth=1
    )

    __mapper_args__ = {"version_id_col": version}

    def current(self, max_depth: int = 20) -> Organisation:
        """The organisation that stands for this one today, following mergers."""
        org, seen = self, {self.id}
        while org.successor is not None:
            org = org.successor
            if org.id in seen or len(seen) > max_depth:
                raise ValueError(f"the succession chain from {self.code} loops")
            seen.add(org.id)
        return org

    @property
    def current_parent(self) -> Organisation | None:
        """A trust's ICB as it is now: the successor of a merged ICB."""
        return self.parent.current() if self.parent is not None else None

    def __repr__(self) -> str:
        return f"<Organisation {self.code} {self.kind}>"
