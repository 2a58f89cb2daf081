"""The event registry: every CloudEvents type of the contract, its schema, topic and key.

This table is the single place that says which ``data`` schema a ``ce_type`` has, on
which topic it travels and which field is its Kafka record key (the aggregate id, so
one aggregate's events stay in one partition, in order, with one ``sequence``). The
relay, the consumers, the JSON Schema export and ``docs/events.md`` all read it.

Keys, per topic (the reasons are in each topic module's docstring): innovations by
``innovation_id``; approvals by ``approval_id`` (one approval per product version, each
its own lifecycle); frameworks and their awards by ``framework_id``; demand by
``signal_id``; tenders by ``tender_id`` and contracts by ``contract_id``; funding by
``pot_id``; orders, invoices and payments of one order by ``order_id``; acks by
``trust_ods``.
"""
from __future__ import annotations

import functools
import inspect
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from marshmallow import Schema

from schemas.events import (
    acks,
    approvals,
    demand,
    frameworks,
    funding,
    innovations,
    orders,
    tenders,
    topics,
)
from schemas.events.common import aggregate_ref

CE_TYPE_PREFIX = "uk.nhs.marketplace."
_CE_TYPE_RE = re.compile(r"uk\.nhs\.marketplace\.(?P<name>[a-z][a-z_.]*[a-z])\.v(?P<v>[1-9][0-9]*)")


@dataclass(frozen=True)
class EventType:
    """One versioned event type: the contract for its ``data`` and how it travels.

    ``example`` is a valid ``data`` in wire (JSON) form; treat it as read-only.
    """

    name: str
    version: int
    topic: str
    schema: type[Schema]
    aggregate: str
    key_field: str
    example: dict[str, Any] = field(compare=False)
    description: str

    @property
    def ce_type(self) -> str:
        """The CloudEvents ``type``, e.g. ``uk.nhs.marketplace.approval.granted.v1``."""
        return f"{CE_TYPE_PREFIX}{self.name}.v{self.version}"

    def key(self, data: Mapping[str, Any]) -> str:
        """The Kafka record key (and ``ce_subject``) of an event with this ``data``."""
        return str(data[self.key_field])

    def aggregate_ref(self, data: Mapping[str, Any]) -> str:
        """``<aggregate>/<key>``: the stream that ``ce_sequence`` counts within."""
        return aggregate_ref(self.aggregate, self.key(data))


def _event(name: str, topic: str, schema: type[Schema], aggregate: str, key_field: str,
           example: dict[str, Any], version: int = 1) -> EventType:
    """An EventType whose description is its schema's docstring (written once)."""
    description = " ".join(inspect.cleandoc(schema.__doc__ or "").split())
    return EventType(name=name, version=version, topic=topic, schema=schema,
                     aggregate=aggregate, key_field=key_field, example=example,
                     description=description)


