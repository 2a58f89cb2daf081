"""Innovation listings: drafts, publication, edits, withdrawal and history.

A listing belongs to its innovator organisation; only that organisation changes it.
Drafts are visible to their owner, assessors and admins; published and withdrawn
listings to everyone. Public changes reach trusts as ``innovation.*`` events carrying the
whole listing; every change is audited, and the audit rows are the listing's history.
"""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, and_, or_, select

from marketplace.approvals.models import Approval
from marketplace.catalogue import events
from marketplace.catalogue.lifecycle import MACHINE, STATUS_ACTIONS, ListingAction, ListingStatus
from marketplace.catalogue.models import EDITABLE, Innovation
from marketplace.kernel.actor import Actor
from marketplace.kernel.audit_log import AuditEvent
from marketplace.kernel.errors import Forbidden, InvalidInput, NotFound, PreconditionFailed
from marketplace.kernel.unit_of_work import UnitOfWork
from schemas.events.common import PATHWAY_STAGES
from schemas.statuses import Role

#: Roles that may see any draft and any evidence: the central assessor and operators.
REVIEWERS = (Role.ASSESSOR, Role.ADMIN)


def snapshot(innovation: Innovation) -> dict[str, Any]:
    """The audited fields of a listing."""
    out = {name: getattr(innovation, name) for name in EDITABLE}
    out.update(status=innovation.status, withdrawal_reason=innovation.withdrawal_reason)
    return out


def check_device(device_class: str, device_mark: str) -> None:
    """A medical device carries a conformity mark; software that is not a device does not."""
    if (device_class == "not_a_device") != (device_mark == "none"):
        raise InvalidInput("The device mark does not fit the device class.",
                           {"device_mark": ["`none` exactly when the class is not_a_device"]})


def is_owner(actor: Actor, innovation: Innovation) -> bool:
    return actor.role == Role.INNOVATOR and actor.organisation_id == innovation.organisation_id


def may_review(actor: Actor, innovation: Innovation) -> bool:
    """Owner, assessors and admins see drafts, evidence and history."""
    return is_owner(actor, innovation) or actor.role in REVIEWERS


def get_visible(uow: UnitOfWork, innovation_id: str) -> Innovation:
    """The listing if the caller may see it; a draft is a 404 to anyone else."""
    innovation = uow.session.scalar(select(Innovation).where(Innovation.id == innovation_id))
    if innovation is None or (innovation.status == ListingStatus.DRAFT
                              and not may_review(uow.actor, innovation)):
        raise NotFound(f"No innovation has the id {innovation_id!r}.")
    return innovation


def get_own(uow: UnitOfWork, innovation_id: str) -> Innovation:
    """The listing, if the caller's organisation owns it (403 for a visible foreign one)."""
    innovation = get_visible(uow, innovation_id)
    if not is_owner(uow.actor, innovation):
        raise Forbidden("Only the innovator that owns this listing may change it.")
    return innovation


def get_reviewable(uow: UnitOfWork, innovation_id: str) -> Innovation:
    innovation = get_visible(uow, innovation_id)
    if not may_review(uow.actor, innovation):
        raise Forbidden("Only the owner, assessors and admins see this listing's evidence "
                        "and history.")
    return innovation


def normalise(changes: dict[str, Any]) -> dict[str, Any]:
    """Lists as the listing reports them (sorted, pathway order, no duplicates), text
    stripped, so an edit that restates the same values changes nothing."""
    out: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "categories":
            value = sorted(set(value))
        elif name == "pathway_stages":
            value = [stage for stage in PATHWAY_STAGES if stage in set(value)]
        elif name == "use_cases":
            value = list(dict.fromkeys(v.strip() for v in value))
        elif isinstance(value, str):
            value = value.strip()
        out[name] = value
    return out


def _apply(innovation: Innovation, changes: dict[str, Any]) -> None:
    for name, value in changes.items():
        setattr(innovation, name, value)


