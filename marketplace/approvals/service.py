"""Central approvals: assessed once (DTAC v2, DSPT, cyber, device, NICE), trusted everywhere.

One approval record covers one product version of a listing. Every status change goes
through the transition table in :mod:`marketplace.approvals.lifecycle`, under a row
lock, is audited and emits the contract's ``approval.*`` event in the same transaction;
a forbidden change raises before anything is written. Only assessors decide, and never
on a product of their own organisation.
"""
from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, select
from sqlalchemy.exc import IntegrityError

from marketplace.approvals import events, rules
from marketplace.approvals.lifecycle import (
    DECISIONS,
    OPEN,
    PRE_APPROVED,
    ApprovalAction,
    ApprovalStatus,
    next_status,
)
from marketplace.approvals.models import Approval
from marketplace.catalogue import service as innovations
from marketplace.catalogue.lifecycle import ListingStatus
from marketplace.catalogue.models import EvidenceDocument, Innovation
from marketplace.kernel.actor import Actor
from marketplace.kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from marketplace.kernel.row_lock import locked
from marketplace.kernel.unit_of_work import UnitOfWork
from schemas.events.approvals import dspt_year_error
from schemas.statuses import DecisionOutcome, Role

#: Submission field naming an evidence document -> the document kind it must be.
EVIDENCE_REFERENCES: dict[str, str] = {
    "safety_case_evidence_id": "dcb0129_safety_case",
    "hazard_log_evidence_id": "hazard_log",
    "dpia_evidence_id": "dpia",
    "penetration_test_evidence_id": "penetration_test_report",
    "device_certificate_evidence_id": "device_certificate",
}
_SNAPSHOT_SKIP = {"version"}


def snapshot(approval: Approval) -> dict[str, Any]:
    """Every stored field: the audit row of a change shows exactly what moved."""
    return {c.key: getattr(approval, c.key) for c in Approval.__table__.columns
            if c.key not in _SNAPSHOT_SKIP}


def live_for_current_version(now: datetime) -> ColumnElement[bool]:
    """SQL joining an approval to its listing: it is live at ``now`` and covers the
    listing's *current* product version (the rule of "pre-approved")."""
    return and_(Approval.innovation_id == Innovation.id,
                Approval.product_version == Innovation.product_version,
                Approval.status.in_(PRE_APPROVED), Approval.expires_at > now)


def pre_approved_now(now: datetime) -> ColumnElement[bool]:
    """SQL: the listing's *current* product version holds a live approval at ``now``."""
    return exists().where(live_for_current_version(now))


# --- reading ----------------------------------------------------------------------------
def _may_read(actor: Actor, approval: Approval) -> bool:
    if actor.role in (Role.ASSESSOR, Role.ADMIN):
        return True
    return actor.role == Role.INNOVATOR and actor.organisation_id == approval.organisation_id


def get_visible(uow: UnitOfWork, approval_id: str) -> Approval:
    approval = uow.session.get(Approval, approval_id)
    if approval is None or not _may_read(uow.actor, approval):
        raise NotFound(f"No approval has the id {approval_id!r}.")
    return approval


def list_query(uow: UnitOfWork, *, status: str | None = None,
               innovation_id: str | None = None, product_version: str | None = None
               ) -> Select[tuple[Approval]]:
    """The review queue, oldest submission first; innovators see their own only."""
    stmt = select(Approval).order_by(Approval.submitted_at, Approval.id)
    if uow.actor.role not in (Role.ASSESSOR, Role.ADMIN):
        stmt = stmt.where(Approval.organisation_id == uow.actor.organisation_id)
    for column, value in ((Approval.status, status), (Approval.innovation_id, innovation_id),
                          (Approval.product_version, product_version)):
        if value is not None:
            stmt = stmt.where(column == value)
    return stmt


# --- submission -------------------------------------------------------------------------
def _check_evidence(uow: UnitOfWork, innovation: Innovation, fields: dict[str, Any]) -> None:
    errors: dict[str, list[str]] = {}
    for name, kind in EVIDENCE_REFERENCES.items():
        if fields.get(name) is None:
            continue
        document = uow.session.get(EvidenceDocument, fields[name])
        if document is None or document.innovation_id != innovation.id:
            errors[name] = ["no such evidence document on this listing"]
        elif document.kind != kind:
            errors[name] = [f"must be a {kind} document, not {document.kind}"]
    if errors:
        raise InvalidInput("Some evidence references are not valid.", errors)


