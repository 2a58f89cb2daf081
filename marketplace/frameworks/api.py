"""``/api/v1/frameworks``: framework agreements, their lots and framework awards.

The marketplace operator (admin) drafts a framework, adds lots, publishes it, awards
approved innovations places on its lots and withdraws awards; everyone reads published
frameworks (drafts are the operator's). Each step is one guarded transition: 409 with
the allowed actions when the status does not allow it.
"""
from __future__ import annotations

from typing import Any

from flask import url_for

from marketplace.frameworks import service as frameworks
from marketplace.http.endpoint import PUBLIC, ApiBlueprint, Call, Created
from schemas.api.frameworks import (
    AwardCreate,
    AwardOut,
    FrameworkCreate,
    FrameworkOut,
    FrameworkQuery,
    LotCreate,
    LotOut,
    WithdrawIn,
)

bp = ApiBlueprint("frameworks", __name__)

ADMIN = ("admin",)
CREATES = {"status": 201, "idempotent": True, "etag": True}


@bp.endpoint("GET", "/frameworks", roles=PUBLIC, query=FrameworkQuery, response=FrameworkOut,
             paginated=True, summary="Frameworks, with their lots and awards (drafts: admin)")
def list_frameworks(call: Call) -> Any:
    return frameworks.list_query(call.uow, **{k: v for k, v in call.query.items()
                                              if k not in ("page", "per_page")})


@bp.endpoint("POST", "/frameworks", roles=ADMIN, body=FrameworkCreate, response=FrameworkOut,
             errors=(409,), summary="Draft a framework agreement", **CREATES)
def create_framework(call: Call) -> Created:
    framework = frameworks.create(call.uow, **call.body)
    return Created(framework, url_for(".get_framework", framework_id=framework.id))


@bp.endpoint("GET", "/frameworks/<framework_id>", roles=PUBLIC, response=FrameworkOut,
             etag=True, errors=(404,), summary="A framework, its lots and its awards")
def get_framework(call: Call, framework_id: str) -> Any:
    return frameworks.get_visible(call.uow, framework_id)


@bp.endpoint("POST", "/frameworks/<framework_id>/publish", roles=ADMIN, response=FrameworkOut,
             etag=True, idempotent=True, errors=(404, 409),
             summary="Publish a draft with its lots (call-offs from starts_at)")
def publish_framework(call: Call, framework_id: str) -> Any:
    return frameworks.publish(call.uow, framework_id)


@bp.endpoint("POST", "/frameworks/<framework_id>/lots", roles=ADMIN, body=LotCreate,
             response=LotOut, errors=(404, 409), summary="Add a lot to a draft framework",
             **CREATES)
def add_lot(call: Call, framework_id: str) -> Created:
    lot = frameworks.add_lot(call.uow, framework_id, **call.body)
    return Created(lot, url_for(".get_lot", framework_id=framework_id, lot_id=lot.id))


@bp.endpoint("GET", "/frameworks/<framework_id>/lots/<lot_id>", roles=PUBLIC,
             response=LotOut, errors=(404,), summary="A lot of a framework")
def get_lot(call: Call, framework_id: str, lot_id: str) -> Any:
    return frameworks.get_lot(call.uow, framework_id, lot_id)


@bp.endpoint("POST", "/frameworks/<framework_id>/awards", roles=ADMIN, body=AwardCreate,
             response=AwardOut, errors=(404, 409),
             summary="Award an approved innovation a place on a lot, with price ceilings",
             **CREATES)
def grant_award(call: Call, framework_id: str) -> Created:
    award = frameworks.grant_award(call.uow, framework_id, **call.body)
    return Created(award, url_for(".get_award", framework_id=framework_id, award_id=award.id))


@bp.endpoint("GET", "/frameworks/<framework_id>/awards/<award_id>", roles=PUBLIC,
             response=AwardOut, etag=True, errors=(404,), summary="A framework award")
def get_award(call: Call, framework_id: str, award_id: str) -> Any:
    return frameworks.get_award(call.uow, framework_id, award_id)


@bp.endpoint("POST", "/frameworks/<framework_id>/awards/<award_id>/withdraw", roles=ADMIN,
             body=WithdrawIn, response=AwardOut, etag=True, idempotent=True,
             errors=(404, 409), summary="Withdraw an award, with a reason")
def withdraw_award(call: Call, framework_id: str, award_id: str) -> Any:
    return frameworks.withdraw(call.uow, framework_id, award_id, **call.body)
