"""The catalogue's pages: ``/`` (search and filters, as ``GET /api/v1/innovations``) and an
innovation's page (its approval by DTAC section, the evidence assessed and its expiry).

Each view parses the query with the API's schema, calls the catalogue's service in a unit
of work acting as the signed-in person (or anonymously), and renders.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from marketplace.catalogue import categories
from marketplace.catalogue import search as catalogue_search
from marketplace.catalogue import service as innovations
from marketplace.catalogue.models import Innovation
from marketplace.http.pagination import paginate
from marketplace.web.formatting import label
from marketplace.web.forms import load
from marketplace.web.pages import page_number, render, unit_of_work
from schemas.api.innovations import InnovationOut, InnovationQuery
from schemas.events.common import ESF_TIERS, PATHWAY_STAGES

bp = Blueprint("catalogue_pages", __name__)

PER_PAGE = 20
#: DTAC sections as the assessor's decision records them, in the order of the standard.
DTAC_SECTIONS = (("c1", "C1 Clinical safety"), ("c2", "C2 Data protection"),
                 ("c3", "C3 Technical security"), ("c4", "C4 Interoperability"),
                 ("d", "D Usability and accessibility"))
#: The evidence an approval rests on (the files are the owner's and the assessor's).
EVIDENCE = (("safety_case_evidence_id", "Clinical safety case (DCB0129)"),
            ("hazard_log_evidence_id", "Hazard log"),
            ("dpia_evidence_id", "Data protection impact assessment"),
            ("penetration_test_evidence_id", "Penetration test report"),
            ("device_certificate_evidence_id", "Medical device certificate"))



def _query() -> tuple[dict[str, Any], dict[str, Any]]:
    """The filters asked for (the API's query schema) and any errors, by field."""
    raw = {k: v for k, v in request.args.items() if v != "" and k != "page"}
    if raw.get("approved") == "on":
        raw["approved"] = "true"
    return load(InnovationQuery, raw)



@bp.get("/")
def catalogue() -> tuple[str, int]:
    query, errors = _query()
    with unit_of_work() as uow:
        found = paginate(uow.session, catalogue_search.search(uow, **query), InnovationOut(),
                         page_number(), PER_PAGE) if not errors else None
        in_use = categories.in_use(uow)
    return render("catalogue/index.html", "Find an approved innovation",
                  status=422 if errors else 200, found=found, errors=errors,
                  values=request.args,
                  category_options=[(c["category"], f"{label(c['category'])} "
                                     f"({c['listings']})") for c in in_use],
                  stage_options=[(s, label(s)) for s in PATHWAY_STAGES],
                  tier_options=[(t, f"Tier {t}") for t in ESF_TIERS])



def _approval_view(innovation: Innovation) -> dict[str, Any] | None:
    approval = innovation.current_approval
    if approval is None:
        return None
    dtac = approval.dtac or {}
    return {"status": approval.status, "product_version": approval.product_version,
            "expires_at": approval.expires_at, "decided_at": approval.decided_at,
            "sections": [(name, dtac.get(key)) for key, name in DTAC_SECTIONS],
            "evidence": [name for key, name in EVIDENCE if getattr(approval, key, None)],
            "esf_tier": approval.nice_esf_tier}


@bp.get("/innovations/<innovation_id>")
def innovation(innovation_id: str) -> tuple[str, int]:
    with unit_of_work() as uow:
        listing = innovations.get_visible(uow, innovation_id)
        shown = InnovationOut().dump(listing)
        approval = _approval_view(listing)
    return render("catalogue/innovation.html", shown["name"], listing=shown,
                  approval=approval, label=label)
