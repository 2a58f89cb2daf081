"""``/api/v1/approvals``: submission, the review queue and the assessor's decisions.

Assessors take a submission into review (``start-review``), then decide; suspend,
reinstate and revoke act on live approvals. Each is one guarded transition (409 with
the reason when the approval's status does not allow it).
"""
from __future__ import annotations

from typing import Any

from flask import url_for

from marketplace.approvals import service as approvals
from marketplace.http.endpoint import ApiBlueprint, Call, Created
from schemas.api.approvals import (
    ActionIn,
    ApprovalOut,
    ApprovalQuery,
    ApprovalSubmission,
    DecisionIn,
    ReinstateIn,
)

bp = ApiBlueprint("approvals", __name__)

ASSESSOR = ("assessor",)
READERS = ("assessor", "innovator")
TRANSITION = {"response": ApprovalOut, "etag": True, "idempotent": True,
              "errors": (404, 409)}


@bp.endpoint("POST", "/innovations/<innovation_id>/approvals", roles=("innovator",),
             body=ApprovalSubmission, response=ApprovalOut, status=201, idempotent=True,
             etag=True, errors=(404, 409),
             summary="Submit evidence for approval of the listing's current product version")
def submit_approval(call: Call, innovation_id: str) -> Created:
    approval = approvals.submit(call.uow, innovation_id, **call.body)
    return Created(approval, url_for(".get_approval", approval_id=approval.id))


@bp.endpoint("GET", "/approvals", roles=READERS, query=ApprovalQuery, response=ApprovalOut,
             paginated=True, summary="The review queue (innovators: their own approvals)")
def list_approvals(call: Call) -> Any:
    return approvals.list_query(call.uow, **{k: v for k, v in call.query.items()
                                             if k not in ("page", "per_page")})


@bp.endpoint("GET", "/approvals/<approval_id>", roles=READERS, response=ApprovalOut,
             etag=True, errors=(404,), summary="An approval record")
def get_approval(call: Call, approval_id: str) -> Any:
    return approvals.get_visible(call.uow, approval_id)


@bp.endpoint("POST", "/approvals/<approval_id>/start-review", roles=ASSESSOR,
             summary="Take a submission into review (submitted -> under_review)", **TRANSITION)
def start_review(call: Call, approval_id: str) -> Any:
    return approvals.start_review(call.uow, approval_id)


@bp.endpoint("POST", "/approvals/<approval_id>/decision", roles=ASSESSOR, body=DecisionIn,
             summary="Decide: approved, conditional or rejected, with per-section results",
             **TRANSITION)
def decide(call: Call, approval_id: str) -> Any:
    return approvals.decide(call.uow, approval_id, **call.body)


@bp.endpoint("POST", "/approvals/<approval_id>/suspend", roles=ASSESSOR, body=ActionIn,
             summary="Suspend a live approval, with a reason", **TRANSITION)
def suspend(call: Call, approval_id: str) -> Any:
    return approvals.suspend(call.uow, approval_id, **call.body)


@bp.endpoint("POST", "/approvals/<approval_id>/reinstate", roles=ASSESSOR, body=ReinstateIn,
             summary="Lift a suspension (back to approved or conditional)", **TRANSITION)
def reinstate(call: Call, approval_id: str) -> Any:
    return approvals.reinstate(call.uow, approval_id, **call.body)


@bp.endpoint("POST", "/approvals/<approval_id>/revoke", roles=ASSESSOR, body=ActionIn,
             summary="Revoke an approval for good, with a reason", **TRANSITION)
def revoke(call: Call, approval_id: str) -> Any:
    return approvals.revoke(call.uow, approval_id, **call.body)