_I, _A, _F = innovations, approvals, frameworks
_D, _T, _P, _O = demand, tenders, funding, orders
_TYPES: tuple[EventType, ...] = (
    _event("innovation.listed", topics.INNOVATIONS, _I.InnovationListed, "innovation",
           "innovation_id", _I.LISTED_EXAMPLE),
    _event("innovation.updated", topics.INNOVATIONS, _I.InnovationUpdated, "innovation",
           "innovation_id", _I.UPDATED_EXAMPLE),
    _event("innovation.withdrawn", topics.INNOVATIONS, _I.InnovationWithdrawn, "innovation",
           "innovation_id", _I.WITHDRAWN_EXAMPLE),
    _event("approval.granted", topics.APPROVALS, _A.ApprovalGranted, "approval",
           "approval_id", _A.GRANTED_EXAMPLE),
    _event("approval.conditional", topics.APPROVALS, _A.ApprovalConditional, "approval",
           "approval_id", _A.CONDITIONAL_EXAMPLE),
    _event("approval.suspended", topics.APPROVALS, _A.ApprovalSuspended, "approval",
           "approval_id", _A.SUSPENDED_EXAMPLE),
    _event("approval.revoked", topics.APPROVALS, _A.ApprovalRevoked, "approval",
           "approval_id", _A.REVOKED_EXAMPLE),
    _event("approval.expired", topics.APPROVALS, _A.ApprovalExpired, "approval",
           "approval_id", _A.EXPIRED_EXAMPLE),
    _event("framework.published", topics.FRAMEWORKS, _F.FrameworkPublished, "framework",
           "framework_id", _F.PUBLISHED_EXAMPLE),
    _event("framework.award.granted", topics.FRAMEWORKS, _F.FrameworkAwardGranted,
           "framework", "framework_id", _F.AWARD_GRANTED_EXAMPLE),
    _event("framework.award.withdrawn", topics.FRAMEWORKS, _F.FrameworkAwardWithdrawn,
           "framework", "framework_id", _F.AWARD_WITHDRAWN_EXAMPLE),
    _event("framework.expired", topics.FRAMEWORKS, _F.FrameworkExpired, "framework",
           "framework_id", _F.EXPIRED_EXAMPLE),
    _event("demand.signal.posted", topics.DEMAND, _D.DemandSignalPosted, "demand_signal",
           "signal_id", _D.POSTED_EXAMPLE),
    _event("demand.signal.updated", topics.DEMAND, _D.DemandSignalUpdated, "demand_signal",
           "signal_id", _D.UPDATED_EXAMPLE),
    _event("demand.signal.closed", topics.DEMAND, _D.DemandSignalClosed, "demand_signal",
           "signal_id", _D.CLOSED_EXAMPLE),
    _event("tender.published", topics.TENDERS, _T.TenderPublished, "tender", "tender_id",
           _T.TENDER_PUBLISHED_EXAMPLE),
    _event("tender.closed", topics.TENDERS, _T.TenderClosed, "tender", "tender_id",
           _T.TENDER_CLOSED_EXAMPLE),
    _event("tender.awarded", topics.TENDERS, _T.TenderAwarded, "tender", "tender_id",
           _T.TENDER_AWARDED_EXAMPLE),
    _event("tender.cancelled", topics.TENDERS, _T.TenderCancelled, "tender", "tender_id",
           _T.TENDER_CANCELLED_EXAMPLE),
    _event("contract.signed", topics.TENDERS, _T.ContractSigned, "contract", "contract_id",
           _T.CONTRACT_SIGNED_EXAMPLE),
    _event("contract.varied", topics.TENDERS, _T.ContractVaried, "contract", "contract_id",
           _T.CONTRACT_VARIED_EXAMPLE),
    _event("contract.terminated", topics.TENDERS, _T.ContractTerminated, "contract",
           "contract_id", _T.CONTRACT_TERMINATED_EXAMPLE),
    _event("funding.allocated", topics.FUNDING, _P.FundingAllocated, "funding_pot",
           "pot_id", _P.ALLOCATED_EXAMPLE),
    _event("funding.changed", topics.FUNDING, _P.FundingChanged, "funding_pot", "pot_id",
           _P.CHANGED_EXAMPLE),
    _event("funding.withdrawn", topics.FUNDING, _P.FundingWithdrawn, "funding_pot",
           "pot_id", _P.WITHDRAWN_EXAMPLE),
    _event("order.placed", topics.ORDERS, _O.OrderPlaced, "order", "order_id",
           _O.ORDER_PLACED_EXAMPLE),
    _event("order.rejected", topics.ORDERS, _O.OrderRejected, "order", "order_id",
           _O.ORDER_REJECTED_EXAMPLE),
    _event("invoice.issued", topics.ORDERS, _O.InvoiceIssued, "order", "order_id",
           _O.INVOICE_ISSUED_EXAMPLE),
    _event("payment.received", topics.ORDERS, _O.PaymentReceived, "order", "order_id",
           _O.PAYMENT_RECEIVED_EXAMPLE),
    _event("payment.failed", topics.ORDERS, _O.PaymentFailed, "order", "order_id",
           _O.PAYMENT_FAILED_EXAMPLE),
    _event("route.applied", topics.ACKS, acks.RouteApplied, "trust", "trust_ods",
           acks.ROUTE_APPLIED_EXAMPLE),
)


