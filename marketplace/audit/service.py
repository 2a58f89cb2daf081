"""Reading the audit trail: admins see everything, others what concerns their organisation.

One exception: a tender response's rows (its submission, replacement and withdrawal) are
its responder's alone, operators included, so the trail never shows who responded to a
tender before its deadline (a response's content is never in the trail at all).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, or_, select

from marketplace.kernel.actor import Actor
from marketplace.kernel.audit_log import AuditEvent

#: Object types whose audit rows only the subject organisation (the responder) reads.
RESPONDERS_ONLY = ("tender_response",)


def query(viewer: Actor, *, object_type: str | None = None, object_id: str | None = None,
          action: str | None = None, actor_id: str | None = None,
          since: datetime | None = None, until: datetime | None = None
          ) -> Select[tuple[AuditEvent]]:
    """Newest first; a party sees rows it caused or rows about its own organisation's objects."""
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc())
    responder = AuditEvent.subject_organisation_id == viewer.organisation_id
    stmt = stmt.where(or_(AuditEvent.object_type.not_in(RESPONDERS_ONLY), responder)
                      if viewer.organisation_id is not None
                      else AuditEvent.object_type.not_in(RESPONDERS_ONLY))
    if not viewer.is_admin:
        stmt = stmt.where(or_(AuditEvent.actor_organisation_id == viewer.organisation_id,
                              AuditEvent.subject_organisation_id == viewer.organisation_id))
    filters = {
        AuditEvent.object_type: object_type,
        AuditEvent.object_id: object_id,
        AuditEvent.action: action,
        AuditEvent.actor_id: actor_id,
    }
    for column, value in filters.items():
        if value is not None:
            stmt = stmt.where(column == value)
    if since is not None:
        stmt = stmt.where(AuditEvent.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.at < until)
    return stmt
