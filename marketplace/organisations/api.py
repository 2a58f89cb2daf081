"""``/api/v1/organisations``."""
from __future__ import annotations

from typing import Any

from flask import url_for

from marketplace.http.endpoint import PUBLIC, ApiBlueprint, Call, Created
from marketplace.organisations import service as organisations
from schemas.api.organisations import (
    OrganisationCreate,
    OrganisationDetail,
    OrganisationOut,
    OrganisationQuery,
    OrganisationUpdate,
)

bp = ApiBlueprint("organisations", __name__)


def _detail(call: Call, code: str) -> dict[str, Any]:
    org = organisations.resolve(call.uow, code)
    attributes = [f.attribute or name for name, f in OrganisationOut().fields.items()]
    out = {attribute: getattr(org, attribute) for attribute in attributes}
    out["requested_code"] = code.upper()
    out["predecessors"] = organisations.predecessors(call.uow, org)
    return out


@bp.endpoint("GET", "/organisations", roles=PUBLIC, summary="List organisations",
             query=OrganisationQuery, response=OrganisationOut, paginated=True,
             errors=(404,))
def list_organisations(call: Call) -> Any:
    parent = organisations.resolve(call.uow, call.query["parent"]) \
        if call.query.get("parent") else None
    return organisations.list_query(call.uow, call.query.get("kind"), parent,
                                    call.query.get("q"))


@bp.endpoint("POST", "/organisations", roles=("admin",), summary="Add an organisation",
             body=OrganisationCreate, response=OrganisationOut, status=201, idempotent=True,
             etag=True)
def create_organisation(call: Call) -> Created:
    org = organisations.add(call.uow, **call.body)
    return Created(org, url_for(".get_organisation", ods=org.code))


@bp.endpoint("GET", "/organisations/<ods>", roles=PUBLIC, response=OrganisationDetail,
             etag=True, errors=(409,),
             summary="An organisation; a merged ICB's code finds its successor")
def get_organisation(call: Call, ods: str) -> Any:
    return _detail(call, ods)


@bp.endpoint("PATCH", "/organisations/<ods>", roles=("admin",), body=OrganisationUpdate,
             response=OrganisationOut, if_match=True, etag=True,
             summary="Rename, move a trust, or record an ICB merger")
def update_organisation(call: Call, ods: str) -> Any:
    assert call.expected_version is not None
    return organisations.update(call.uow, ods, expected_version=call.expected_version,
                                **call.body)

