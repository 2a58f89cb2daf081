"""Demand signals: an ICB's buyers post, edit and close their own ICB's needs.

Signals are public (innovators and the national summary read them); only buyers of the
ICB that owns a signal change it, and after a merger that is the successor ICB, which
owns its predecessors' signals. A buyer's token of an ICB merged away acts for nobody:
the successor's buyers act. Each change locks the row, is audited, adds its difference
to the national tallies (:mod:`marketplace.demand.summary`) and emits its
``demand.signal.*`` event, all in one unit of work.
"""
from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import lazyload

from marketplace.approvals.rules import LONDON
from marketplace.catalogue import categories
from marketplace.catalogue import service as innovations
from marketplace.demand import events, summary
from marketplace.demand.lifecycle import MACHINE, SignalAction, SignalStatus
from marketplace.demand.models import (
    EDITABLE,
    DemandSignal,
    DemandSignalCategory,
    DemandSignalPathwayStage,
)
from marketplace.kernel.errors import Forbidden, InvalidInput, NotFound, PreconditionFailed
from marketplace.kernel.row_lock import for_update
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.organisations.buyers import acting_icb
from marketplace.organisations.models import Organisation
from schemas.statuses import OrganisationKind

TENDER_PUBLISHED = "tender_published"


def snapshot(signal: DemandSignal) -> dict[str, Any]:
    """The audited fields of a signal."""
    out = {name: getattr(signal, name) for name in EDITABLE}
    out.update(status=signal.status, outcome=signal.outcome, tender_id=signal.tender_id,
               icb=signal.icb.code)
    return out


def today(uow: UnitOfWork) -> date:
    return uow.now().astimezone(LONDON).date()


# --- reading ----------------------------------------------------------------------------
def get(uow: UnitOfWork, signal_id: str) -> DemandSignal:
    signal = uow.session.scalar(select(DemandSignal).where(DemandSignal.id == signal_id))
    if signal is None:
        raise NotFound(f"No demand signal has the id {signal_id!r}.")
    return signal


def list_query(uow: UnitOfWork, *, status: str | None = None, icb: str | None = None,
               category: str | None = None, pathway: str | None = None,
               posted_from: date | None = None, posted_to: date | None = None
               ) -> Select[tuple[DemandSignal]]:
    """Signals, newest first; ``icb`` follows mergers (a successor's list holds its
    predecessors' signals)."""
    stmt = select(DemandSignal)
    if status:
        stmt = stmt.where(DemandSignal.status == status)
    if icb:
        owner = summary.resolve_icb(uow, icb)
        stmt = stmt.where(DemandSignal.icb_id.in_(summary.icb_and_predecessors(uow, owner)))
    if category:
        stmt = stmt.where(DemandSignal.pk.in_(select(DemandSignalCategory.signal_pk).where(
            categories.under(category, DemandSignalCategory.category))))
    if pathway:
        stmt = stmt.where(DemandSignal.pk.in_(select(DemandSignalPathwayStage.signal_pk)
                                              .where(DemandSignalPathwayStage.stage == pathway)))
    if posted_from:
        stmt = stmt.where(DemandSignal.posted_on >= posted_from)
    if posted_to:
        stmt = stmt.where(DemandSignal.posted_on <= posted_to)
    return stmt.order_by(DemandSignal.posted_at.desc(), DemandSignal.pk.desc())


# --- who acts ---------------------------------------------------------------------------
def _locked(uow: UnitOfWork, signal_id: str) -> DemandSignal:
    """The signal under a row lock (PostgreSQL ``FOR UPDATE``; SQLite's transactions are
    serialised), re-read so a request that waited sees what the winner left."""
    signal = uow.session.scalar(for_update(
        select(DemandSignal).where(DemandSignal.id == signal_id)
        .options(lazyload(DemandSignal.icb)), DemandSignal))
    if signal is None:
        raise NotFound(f"No demand signal has the id {signal_id!r}.")
    return signal


def get_own(uow: UnitOfWork, signal_id: str) -> DemandSignal:
    """The signal, locked, if the caller's ICB owns it (403 for another ICB's)."""
    icb = acting_icb(uow, "posts and changes demand signals, for its own ICB")
    signal = _locked(uow, signal_id)
    owner = signal.owner
    if owner.id != icb.id:
        raise Forbidden(f"This demand signal belongs to {owner.code}; only its buyers "
                        "change it.")
    return signal


# --- rules of the fields ----------------------------------------------------------------
def _normalise(changes: dict[str, Any]) -> dict[str, Any]:
    """As listings normalise theirs (sorted categories, pathway order, text stripped), and
    trusts sorted, so restating the same values changes nothing."""
    out = innovations.normalise(changes)
    if "trusts" in out:
        out["trusts"] = sorted(set(out["trusts"]))
    return out


