"""``/trust/conformance``: whether the signed-in trust's adapter has applied the standard
route as published (current, lagging or diverged, and since when), and every trust's
state beside it (as ``GET /api/v1/trusts/conformance``)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint
from werkzeug.wrappers import Response

from marketplace.conformance import service as conformance
from marketplace.orders.pages import signed_in_as
from marketplace.web.formatting import formatting, label
from marketplace.web.pages import current_actor, render, unit_of_work
from schemas.api.conformance import ConformanceReport
from schemas.statuses import Role

bp = Blueprint("conformance_pages", __name__)

#: The roles the API shows the report to.
READERS = frozenset({Role.TRUST_SYSTEM.value, Role.ICB_BUYER.value, Role.ADMIN.value})
STATUS_WORDS = {"current": "Current", "lagging": "Lagging", "diverged": "Diverged"}


@bp.get("/trust/conformance")
def trust_conformance() -> tuple[str, int] | Response:
    if (refused := signed_in_as(READERS)) is not None:
        return refused
    with unit_of_work() as uow:
        shown: dict[str, Any] = ConformanceReport().dump(
            conformance.report(uow.session.connection(), uow.now()))
    code = current_actor().organisation_code
    mine = next((t for t in shown["trusts"] if t["trust_ods"] == code), None) \
        if str(current_actor().role) == Role.TRUST_SYSTEM else None
    return render("trust/conformance.html", "Route conformance", report=shown, mine=mine,
                  code=code, is_trust=str(current_actor().role) == Role.TRUST_SYSTEM,
                  status_words=lambda s: STATUS_WORDS.get(s, label(s)), label=label,
                  **formatting())
