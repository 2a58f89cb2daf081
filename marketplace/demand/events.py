"""The ``demand.signal.*`` events: the only place that builds their payloads.

Posted and updated carry the whole signal, so national demand can be summed from the
events alone. ``icb_ods`` is the ICB that owns the signal when the event is emitted: after
a merger, the successor (the signal's later events name it, and a consumer keeping the
latest state per ``signal_id`` follows).
"""
from __future__ import annotations

from typing import Any

from marketplace.demand.models import DemandSignal
from marketplace.kernel.unit_of_work import UnitOfWork
from schemas.events import registry

POSTED = registry.by_name("demand.signal.posted")
UPDATED = registry.by_name("demand.signal.updated")
CLOSED = registry.by_name("demand.signal.closed")

#: What the signal states, as the events carry it (``requires_central_approval`` is not
#: in the v1 event schemas).
STATE_FIELDS = ("title", "need", "categories", "pathway_stages", "use_cases",
                "min_esf_tier", "trusts", "population_covered", "indicative_budget_pence",
                "currency", "needed_by")


def _ref(signal: DemandSignal) -> dict[str, Any]:
    return {"signal_id": signal.id, "icb_ods": signal.owner.code}


def public_state(signal: DemandSignal) -> dict[str, Any]:
    """The signal as ``demand.signal.posted``/``.updated`` carry it."""
    return {**_ref(signal), **{name: getattr(signal, name) for name in STATE_FIELDS}}


def posted(uow: UnitOfWork, signal: DemandSignal) -> None:
    uow.emit(POSTED, {**public_state(signal), "posted_at": signal.posted_at})


def updated(uow: UnitOfWork, signal: DemandSignal, before: dict[str, Any]) -> None:
    """``demand.signal.updated`` naming what changed since ``before`` (a
    :func:`public_state`); nothing when no field the event carries changed."""
    after = public_state(signal)
    changed = sorted(k for k in after if after[k] != before[k] and k != "icb_ods")
    if changed:
        uow.emit(UPDATED, {**after, "changed_fields": changed,
                           "updated_at": signal.updated_at})


def closed(uow: UnitOfWork, signal: DemandSignal) -> None:
    uow.emit(CLOSED, {**_ref(signal), "outcome": signal.outcome,
                      "tender_id": signal.tender_id, "closed_at": signal.closed_at})