def create(uow: UnitOfWork, **fields: Any) -> Innovation:
    """A new draft listing owned by the caller's innovator organisation."""
    actor = uow.actor
    if actor.role != Role.INNOVATOR or actor.organisation_id is None:
        raise Forbidden("Only an innovator lists innovations, for its own organisation.")
    check_device(fields["device_class"], fields["device_mark"])
    now = uow.now()
    innovation = Innovation(id=str(uuid.uuid4()), organisation_id=actor.organisation_id,
                            status=ListingStatus.DRAFT, created_at=now, updated_at=now)
    _apply(innovation, normalise({name: fields[name] for name in EDITABLE}))
    uow.session.add(innovation)
    uow.session.flush()
    uow.audit("innovation.created", "innovation", innovation.id, after=snapshot(innovation),
              subject_organisation_id=innovation.organisation_id)
    return innovation


def update(uow: UnitOfWork, innovation_id: str, *, expected_version: int,
           status: str | None = None, withdrawal_reason: str | None = None,
           **changes: Any) -> Innovation:
    """Edit, publish or withdraw a listing (one PATCH); trusts hear of public changes."""
    innovation = get_own(uow, innovation_id)
    if innovation.version != expected_version:
        raise PreconditionFailed("The listing changed since you read it; fetch it again.")
    action = STATUS_ACTIONS.get(status) if status and status != innovation.status else None
    changes = {k: v for k, v in normalise(changes).items() if v != getattr(innovation, k)}
    if withdrawal_reason is not None and action != ListingAction.WITHDRAW:
        raise InvalidInput("A withdrawal reason goes with status withdrawn.",
                           {"withdrawal_reason": ["only when withdrawing"]})
    if (action == ListingAction.WITHDRAW and innovation.status == ListingStatus.PUBLISHED
            and not (withdrawal_reason or "").strip()):
        raise InvalidInput("Say why the listing is withdrawn: trusts see the reason.",
                           {"withdrawal_reason": ["required to withdraw a published listing"]})
    if changes and action == ListingAction.WITHDRAW:
        raise InvalidInput("Withdraw a listing without changing it.",
                           {name: ["not with status withdrawn"] for name in changes})
    if changes:
        MACHINE.target(innovation.status, ListingAction.EDIT)
    if action is not None:
        MACHINE.target(innovation.status, action)
    if not changes and action is None:
        return innovation
    before, before_public = snapshot(innovation), events.public_state(innovation)
    was_published = innovation.status == ListingStatus.PUBLISHED
    _apply(innovation, changes)
    check_device(innovation.device_class, innovation.device_mark)
    now = uow.now()
    innovation.updated_at = now
    if action == ListingAction.PUBLISH:
        innovation.status, innovation.published_at = ListingStatus.PUBLISHED, now
    elif action == ListingAction.WITHDRAW:
        innovation.status, innovation.withdrawn_at = ListingStatus.WITHDRAWN, now
        innovation.withdrawal_reason = withdrawal_reason
    uow.session.flush()
    if action == ListingAction.PUBLISH:
        events.listed(uow, innovation)
    elif action == ListingAction.WITHDRAW:
        if was_published:
            events.withdrawn(uow, innovation)
    elif was_published:
        events.updated(uow, innovation, before_public)
    uow.audit(f"innovation.{MACHINE.done[action or ListingAction.EDIT]}", "innovation",
              innovation.id, before=before, after=snapshot(innovation),
              subject_organisation_id=innovation.organisation_id)
    return innovation


def history(uow: UnitOfWork, innovation_id: str) -> Select[tuple[AuditEvent]]:
    """Every audited change of the listing and of its approvals, oldest first."""
    innovation = get_reviewable(uow, innovation_id)
    approval_ids = select(Approval.id).where(Approval.innovation_id == innovation.id)
    return select(AuditEvent).where(or_(
        and_(AuditEvent.object_type == "innovation", AuditEvent.object_id == innovation.id),
        and_(AuditEvent.object_type == "approval", AuditEvent.object_id.in_(approval_ids)),
    )).order_by(AuditEvent.id)
