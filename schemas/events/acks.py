"""Events of topic ``marketplace.acks``: acknowledgements from trust adapters.

Keyed by ``trust_ods``: each trust's acknowledgements form one stream, and the latest
one tells the marketplace how far that trust got and what state it reached, so it can
say which trusts are current, lagging or diverged.
"""
from __future__ import annotations

from typing import Any

from marshmallow import fields

from schemas.events.common import (
    AGGREGATE_REF_PATTERN,
    EX_APPROVAL,
    EX_CONTRACT,
    EX_FRAMEWORK,
    EX_ORDER,
    EX_TRUST,
    EventSchema,
    aggregate_ref,
)
from schemas.fields import (
    SHA256_HEX_PATTERN,
    Count,
    OdsCode,
    Pattern,
    Timestamp,
    doc,
)

ROUTE_VERSION_PATTERN = r"^[0-9]+\.[0-9]+(\.[0-9]+)?$"


class RouteApplied(EventSchema):
    """A trust adapter applied events under the procurement route: how far it got
    (last `sequence` per aggregate it has applied) and the hash of its resulting state.
    Two trusts that applied the same events under the same route version report the
    same `state_hash`."""

    trust_ods = OdsCode("ODS code of the acknowledging trust (record key of this topic).",
                        kind="trust")
    route_version = Pattern(ROUTE_VERSION_PATTERN, "Version of the route rule set applied.")
    last_sequence = fields.Dict(
        keys=Pattern(AGGREGATE_REF_PATTERN),
        values=Count(minimum=1),
        **doc("Last applied `sequence` per aggregate, keyed `<aggregate>/<key>` (e.g. "
              "`approval/<approval_id>`), for every aggregate the trust has seen."))
    state_hash = Pattern(SHA256_HEX_PATTERN, "SHA-256 (lower-case hex) of the trust's "
                         "route state, as defined by the route version.")
    applied_count = Count("Events applied since the adapter's state began.")
    at = Timestamp("When the adapter reached this state.")


ROUTE_APPLIED_EXAMPLE: dict[str, Any] = {
    "trust_ods": EX_TRUST,
    "route_version": "1.0",
    "last_sequence": {
        aggregate_ref("approval", EX_APPROVAL): 2,
        aggregate_ref("contract", EX_CONTRACT): 1,
        aggregate_ref("framework", EX_FRAMEWORK): 3,
        aggregate_ref("order", EX_ORDER): 4,
    },
    "state_hash": "9f2c4e7a1b3d5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8",
    "applied_count": 10,
    "at": "2026-08-28T10:00:02+01:00",
}
