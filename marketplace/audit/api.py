"""``/api/v1/audit``: the append-only audit trail."""
from __future__ import annotations

from typing import Any

from marketplace.http.endpoint import ApiBlueprint, Call
from marketplace.services import audit_trail
from schemas.api.audit import AuditEventOut, AuditQuery

bp = ApiBlueprint("audit", __name__)

ALL_ROLES = ("admin", "icb_buyer", "innovator", "assessor", "funder", "trust_system")


@bp.endpoint("GET", "/audit", roles=ALL_ROLES, query=AuditQuery, response=AuditEventOut,
             paginated=True, summary="The audit trail (admin: all; others: their own objects)")
def list_audit(call: Call) -> Any:
    return audit_trail.query(call.actor, **{k: v for k, v in call.query.items()
                                            if k not in ("page", "per_page")})