def _check_submission(fields: dict[str, Any], today: date) -> None:
    innovations.check_device(fields["device_class"], fields["device_mark"])
    tested_on = fields.get("penetration_test_on")
    if tested_on is not None and tested_on > today:
        raise InvalidInput("A penetration test is reported once it has taken place.",
                           {"penetration_test_on": ["in the future"]})
    if fields["device_class"] != "not_a_device" and not fields.get(
            "device_certificate_expires_on"):
        raise InvalidInput("A medical device needs its conformity certificate's expiry.",
                           {"device_certificate_expires_on": ["required for a device"]})
    if (problem := dspt_year_error(fields["dspt_year"])) is not None:
        raise InvalidInput("The DSPT year is not valid.", {"dspt_year": [problem]})


def _store_expiries(approval: Approval, expiries: dict[str, datetime]) -> None:
    """Kept in UTC, like every stored time (the London end of day becomes 22:59:59 or
    23:59:59 UTC)."""
    utc = {kind: at.astimezone(UTC) for kind, at in expiries.items()}
    approval.evidence_expiries = {kind: at.isoformat() for kind, at in utc.items()}
    approval.expires_at = rules.earliest(utc)


def _stored_expiries(approval: Approval) -> dict[str, datetime]:
    return {kind: datetime.fromisoformat(at) for kind, at in approval.evidence_expiries.items()}


def _evidence_expiries(values: Mapping[str, Any], **decision: Any) -> dict[str, datetime]:
    """When each piece of evidence in ``values`` (a submission or an approval's fields)
    lapses; ``decision`` adds the decision time and conditions once decided."""
    return rules.evidence_expiries(
        dspt_year=values["dspt_year"],
        cyber_essentials_expires_on=values["cyber_essentials_expires_on"],
        penetration_test_on=values.get("penetration_test_on"),
        device_certificate_expires_on=values.get("device_certificate_expires_on"), **decision)


def submit(uow: UnitOfWork, innovation_id: str, **sections: dict[str, Any]) -> Approval:
    """Submit evidence (DTAC sections, device, NICE) for the listing's current version."""
    innovation = innovations.get_own(uow, innovation_id)
    if innovation.status != ListingStatus.PUBLISHED:
        raise Conflict(f"The listing is {innovation.status}; only a published listing is "
                       "submitted for approval.")
    fields = {name: value for section in sections.values() for name, value in section.items()}
    _check_submission(fields, uow.now().astimezone(rules.LONDON).date())
    _check_evidence(uow, innovation, fields)
    expiries = _evidence_expiries(fields)
    rules.check_not_lapsed(expiries, uow.now())
    version = innovation.product_version
    open_one = uow.session.scalar(select(Approval).where(
        Approval.innovation_id == innovation.id, Approval.product_version == version,
        Approval.status.in_(OPEN)))
    if open_one is not None:
        raise Conflict(f"Version {version} already has an open approval ({open_one.id}, "
                       f"{open_one.status}); a new one needs a new product version or the "
                       "old approval to end.", approval_id=open_one.id)
    now = uow.now()
    approval = Approval(id=str(uuid.uuid4()), innovation_id=innovation.id,
                        organisation_id=innovation.organisation_id, product_version=version,
                        status=ApprovalStatus.SUBMITTED, submitted_at=now,
                        submitted_by=uow.actor.id, status_changed_at=now, conditions=[],
                        **fields)
    _store_expiries(approval, expiries)
    uow.session.add(approval)
    try:
        with uow.session.begin_nested():
            uow.session.flush()
    except IntegrityError as exc:  # a concurrent submission for the same version won
        raise Conflict(f"Version {version} already has an open approval.") from exc
    uow.audit("approval.submitted", "approval", approval.id, after=snapshot(approval),
              subject_organisation_id=approval.organisation_id)
    return approval


# --- transitions ------------------------------------------------------------------------
def _assess(uow: UnitOfWork, approval_id: str, action: ApprovalAction
            ) -> tuple[Approval, dict[str, Any], ApprovalStatus]:
    """Lock, check who is acting and whether the table allows ``action``."""
    actor = uow.actor
    if actor.role != Role.ASSESSOR or actor.organisation_id is None:
        raise Forbidden("Only the central assessor reviews and decides approvals.")
    approval = locked(uow, Approval, approval_id, "approval")
    if approval.organisation_id == actor.organisation_id:
        raise Forbidden("Nobody decides on their own organisation's product.")
    target = next_status(approval.status, action, approval.previous_status)
    return approval, snapshot(approval), target


def _move(uow: UnitOfWork, approval: Approval, target: ApprovalStatus, audit_action: str,
          before: dict[str, Any]) -> None:
    approval.status = target
    approval.status_changed_at = uow.now()
    uow.session.flush()
    uow.audit(audit_action, "approval", approval.id, before=before, after=snapshot(approval),
              subject_organisation_id=approval.organisation_id)


