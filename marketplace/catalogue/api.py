"""``/api/v1/innovations``: the catalogue, listings, their evidence files and history."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Response, url_for

from marketplace.catalogue import categories, evidence
from marketplace.catalogue import search as catalogue_search
from marketplace.catalogue import service as innovations
from marketplace.http.endpoint import PUBLIC, ApiBlueprint, Call, Created
from marketplace.http.wiring import marketplace_of
from schemas.api.audit import AuditEventOut
from schemas.api.categories import CategoryList
from schemas.api.innovations import (
    EvidenceOut,
    EvidenceUpload,
    InnovationCreate,
    InnovationOut,
    InnovationQuery,
    InnovationUpdate,
)

bp = ApiBlueprint("innovations", __name__)

OWNER = ("innovator",)
#: Owner (checked by the service), assessors and admins.
REVIEWERS = ("innovator", "assessor", "admin")


def _evidence_dir() -> Path:
    return Path(marketplace_of().settings.evidence_dir)


def _page_free(query: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in query.items() if k not in ("page", "per_page")}


@bp.endpoint("GET", "/innovations", roles=PUBLIC, query=InnovationQuery,
             response=InnovationOut, paginated=True, errors=(403,),
             summary="The catalogue: full-text search, filters, relevance or recency")
def list_innovations(call: Call) -> Any:
    return catalogue_search.search(call.uow, **_page_free(call.query))


@bp.endpoint("GET", "/categories", roles=PUBLIC, response=CategoryList,
             summary="The catalogue's categories in use, with their listings (a hierarchy)")
def list_categories(call: Call) -> Any:
    return {"items": categories.in_use(call.uow)}


@bp.endpoint("POST", "/innovations", roles=OWNER, body=InnovationCreate, response=InnovationOut,
             status=201, idempotent=True, etag=True, errors=(403,),
             summary="List an innovation (a draft of your organisation)")
def create_innovation(call: Call) -> Created:
    innovation = innovations.create(call.uow, **call.body)
    return Created(innovation, url_for(".get_innovation", innovation_id=innovation.id))


@bp.endpoint("GET", "/innovations/<innovation_id>", roles=PUBLIC, response=InnovationOut,
             etag=True, errors=(404,),
             summary="A listing (drafts: owner, assessors and admins only)")
def get_innovation(call: Call, innovation_id: str) -> Any:
    return innovations.get_visible(call.uow, innovation_id)


@bp.endpoint("PATCH", "/innovations/<innovation_id>", roles=OWNER, body=InnovationUpdate,
             response=InnovationOut, if_match=True, etag=True, errors=(404, 409),
             summary="Edit, publish (status published) or withdraw (status withdrawn)")
def update_innovation(call: Call, innovation_id: str) -> Any:
    assert call.expected_version is not None
    return innovations.update(call.uow, innovation_id, expected_version=call.expected_version,
                              **call.body)


@bp.endpoint("GET", "/innovations/<innovation_id>/history", roles=REVIEWERS,
             response=AuditEventOut, paginated=True, errors=(404,),
             summary="Every change of the listing and its approvals, oldest first")
def innovation_history(call: Call, innovation_id: str) -> Any:
    return innovations.history(call.uow, innovation_id)


@bp.endpoint("POST", "/innovations/<innovation_id>/evidence", roles=OWNER,
             body=EvidenceUpload, response=EvidenceOut, status=201, idempotent=True,
             errors=(404, 409), summary="Upload an evidence file (base64 in JSON)")
def upload_evidence(call: Call, innovation_id: str) -> Created:
    document = evidence.add(call.uow, innovation_id, evidence_dir=_evidence_dir(),
                                        **call.body)
    return Created(document, url_for(".download_evidence", innovation_id=innovation_id,
                                     evidence_id=document.id))


@bp.endpoint("GET", "/innovations/<innovation_id>/evidence", roles=REVIEWERS,
             response=EvidenceOut, paginated=True, errors=(404,),
             summary="The listing's evidence documents (metadata and SHA-256)")
def list_evidence(call: Call, innovation_id: str) -> Any:
    return evidence.documents(call.uow, innovation_id)


@bp.endpoint("GET", "/innovations/<innovation_id>/evidence/<evidence_id>", roles=REVIEWERS,
             errors=(404,), summary="Download an evidence file (checked against its SHA-256)")
def download_evidence(call: Call, innovation_id: str, evidence_id: str) -> Response:
    document, content = evidence.read(call.uow, innovation_id, evidence_id,
                                                     _evidence_dir())
    return Response(content, mimetype=document.media_type, headers={
        # RFC 6266: any Unicode name in filename*, the header itself ASCII (else a 500);
        # nosniff so a browser never runs the bytes as something other than declared.
        "Content-Disposition": evidence.content_disposition(document.filename),
        "X-Content-Type-Options": "nosniff",
        "ETag": f'"{document.sha256}"', "Digest": f"sha-256={document.sha256}"})
