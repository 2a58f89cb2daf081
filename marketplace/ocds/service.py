"""Open contracting data: writing each tender's releases, and reading them as packages.

A release is written by a reaction (:mod:`marketplace.ocds.reactions`) in the very
transaction that changes the tender or its contract, from the rows as that transaction
sees them, so a release is published exactly when its change commits. Its ``position``
comes from the one ``ocds_position`` counter, incremented by an ``UPDATE`` in that same
transaction: the counter's row lock (SQLite: the writer lock) is held until commit, so a
second writer waits for the first and positions become visible strictly in order. A
reader paging ``after=N`` therefore never skips a release that committed late.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from importlib import resources
from typing import Any

from ocdsmerge import Merger
from sqlalchemy import func, select, update

from marketplace.contracts.models import Contract, ContractVariation
from marketplace.frameworks.models import FrameworkLot
from marketplace.kernel.errors import NotFound
from marketplace.kernel.settings import Settings
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.ocds import releases
from marketplace.ocds.models import OcdsPosition, OcdsRelease
from marketplace.tenders.models import Tender, TenderQuestion, TenderResponse
from schemas.statuses import TenderStatus

COUNTER = "releases"
#: The OCDS 1.1.5 release schema shipped with the package: ocdsmerge reads its merge
#: rules from it instead of downloading one (Apache-2.0, see docs/ocds.md).
RELEASE_SCHEMA = "release-schema-1.1.5.json"


def ocid_for(uow: UnitOfWork, tender_id: str) -> str:
    """``OCDS_PREFIX``-tender id (the default prefix in a unit of work without settings)."""
    prefix = uow.settings.ocds_prefix if uow.settings is not None else Settings.ocds_prefix
    return releases.ocid(prefix, tender_id)


# --- writing ----------------------------------------------------------------------------
def publish(uow: UnitOfWork, tender_id: str, tag: str, *,
            award_value_pence: int | None = None) -> OcdsRelease | None:
    """Write the tender's next release, tagged ``tag``; none for a draft (a draft is the
    buyer's working copy, never published)."""
    process = _process(uow, tender_id)
    if process is None:
        return None
    if tag == releases.AWARD and process.contract is not None:
        award_value_pence = process.contract.value_pence  # the winning price, as contracted
    position = _next_position(uow)
    date = _release_date(uow, process.ocid)
    release_id = f"{process.ocid}-{position}"
    row = OcdsRelease(
        position=position, ocid=process.ocid, release_id=release_id, tender_id=tender_id,
        tags=[tag], date=date,
        release=releases.release(process, tag=tag, release_id=release_id, date=date,
                                 award_value_pence=award_value_pence))
    uow.session.add(row)
    uow.session.flush()
    return row


def publish_for_contract(uow: UnitOfWork, contract_id: str, tag: str) -> OcdsRelease | None:
    """Write the release of a change to a contract; none for a contract that no tender led
    to (a direct framework call-off has no contracting process here)."""
    contract = uow.session.get(Contract, contract_id)
    if contract is None:
        raise NotFound(f"No contract has the id {contract_id!r}.")
    if contract.tender_id is None:
        return None
    return publish(uow, contract.tender_id, tag)


def _process(uow: UnitOfWork, tender_id: str) -> releases.Process | None:
    """The rows a release of the tender is built from (``None`` for a draft)."""
    session = uow.session
    tender = session.get(Tender, tender_id)
    if tender is None:
        raise NotFound(f"No tender has the id {tender_id!r}.")
    if tender.status == TenderStatus.DRAFT or tender.published_at is None:
        return None
    enquiries = session.scalars(
        select(TenderQuestion)
        .where(TenderQuestion.tender_id == tender_id, TenderQuestion.answer.is_not(None))
        .order_by(TenderQuestion.number)).all()
    contract = session.scalar(select(Contract).where(Contract.tender_id == tender_id))
    variations = () if contract is None else session.scalars(
        select(ContractVariation).where(ContractVariation.contract_id == contract.id)
        .order_by(ContractVariation.number)).all()
    supplier = contract.supplier_organisation if contract is not None else None
    if supplier is None and tender.awarded_response_id is not None:
        # Only the winner's organisation: never its (sealed) price or answers.
        winner = session.get(TenderResponse, tender.awarded_response_id)
        supplier = winner.organisation if winner is not None else None
    return releases.Process(
        ocid=ocid_for(uow, tender_id), tender=tender, enquiries=enquiries,
        lot=session.get(FrameworkLot, tender.lot_id) if tender.lot_id else None,
        contract=contract, variations=variations, supplier=supplier)


def _next_position(uow: UnitOfWork) -> int:
    """The next release position; the counter row stays locked until this transaction
    ends, which is what keeps positions committing in order."""
    return uow.session.execute(
        update(OcdsPosition).where(OcdsPosition.name == COUNTER)
        .values(last=OcdsPosition.last + 1).returning(OcdsPosition.last)
        .execution_options(synchronize_session=False)).scalar_one()


def _release_date(uow: UnitOfWork, ocid: str) -> datetime:
    """Now, to the second, and never before the process's previous release: ocdsmerge
    merges a record's releases in date order, which must be their publication order."""
    now = uow.now().replace(microsecond=0)
    latest = uow.session.scalar(select(func.max(OcdsRelease.date))
                                .where(OcdsRelease.ocid == ocid))
    return max(now, latest) if latest is not None else now


# --- reading ----------------------------------------------------------------------------
def release_page(uow: UnitOfWork, after: int, limit: int,
                 page_url: Callable[[int], str]) -> dict[str, Any]:
    """A release package of the releases after position ``after``, in publication order;
    ``page_url(cursor)`` is the URL of the page after ``cursor``."""
    rows = uow.session.scalars(select(OcdsRelease).where(OcdsRelease.position > after)
                               .order_by(OcdsRelease.position).limit(limit + 1)).all()
    page, more = rows[:limit], len(rows) > limit
    published = page[-1].date if page else uow.now()
    return releases.release_package(page_url(after), [row.release for row in page],
                                    published, page_url(page[-1].position) if more else None)


def record_package(uow: UnitOfWork, ocid: str, uri: str) -> dict[str, Any]:
    """The record package of one process, its compiled release merged by ocdsmerge."""
    rows = uow.session.scalars(select(OcdsRelease).where(OcdsRelease.ocid == ocid)
                               .order_by(OcdsRelease.position)).all()
    if not rows:
        raise NotFound(f"No contracting process has the ocid {ocid!r}.")
    embedded = [row.release for row in rows]
    compiled = _merger().create_compiled_release(embedded)
    return releases.record_package(uri, embedded, compiled, rows[-1].date)


@functools.cache
def _merger() -> Merger:
    """One merger, its rules read once from the shipped schema (never downloaded)."""
    with resources.as_file(resources.files(__package__) / RELEASE_SCHEMA) as path:
        return Merger(schema=str(path))
