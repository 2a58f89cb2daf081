"""``/api/v1/trusts/conformance``: which trust adapters are current, lagging or diverged."""
from __future__ import annotations

from typing import Any

from marketplace.conformance import service as conformance
from marketplace.http.endpoint import ApiBlueprint, Call
from schemas.api.conformance import ConformanceReport

bp = ApiBlueprint("conformance", __name__)


@bp.endpoint("GET", "/trusts/conformance", roles=("admin", "icb_buyer", "trust_system"),
             response=ConformanceReport,
             summary="Trust adapters: current, lagging or diverged from the central state")
def trusts_conformance(call: Call) -> Any:
    return conformance.report(call.uow.session.connection(), call.uow.now())
