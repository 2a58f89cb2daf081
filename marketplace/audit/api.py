"""``/api/v1/audit``: the append-only audit trail."""
from __future__ import annotations

from typing import Any

from marketplace.audit import service as audit_trail
from marketplace.http.endpoint import ApiBlueprint, Call
from schemas.api.audit import AuditEventOut, AuditQuery
from schemas.statuses import Role, words

bp = ApiBlueprint("audit", __name__)

ALL_ROLES = words(Role)


@bp.endpoint("GET", "/audit", roles=ALL_ROLES, query=AuditQuery, response=AuditEventOut,
             paginated=True, summary="The audit trail (admin: all; others: their own objects)")
def list_audit(call: Call) -> Any:
    return audit_trail.query(call.actor, **{k: v for k, v in call.query.items()
                                            if k not in ("page", "per_page")})
