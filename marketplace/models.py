"""SQLAlchemy models; importing this package registers every table on the metadata."""
from marketplace.models import events  # noqa: F401
from marketplace.models.audit import AuditEvent
from marketplace.models.catalogue import (
    Approval,
    EvidenceDocument,
    Innovation,
    InnovationCategory,
    InnovationPathwayStage,
)
from marketplace.models.conformance import TrustConformance
from marketplace.models.idempotency import IdempotencyRecord
from marketplace.models.identity import ApiToken, Role, WebUser
from marketplace.models.organisation import Organisation, OrganisationKind

__all__ = [
    "ApiToken",
    "Approval",
    "AuditEvent",
    "EvidenceDocument",
    "IdempotencyRecord",
    "Innovation",
    "InnovationCategory",
    "InnovationPathwayStage",
    "Organisation",
    "OrganisationKind",
    "Role",
    "TrustConformance",
    "WebUser",
]
