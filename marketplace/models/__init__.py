"""SQLAlchemy models; importing this package registers every table on the metadata."""
from marketplace.models import events  # noqa: F401
from marketplace.models.audit import AuditEvent
from marketplace.models.idempotency import IdempotencyRecord
from marketplace.models.identity import ApiToken, Role, WebUser
from marketplace.models.organisation import Organisation, OrganisationKind

__all__ = [
    "ApiToken",
    "AuditEvent",
    "IdempotencyRecord",
    "Organisation",
    "OrganisationKind",
    "Role",
    "WebUser",
]
