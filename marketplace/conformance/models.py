"""The latest ``route.applied`` acknowledgement of each trust adapter.

One row per trust, replaced by each newer ack: where the trust stands (last applied
sequence per aggregate), under which route version, with which state hash, and since
when it has stood there. Whether that is current, lagging or diverged is worked out
when asked (``marketplace.conformance.service``), against the outbox and the others.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.kernel.db import Base, JsonType, UtcDateTime


class TrustConformance(Base):
    __tablename__ = "trust_conformance"

    trust_ods: Mapped[str] = mapped_column(String(8), primary_key=True)
    route_version: Mapped[str] = mapped_column(String(20))
    last_sequence: Mapped[dict[str, Any]] = mapped_column(JsonType)
    state_hash: Mapped[str] = mapped_column(String(64))
    applied_count: Mapped[int] = mapped_column(BigInteger)
    acked_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ack_id: Mapped[str] = mapped_column(String(100))
    ack_sequence: Mapped[int] = mapped_column(BigInteger)
    # When the trust first reported this position and hash (what "since" is measured from).
    position_since: Mapped[datetime] = mapped_column(UtcDateTime)
    acks_received: Mapped[int] = mapped_column(Integer)
