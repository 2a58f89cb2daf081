"""``/api/v1/trusts/conformance``: which trust adapters are current, lagging or diverged."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from marketplace.http.endpoint import ApiBlueprint, Call
from marketplace.services import conformance

bp = ApiBlueprint("conformance", __name__)


class BehindOut(Schema):
    aggregates = fields.Integer(metadata={"description": "aggregates with unapplied events"})
    events = fields.Integer(metadata={"description": "published events not yet applied"})


class TrustConformanceOut(Schema):
    trust_ods = fields.String()
    status = fields.String(metadata={"enum": ["current", "lagging", "diverged"]})
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


@bp.endpoint("GET", "/trusts/conformance", roles=("admin", "icb_buyer", "trust_system"),
             response=ConformanceReport,
             summary="Trust adapters: current, lagging or diverged from the central state")
def trusts_conformance(call: Call) -> Any:
    return conformance.report(call.uow.session.connection(), call.uow.now())