def _check(uow: UnitOfWork, icb: Organisation, fields: dict[str, Any]) -> None:
    """Trusts must be the ICB's own; a needed-by date is not in the past."""
    errors: dict[str, list[str]] = {}
    outsiders = []
    for code in fields.get("trusts", ()):
        trust = uow.session.scalar(select(Organisation).where(Organisation.code == code))
        parent = trust.current_parent if trust is not None else None
        if trust is None or trust.kind != OrganisationKind.TRUST or parent is None \
                or parent.id != icb.id:
            outsiders.append(code)
    if outsiders:
        errors["trusts"] = [f"not a trust of {icb.code}: {', '.join(outsiders)}"]
    needed_by = fields.get("needed_by")
    if needed_by is not None and needed_by < today(uow):
        errors["needed_by"] = ["in the past"]
    if errors:
        raise InvalidInput("Some fields are not valid for this ICB's signal.", errors)


# --- commands ---------------------------------------------------------------------------
def post(uow: UnitOfWork, *, icb_ods: str | None = None, currency: str = "GBP",
         **fields: Any) -> DemandSignal:
    """A new open signal of the caller's ICB (``icb_ods``, if given, must name it)."""
    icb = acting_icb(uow, "posts and changes demand signals, for its own ICB")
    if icb_ods is not None and summary.resolve_icb(uow, icb_ods, "icb_ods").id != icb.id:
        raise Forbidden(f"An ICB buyer posts demand for its own ICB ({icb.code}), not for "
                        f"{icb_ods}.")
    fields = _normalise({name: fields[name] for name in EDITABLE})
    _check(uow, icb, fields)
    now = uow.now()
    signal = DemandSignal(id=str(uuid.uuid4()), icb=icb, status=SignalStatus.OPEN,
                          currency=currency, posted_at=now, posted_on=today(uow),
                          updated_at=now, **fields)
    uow.session.add(signal)
    uow.session.flush()
    summary.record(uow, {}, summary.counted(signal))
    uow.audit("demand_signal.posted", "demand_signal", signal.id, after=snapshot(signal),
              subject_organisation_id=icb.id)
    events.posted(uow, signal)
    return signal


def update(uow: UnitOfWork, signal_id: str, *, expected_version: int,
           **changes: Any) -> DemandSignal:
    """Edit an open signal (one PATCH); the national tallies and subscribers follow."""
    signal = get_own(uow, signal_id)
    if signal.version != expected_version:
        raise PreconditionFailed("The demand signal changed since you read it; fetch it "
                                 "again.")
    changes = {k: v for k, v in _normalise(changes).items() if v != getattr(signal, k)}
    if not changes:
        return signal
    MACHINE.target(signal.status, SignalAction.EDIT)
    _check(uow, signal.owner, changes)
    before, before_state = snapshot(signal), events.public_state(signal)
    counted_before = summary.counted(signal)
    for name, value in changes.items():
        setattr(signal, name, value)
    signal.updated_at = uow.now()
    uow.session.flush()
    summary.record(uow, counted_before, summary.counted(signal))
    uow.audit("demand_signal.updated", "demand_signal", signal.id, before=before,
              after=snapshot(signal), subject_organisation_id=signal.owner.id)
    events.updated(uow, signal, before_state)
    return signal


def close(uow: UnitOfWork, signal_id: str, *, outcome: str,
          tender_id: str | None = None) -> DemandSignal:
    """Close an open signal with how it ended; it leaves open demand for good."""
    signal = get_own(uow, signal_id)
    MACHINE.target(signal.status, SignalAction.CLOSE)
    if outcome == TENDER_PUBLISHED and tender_id is None:
        raise InvalidInput("Name the tender the signal led to.",
                           {"tender_id": [f"required with outcome {TENDER_PUBLISHED}"]})
    if outcome != TENDER_PUBLISHED and tender_id is not None:
        raise InvalidInput("A tender id goes with outcome tender_published.",
                           {"tender_id": [f"only with outcome {TENDER_PUBLISHED}"]})
    before, counted_before = snapshot(signal), summary.counted(signal)
    now = uow.now()
    signal.status, signal.outcome, signal.tender_id = SignalStatus.CLOSED, outcome, tender_id
    signal.closed_at = signal.updated_at = now
    uow.session.flush()
    summary.record(uow, counted_before, {})
    uow.audit(f"demand_signal.{MACHINE.done[SignalAction.CLOSE]}", "demand_signal",
              signal.id, before=before, after=snapshot(signal),
              subject_organisation_id=signal.owner.id)
    events.closed(uow, signal)
    return signal
