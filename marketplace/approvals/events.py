"""The ``approval.*`` events: the only place that builds their payloads.

Types come from the contract's registry; each payload is validated against its schema
when the unit of work appends it to the outbox. ``approval.granted`` and
``approval.conditional`` carry the whole assessment, so a trust's register is built from
events alone; the others only change the record's status. A rejection has no event: it
changes nothing a trust holds.
"""
from __future__ import annotations

from typing import Any

from marketplace.approvals.models import Approval
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.organisations.models import Organisation
from schemas.events import registry
from schemas.statuses import ApprovalStatus

GRANTED = registry.by_name("approval.granted")
CONDITIONAL = registry.by_name("approval.conditional")
SUSPENDED = registry.by_name("approval.suspended")
REVOKED = registry.by_name("approval.revoked")
EXPIRED = registry.by_name("approval.expired")


def _ref(approval: Approval) -> dict[str, Any]:
    return {"approval_id": approval.id, "innovation_id": approval.innovation_id,
            "innovator_org_id": approval.organisation.public_id,
            "product_version": approval.product_version}


def _assessor(approval: Approval) -> Organisation:
    assert approval.assessor_organisation is not None, "a decided approval has an assessor"
    return approval.assessor_organisation


def decided(uow: UnitOfWork, approval: Approval, *, reinstated: bool) -> None:
    """``approval.granted`` / ``approval.conditional``: the whole assessment. A
    reinstatement repeats it with ``reinstated``."""
    event = GRANTED if approval.status == ApprovalStatus.APPROVED else CONDITIONAL
    uow.emit(event, {
        **_ref(approval),
        "status": approval.status,
        "innovator_companies_house_number": approval.organisation.code,
        "assessor_org_id": _assessor(approval).public_id,
        "dtac": approval.dtac,
        "dspt_status": approval.dspt_status,
        "dspt_year": approval.dspt_year,
        "cyber_essentials_level": approval.cyber_essentials_level,
        "cyber_essentials_expires_on": approval.cyber_essentials_expires_on,
        "penetration_test_on": approval.penetration_test_on,
        "device_class": approval.device_class,
        "device_mark": approval.device_mark,
        "device_certificate_expires_on": approval.device_certificate_expires_on,
        "nice_esf_tier": approval.nice_esf_tier,
        "nice_route": approval.nice_route,
        "conditions": approval.conditions,
        "decided_at": approval.status_changed_at if reinstated else approval.decided_at,
        "expires_at": approval.expires_at,
        "reinstated": reinstated,
    })


def suspended(uow: UnitOfWork, approval: Approval) -> None:
    uow.emit(SUSPENDED, {
        **_ref(approval), "status": "suspended", "previous_status": approval.previous_status,
        "reason_code": approval.reason_code, "reason": approval.reason,
        "suspended_at": approval.status_changed_at})


def revoked(uow: UnitOfWork, approval: Approval) -> None:
    uow.emit(REVOKED, {
        **_ref(approval), "status": "revoked", "reason_code": approval.reason_code,
        "reason": approval.reason, "revoked_at": approval.status_changed_at})


def expired(uow: UnitOfWork, approval: Approval) -> None:
    uow.emit(EXPIRED, {
        **_ref(approval), "status": "expired", "expires_at": approval.expires_at,
        "expired_at": approval.status_changed_at, "lapsed_evidence": approval.lapsed_evidence})