def start_review(uow: UnitOfWork, approval_id: str) -> Approval:
    """An assessor takes a submission from the queue (submitted -> under_review)."""
    approval, before, target = _assess(uow, approval_id, ApprovalAction.START_REVIEW)
    approval.review_started_at = uow.now()
    approval.assessor_organisation_id = uow.actor.organisation_id
    _move(uow, approval, target, "approval.review_started", before)
    return approval


def _numbered(conditions: list[dict[str, Any]], today: date) -> list[dict[str, Any]]:
    """Conditions as stored and published: numbered, deadlines not in the past."""
    out = []
    for n, condition in enumerate(conditions, start=1):
        due = condition.get("due_on")
        if due is not None and due < today:
            raise InvalidInput("A condition's deadline is in the past.",
                               {"conditions": {str(n - 1): {"due_on": ["in the past"]}}})
        out.append({"condition_id": str(n), "text": condition["text"].strip(),
                    "due_on": due.isoformat() if due else None})
    return out


def decide(uow: UnitOfWork, approval_id: str, *, outcome: str, dtac: dict[str, Any],
           conditions: list[dict[str, Any]], notes: str | None = None,
           nice_esf_tier: str | None = None, nice_recommendation: str | None = None
           ) -> Approval:
    """Approve, approve with conditions, or reject a submission under review."""
    approval, before, target = _assess(uow, approval_id, DECISIONS[outcome])
    rules.check_decision(outcome, dtac, conditions, notes)
    now = uow.now()
    numbered = _numbered(conditions, now.astimezone(rules.LONDON).date())
    if outcome != DecisionOutcome.REJECTED:
        expiries = _evidence_expiries(before, decided_at=now, conditions=conditions)
        if lapsed := rules.lapsed(expiries, now):
            raise Conflict(f"Evidence lapsed during the review ({', '.join(lapsed)}); "
                           "reject it, or the innovator submits current evidence.",
                           lapsed_evidence=lapsed)
        _store_expiries(approval, expiries)
    approval.dtac = dict(dtac)
    approval.conditions = numbered
    approval.decision_notes = notes
    approval.nice_esf_tier = nice_esf_tier or approval.nice_esf_tier
    approval.nice_recommendation = nice_recommendation or approval.nice_recommendation
    approval.decided_at, approval.decided_by = now, uow.actor.id
    approval.assessor_organisation_id = uow.actor.organisation_id
    _move(uow, approval, target, f"approval.{outcome}", before)
    # The contract has no event for a rejection: nothing a trust holds changes.
    if outcome != DecisionOutcome.REJECTED:
        events.decided(uow, approval, reinstated=False)
    return approval


def suspend(uow: UnitOfWork, approval_id: str, *, reason_code: str, reason: str) -> Approval:
    """Pause a live approval while something is investigated; trusts stop new orders."""
    approval, before, target = _assess(uow, approval_id, ApprovalAction.SUSPEND)
    approval.previous_status = approval.status
    approval.reason_code, approval.reason = reason_code, reason.strip()
    _move(uow, approval, target, "approval.suspended", before)
    events.suspended(uow, approval)
    return approval


def reinstate(uow: UnitOfWork, approval_id: str, *, reason: str) -> Approval:
    """Lift a suspension: back to approved or conditional, if the evidence still stands."""
    approval, before, target = _assess(uow, approval_id, ApprovalAction.REINSTATE)
    if approval.expires_at <= uow.now():
        raise Conflict("The approval's evidence has lapsed; it cannot be reinstated and "
                       "expires at the next tick.")
    approval.previous_status = None
    approval.reason_code, approval.reason = None, reason.strip()
    _move(uow, approval, target, "approval.reinstated", before)
    events.decided(uow, approval, reinstated=True)
    return approval


def revoke(uow: UnitOfWork, approval_id: str, *, reason_code: str, reason: str) -> Approval:
    """Withdraw an approval for good; a new approval needs a new submission."""
    approval, before, target = _assess(uow, approval_id, ApprovalAction.REVOKE)
    approval.reason_code, approval.reason = reason_code, reason.strip()
    _move(uow, approval, target, "approval.revoked", before)
    events.revoked(uow, approval)
    return approval


def expire(uow: UnitOfWork, approval: Approval) -> None:
    """Record a lapse (the caller holds the row lock and has checked ``expires_at``)."""
    before = snapshot(approval)
    target = next_status(approval.status, ApprovalAction.EXPIRE)
    now = uow.now()
    approval.lapsed_evidence = rules.lapsed(_stored_expiries(approval), now)
    _move(uow, approval, target, "approval.expired", before)
    events.expired(uow, approval)