def _build(types: tuple[EventType, ...]) -> dict[str, EventType]:
    """Index by ``ce_type``, refusing a table that contradicts itself."""
    registry: dict[str, EventType] = {}
    aggregates: dict[str, tuple[str, str]] = {}
    for et in types:
        if et.ce_type in registry:
            raise RuntimeError(f"{et.ce_type} is registered twice")
        if not _CE_TYPE_RE.fullmatch(et.ce_type):
            raise RuntimeError(f"{et.ce_type} is not a valid type name")
        if et.topic not in topics.ALL_TOPICS:
            raise RuntimeError(f"{et.ce_type}: unknown topic {et.topic}")
        if et.key_field not in et.schema().fields:
            raise RuntimeError(f"{et.ce_type}: key field {et.key_field} not in its schema")
        # One aggregate has one key and one topic, or its sequence would split.
        if aggregates.setdefault(et.aggregate, (et.topic, et.key_field)) != (
                et.topic, et.key_field):
            raise RuntimeError(f"{et.ce_type}: aggregate {et.aggregate} is inconsistent")
        registry[et.ce_type] = et
    return registry


REGISTRY: dict[str, EventType] = _build(_TYPES)


def parse_ce_type(ce_type: str) -> tuple[str, int]:
    """``(name, version)`` of a type name such as ``uk.nhs.marketplace.order.placed.v1``."""
    match = _CE_TYPE_RE.fullmatch(ce_type)
    if match is None:
        raise ValueError(f"not a marketplace event type: {ce_type!r} (expected "
                         f"'{CE_TYPE_PREFIX}<name>.v<N>')")
    return match["name"], int(match["v"])


def get(ce_type: str) -> EventType:
    """The registered type ``ce_type``; KeyError naming the known versions if absent."""
    try:
        return REGISTRY[ce_type]
    except KeyError:
        known = sorted(t for t in REGISTRY if t.rsplit(".v", 1)[0] == ce_type.rsplit(".v", 1)[0])
        hint = f"; known versions: {', '.join(known)}" if known else ""
        raise KeyError(f"unknown event type {ce_type!r}{hint}") from None


def by_name(name: str) -> EventType:
    """The latest version of event ``name`` (e.g. ``approval.granted``)."""
    versions = [et for et in REGISTRY.values() if et.name == name]
    if not versions:
        raise KeyError(f"unknown event name {name!r}")
    return max(versions, key=lambda et: et.version)


def for_topic(topic: str) -> list[EventType]:
    """Every type published on ``topic``, in registry order."""
    return [et for et in REGISTRY.values() if et.topic == topic]


def topic_for(ce_type: str) -> str:
    """The Kafka topic events of ``ce_type`` are published on."""
    return get(ce_type).topic


@functools.cache
def schema_for(ce_type: str) -> Schema:
    """A shared instance of the ``data`` schema of ``ce_type`` (schemas are stateless)."""
    return get(ce_type).schema()


def validate(ce_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Load ``data`` with its schema: Python values (datetimes, dates) or ValidationError."""
    return schema_for(ce_type).load(data)


def dump(ce_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON-ready wire form of ``data``, validated first (raises ValidationError).

    ``data`` may hold Python values or their JSON forms. Optional fields come out as
    ``null``, never absent, so every event of a type has the same keys.
    """
    schema = schema_for(ce_type)
    wire = schema.dump(schema.load(data))
    return json.loads(json.dumps(wire, allow_nan=False))


def key_for(ce_type: str, data: Mapping[str, Any]) -> str:
    """The Kafka record key of an event of ``ce_type`` with ``data``."""
    return get(ce_type).key(data)
