"""Every area's models: importing this module registers every table on the metadata.

Migrations, schema comparisons and the bootstrap import it, so relationships named by
string across areas (a listing's approvals) resolve before first use.
"""
from marketplace.approvals.models import Approval
from marketplace.catalogue.models import (
    EvidenceDocument,
    Innovation,
    InnovationCategory,
    InnovationPathwayStage,
)
from marketplace.conformance.models import TrustConformance
from marketplace.contracts.models import Contract, ContractLine, ContractVariation
from marketplace.demand.models import (
    DemandSignal,
    DemandSignalCategory,
    DemandSignalPathwayStage,
    DemandTally,
)
from marketplace.frameworks.models import (
    Framework,
    FrameworkAward,
    FrameworkAwardLine,
    FrameworkLot,
)
from marketplace.funding import models as funding_models  # noqa: F401  (funding tables)
from marketplace.http.idempotency_record import IdempotencyRecord
from marketplace.identity.models import ApiToken, WebUser
from marketplace.kernel import outbox  # noqa: F401  (the event tables)
from marketplace.kernel.audit_log import AuditEvent
from marketplace.ocds.models import OcdsPosition, OcdsRelease
from marketplace.orders.models import (  # noqa: F401  (orders, invoices, payments)
    Invoice,
    InvoiceLine,
    Order,
    OrderLine,
    Payment,
    StripeCustomer,
    StripeEvent,
)
from marketplace.organisations.models import Organisation
from marketplace.tenders.models import (
    Tender,
    TenderCriterion,
    TenderQuestion,
    TenderResponse,
    TenderScore,
)

__all__ = [
    "ApiToken",
    "Approval",
    "AuditEvent",
    "Contract",
    "ContractLine",
    "ContractVariation",
    "DemandSignal",
    "DemandSignalCategory",
    "DemandSignalPathwayStage",
    "DemandTally",
    "EvidenceDocument",
    "Framework",
    "FrameworkAward",
    "FrameworkAwardLine",
    "FrameworkLot",
    "IdempotencyRecord",
    "Innovation",
    "InnovationCategory",
    "InnovationPathwayStage",
    "OcdsPosition",
    "OcdsRelease",
    "Organisation",
    "Tender",
    "TenderCriterion",
    "TenderQuestion",
    "TenderResponse",
    "TenderScore",
    "TrustConformance",
    "WebUser",
]
