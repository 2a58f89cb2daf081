"""Open contracting releases as published: one row per OCDS release, in publication order.

``position`` is the cursor of ``GET /ocds/releases?after=``. It is taken from the one
``ocds_position`` counter row, incremented in the same transaction that writes the
release: the counter's row lock is held until that transaction ends, so positions become
visible strictly in order and a reader paging by ``after`` never skips a release that
committed late.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.kernel.db import Base, JsonType, UtcDateTime


class OcdsRelease(Base):
    """One OCDS 1.1 release of a tender's contracting process."""

    __tablename__ = "ocds_release"
    __table_args__ = (
        UniqueConstraint("ocid", "release_id"),
        Index("ix_ocds_release_ocid_position", "ocid", "position"),
    )

    position: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    ocid: Mapped[str] = mapped_column(String(80))
    release_id: Mapped[str] = mapped_column(String(120))
    tender_id: Mapped[str] = mapped_column(ForeignKey("tender.id"), index=True)
    tags: Mapped[list[str]] = mapped_column(JsonType)
    date: Mapped[datetime] = mapped_column(UtcDateTime)
    release: Mapped[dict[str, Any]] = mapped_column(JsonType)


class OcdsPosition(Base):
    """The counter behind :attr:`OcdsRelease.position` (one row, ``name`` ``releases``)."""

    __tablename__ = "ocds_position"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    last: Mapped[int] = mapped_column(BigInteger, default=0)
