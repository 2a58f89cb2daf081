"""The append-only audit trail: the table every unit of work writes a row to per change.

Database triggers (migration 0001) refuse UPDATE and DELETE. The audit area reads it;
the kernel owns it because the unit of work writes it in the change's own transaction.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from marketplace.kernel.clock import utcnow
from marketplace.kernel.db import Base, JsonType, UtcDateTime


class AuditEvent(Base):
    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    actor_id: Mapped[str] = mapped_column(String(64))
    actor_role: Mapped[str] = mapped_column(String(32))
    actor_organisation_id: Mapped[int | None] = mapped_column(Integer, index=True)
    subject_organisation_id: Mapped[int | None] = mapped_column(Integer, index=True)
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(String(64))
    changes: Mapped[dict[str, Any]] = mapped_column(JsonType)
    request_id: Mapped[str | None] = mapped_column(String(64))


def diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """Only the fields that changed, as ``{field: [old, new]}``.

    A creation has ``before=None`` (every field ``[None, value]``); a deletion the reverse.
    """
    before = before or {}
    after = after or {}
    changes: dict[str, Any] = {}
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old != new:
            changes[key] = [old, new]
    return changes
