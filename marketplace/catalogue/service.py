"""Innovation listings: drafts, publication, edits, withdrawal, evidence files and history.

A listing belongs to its innovator organisation; only that organisation changes it.
Drafts are visible to their owner, assessors and admins; published and withdrawn
listings to everyone. Public changes reach trusts as ``innovation.*`` events carrying the
whole listing; every change is audited, and the audit rows are the listing's history.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import Select, and_, or_, select

from marketplace.actor import Actor
from marketplace.domain.listing_state import MACHINE, STATUS_ACTIONS, ListingAction, ListingStatus
from marketplace.errors import Conflict, Forbidden, InvalidInput, NotFound, PreconditionFailed
from marketplace.models.audit import AuditEvent
from marketplace.models.catalogue import Approval, EvidenceDocument, Innovation
from marketplace.models.identity import Role
from marketplace.unit_of_work import UnitOfWork
from schemas.events.common import PATHWAY_STAGES

#: Fields the innovator edits; the event field ``product_name`` is ``name`` here.
EDITABLE = ("name", "summary", "product_version", "categories", "pathway_stages", "use_cases",
            "esf_tier", "device_class", "device_mark", "pricing_model")
EVENT_NAMES = {"name": "product_name"}
#: Roles that may see any draft and any evidence: the central assessor and operators.
REVIEWERS = (Role.ASSESSOR, Role.ADMIN)


def snapshot(innovation: Innovation) -> dict[str, Any]:
    """The audited fields of a listing."""
    out = {name: getattr(innovation, name) for name in EDITABLE}
    out.update(status=innovation.status, withdrawal_reason=innovation.withdrawal_reason)
    return out


def public_state(innovation: Innovation) -> dict[str, Any]:
    """The listing as ``innovation.listed``/``innovation.updated`` carry it."""
    state = {EVENT_NAMES.get(name, name): getattr(innovation, name) for name in EDITABLE}
    return {"innovation_id": innovation.id,
            "innovator_org_id": str(innovation.organisation_id),
            "innovator_companies_house_number": innovation.organisation.code, **state}


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


def _normalise(changes: dict[str, Any]) -> dict[str, Any]:
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
    _apply(innovation, _normalise({name: fields[name] for name in EDITABLE}))
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
    changes = {k: v for k, v in _normalise(changes).items() if v != getattr(innovation, k)}
    if withdrawal_reason is not None and action != ListingAction.WITHDRAW:
        raise InvalidInput("A withdrawal reason goes with status withdrawn.",
                           {"withdrawal_reason": ["only when withdrawing"]})
    if changes and action == ListingAction.WITHDRAW:
        raise InvalidInput("Withdraw a listing without changing it.",
                           {name: ["not with status withdrawn"] for name in changes})
    if changes:
        MACHINE.target(innovation.status, ListingAction.EDIT)
    if action is not None:
        MACHINE.target(innovation.status, action)
    if not changes and action is None:
        return innovation
    before, before_public = snapshot(innovation), public_state(innovation)
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
    _announce(uow, innovation, action, was_published, before_public)
    uow.audit(f"innovation.{MACHINE.done[action or ListingAction.EDIT]}", "innovation",
              innovation.id, before=before, after=snapshot(innovation),
              subject_organisation_id=innovation.organisation_id)
    return innovation


def _announce(uow: UnitOfWork, innovation: Innovation, action: ListingAction | None,
              was_published: bool, before_public: dict[str, Any]) -> None:
    """The ``innovation.*`` event for a change; drafts are private, so they emit nothing."""
    now = uow.now()
    if action == ListingAction.PUBLISH:
        uow.emit("uk.nhs.marketplace.innovation.listed.v1",
                 {**public_state(innovation), "listed_at": now})
    elif action == ListingAction.WITHDRAW:
        if was_published:
            uow.emit("uk.nhs.marketplace.innovation.withdrawn.v1", {
                "innovation_id": innovation.id,
                "innovator_org_id": str(innovation.organisation_id),
                "withdrawn_at": now, "reason": innovation.withdrawal_reason})
    elif was_published:
        after = public_state(innovation)
        changed = sorted(k for k in after if after[k] != before_public[k])
        if changed:
            uow.emit("uk.nhs.marketplace.innovation.updated.v1",
                     {**after, "changed_fields": changed, "updated_at": now})


def history(uow: UnitOfWork, innovation_id: str) -> Select[tuple[AuditEvent]]:
    """Every audited change of the listing and of its approvals, oldest first."""
    innovation = get_reviewable(uow, innovation_id)
    approval_ids = select(Approval.id).where(Approval.innovation_id == innovation.id)
    return select(AuditEvent).where(or_(
        and_(AuditEvent.object_type == "innovation", AuditEvent.object_id == innovation.id),
        and_(AuditEvent.object_type == "approval", AuditEvent.object_id.in_(approval_ids)),
    )).order_by(AuditEvent.id)


# --- evidence documents -----------------------------------------------------------------
def evidence_path(evidence_dir: Path, sha256: str) -> Path:
    """Files are stored by content hash: identical uploads share one file."""
    return evidence_dir / sha256[:2] / sha256


def _store(evidence_dir: Path, sha256: str, content: bytes) -> None:
    path = evidence_path(evidence_dir, sha256)
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename: a reader never sees half a file, and a crash leaves no partial
    # file under the hash's name. A rolled-back upload leaves an unreferenced file, which
    # is harmless (content-addressed) and reused if the same bytes come again.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def add_evidence(uow: UnitOfWork, innovation_id: str, *, evidence_dir: Path, kind: str,
                 title: str, filename: str, media_type: str, content: bytes
                 ) -> EvidenceDocument:
    """Store an evidence file and record its metadata and SHA-256 against the listing."""
    innovation = get_own(uow, innovation_id)
    if innovation.status == ListingStatus.WITHDRAWN:
        raise Conflict("The listing is withdrawn; it takes no more evidence.")
    if not content:
        raise InvalidInput("The file is empty.", {"content": ["no bytes"]})
    digest = hashlib.sha256(content).hexdigest()
    _store(evidence_dir, digest, content)
    document = EvidenceDocument(
        id=str(uuid.uuid4()), innovation_id=innovation.id, kind=kind, title=title.strip(),
        filename=filename, media_type=media_type, size_bytes=len(content), sha256=digest,
        uploaded_at=uow.now(), uploaded_by=uow.actor.id)
    uow.session.add(document)
    uow.session.flush()
    uow.audit("innovation.evidence_added", "innovation", innovation.id,
              after={"evidence": {"id": document.id, "kind": kind, "title": document.title,
                                  "filename": filename, "sha256": digest,
                                  "size_bytes": len(content)}},
              subject_organisation_id=innovation.organisation_id)
    return document


def evidence_query(uow: UnitOfWork, innovation_id: str) -> Select[tuple[EvidenceDocument]]:
    innovation = get_reviewable(uow, innovation_id)
    return (select(EvidenceDocument).where(EvidenceDocument.innovation_id == innovation.id)
            .order_by(EvidenceDocument.uploaded_at, EvidenceDocument.id))


def evidence_content(uow: UnitOfWork, innovation_id: str, evidence_id: str,
                     evidence_dir: Path) -> tuple[EvidenceDocument, bytes]:
    """The document and its bytes, checked against the recorded SHA-256."""
    innovation = get_reviewable(uow, innovation_id)
    document = uow.session.get(EvidenceDocument, evidence_id)
    if document is None or document.innovation_id != innovation.id:
        raise NotFound(f"No evidence document {evidence_id!r} on this listing.")
    path = evidence_path(evidence_dir, document.sha256)
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise NotFound("The evidence file is missing from storage.") from None
    if hashlib.sha256(content).hexdigest() != document.sha256:
        raise Conflict("The stored evidence file does not match its SHA-256; it has been "
                       "altered or damaged.")
    return document, content
