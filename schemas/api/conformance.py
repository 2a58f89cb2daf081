"""API bodies for trust conformance (``/api/v1/trusts/conformance``)."""
from __future__ import annotations

from marshmallow import Schema, fields

#: How a trust adapter stands against the central state (see ``marketplace.conformance``).
CONFORMANCE_STATUSES: tuple[str, ...] = ("current", "lagging", "diverged")

class BehindOut(Schema):
    aggregates = fields.Integer(metadata={"description": "aggregates with unapplied events"})
    events = fields.Integer(metadata={"description": "published events not yet applied"})


class TrustConformanceOut(Schema):
    trust_ods = fields.String()
    status = fields.String(metadata={"enum": list(CONFORMANCE_STATUSES)})
    since = fields.AwareDateTime(metadata={"description": "since when the status holds"})
    route_version = fields.String()
    state_hash = fields.String()
    applied_count = fields.Integer()
    acked_at = fields.AwareDateTime()
    received_at = fields.AwareDateTime()
    behind = fields.Nested(BehindOut)


class ConformanceReport(Schema):
    checked_at = fields.AwareDateTime()
    head = fields.Dict(metadata={"description": "aggregates and events published"})
    summary = fields.Dict(keys=fields.String(), values=fields.Integer())
    trusts = fields.List(fields.Nested(TrustConformanceOut))
