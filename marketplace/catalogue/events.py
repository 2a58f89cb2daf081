"""The ``innovation.*`` events: the only place that builds their payloads.

A published listing travels whole (``innovation.listed`` / ``innovation.updated``), so a
trust's catalogue is built from events alone; drafts are private and emit nothing.
"""
from __future__ import annotations

from typing import Any

from marketplace.catalogue.models import EDITABLE, Innovation
from marketplace.kernel.unit_of_work import UnitOfWork
from schemas.events import registry

LISTED = registry.by_name("innovation.listed")
UPDATED = registry.by_name("innovation.updated")
WITHDRAWN = registry.by_name("innovation.withdrawn")

#: The event field ``product_name`` is ``name`` on the listing.
EVENT_NAMES = {"name": "product_name"}


def public_state(innovation: Innovation) -> dict[str, Any]:
    """The listing as ``innovation.listed``/``innovation.updated`` carry it."""
    state = {EVENT_NAMES.get(name, name): getattr(innovation, name) for name in EDITABLE}
    return {"innovation_id": innovation.id,
            "innovator_org_id": innovation.organisation.public_id,
            "innovator_companies_house_number": innovation.organisation.code, **state}


def listed(uow: UnitOfWork, innovation: Innovation) -> None:
    uow.emit(LISTED, {**public_state(innovation), "listed_at": innovation.published_at})


def withdrawn(uow: UnitOfWork, innovation: Innovation) -> None:
    uow.emit(WITHDRAWN, {"innovation_id": innovation.id,
                         "innovator_org_id": innovation.organisation.public_id,
                         "withdrawn_at": innovation.withdrawn_at,
                         "reason": innovation.withdrawal_reason})


def updated(uow: UnitOfWork, innovation: Innovation, before: dict[str, Any]) -> None:
    """``innovation.updated`` naming what changed since ``before`` (a :func:`public_state`);
    nothing when no public field changed."""
    after = public_state(innovation)
    changed = sorted(k for k in after if after[k] != before[k])
    if changed:
        uow.emit(UPDATED, {**after, "changed_fields": changed,
                           "updated_at": innovation.updated_at})
