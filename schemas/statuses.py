"""The words of every lifecycle and party: organisation kinds, roles, listing, approval,
framework, award and demand signal statuses, an assessor's decision outcomes, and where
``now`` stands in a period.

Each word is written once, here; the schemas' choice tuples (``KINDS``,
``LISTING_STATUSES``, ``APPROVAL_STATUSES``...) are :func:`words` of these enums and the
marketplace imports the enums themselves. Members are :class:`enum.StrEnum`, so they
compare, hash and serialise as their plain string values (``ApprovalStatus.APPROVED ==
"approved"``). The transitions between statuses are the marketplace's business; only the
words are the contract's.
"""
from __future__ import annotations

import enum
from collections.abc import Iterable


class OrganisationKind(enum.StrEnum):
    """What an organisation is (how its code is checked: ``schemas.identifiers``)."""

    ICB = "icb"
    TRUST = "trust"
    INNOVATOR = "innovator"
    ASSESSOR = "assessor"
    FUNDER = "funder"


class Role(enum.StrEnum):
    """What a caller (an API token, a web user) may do."""

    ICB_BUYER = "icb_buyer"
    INNOVATOR = "innovator"
    ASSESSOR = "assessor"
    FUNDER = "funder"
    TRUST_SYSTEM = "trust_system"
    ADMIN = "admin"


class ListingStatus(enum.StrEnum):
    """A catalogue listing: draft, then published, then withdrawn (final)."""

    DRAFT = "draft"
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"


class ApprovalStatus(enum.StrEnum):
    """A central approval of one product version."""

    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    CONDITIONAL = "conditional"
    REJECTED = "rejected"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    EXPIRED = "expired"


class DecisionOutcome(enum.StrEnum):
    """An assessor's decision on a submission under review: the status it leads to."""

    APPROVED = ApprovalStatus.APPROVED.value
    CONDITIONAL = ApprovalStatus.CONDITIONAL.value
    REJECTED = ApprovalStatus.REJECTED.value


class FrameworkStatus(enum.StrEnum):
    """A framework agreement: drafted, published (live from ``starts_at``), expired."""

    DRAFT = "draft"
    PUBLISHED = "published"
    EXPIRED = "expired"


class AwardStatus(enum.StrEnum):
    """A supplier's place on a lot: active until withdrawn or its period ends."""

    ACTIVE = "active"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class Period(enum.StrEnum):
    """Where ``now`` stands in a ``starts_at``..``ends_at`` period (derived when read)."""

    UPCOMING = "upcoming"
    CURRENT = "current"
    ENDED = "ended"



class SignalStatus(enum.StrEnum):
    """A demand signal: open until its ICB closes it with an outcome (final)."""

    OPEN = "open"
    CLOSED = "closed"



class TenderStatus(enum.StrEnum):
    """A tender: drafted, published (questions and sealed responses until the deadlines),
    closed at the submission deadline, evaluated once every response is scored, then
    awarded, or unsuccessful (no responses); cancelled at any point before a contract is
    signed."""

    DRAFT = "draft"
    PUBLISHED = "published"
    CLOSED = "closed"
    EVALUATED = "evaluated"
    AWARDED = "awarded"
    UNSUCCESSFUL = "unsuccessful"
    CANCELLED = "cancelled"


class TenderProcedure(enum.StrEnum):
    """The procedures a buyer runs here: an open procedure, or a further competition among
    the suppliers holding a live award on one lot of a framework."""

    OPEN = "open"
    FRAMEWORK_COMPETITION = "framework_competition"


class CriterionKind(enum.StrEnum):
    """What an award criterion assesses; exactly one criterion of a tender is price."""

    QUALITY = "quality"
    PRICE = "price"
    SOCIAL_VALUE = "social_value"


class ResponseStatus(enum.StrEnum):
    """A sealed tender response: submitted (replaced any number of times before the
    deadline) or withdrawn by its responder."""

    SUBMITTED = "submitted"
    WITHDRAWN = "withdrawn"


class ContractStatus(enum.StrEnum):
    """A contract created by an award: pending through the standstill, active once the
    buyer signs, terminated early; cancelled when its tender is cancelled unsigned."""

    PENDING = "pending"
    ACTIVE = "active"
    TERMINATED = "terminated"
    CANCELLED = "cancelled"


class AllocationStatus(enum.StrEnum):
    """An allocation of a funding pot: active (changed by superseding revisions) until
    withdrawn (final)."""

    ACTIVE = "active"
    WITHDRAWN = "withdrawn"


class AllocationChangeKind(enum.StrEnum):
    """What a revision of an allocation did: ``allocate`` is revision 1, the others are
    the changes a pot's owner posts, each superseding the revision before it."""

    ALLOCATE = "allocate"
    INCREASE = "increase"
    REDUCE = "reduce"
    REPROFILE = "reprofile"
    WITHDRAW = "withdraw"


class OrderStatus(enum.StrEnum):
    """A call-off order: placed when every check of the route passed, rejected (with
    every failed check) otherwise. Both are final; a rejected order is kept as a record."""

    PLACED = "placed"
    REJECTED = "rejected"


class InvoiceStatus(enum.StrEnum):
    """An invoice against a placed order: issued (open) until payments cover its gross."""

    ISSUED = "issued"
    PAID = "paid"


class PaymentStatus(enum.StrEnum):
    """One attempt to pay an invoice through a provider: initiated (recorded before the
    provider is called), pending (the provider has it), then succeeded or failed."""

    INITIATED = "initiated"
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def words(members: Iterable[enum.StrEnum]) -> tuple[str, ...]:
    """The plain string values of ``members`` (an enum class or some of its members), in
    order: the form the schemas' choice tuples take."""
    return tuple(member.value for member in members)
