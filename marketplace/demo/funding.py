"""Demo funding for ``marketplace seed-demo``: pots of several kinds of funder for the
current NHS financial year, allocations to ICBs and trusts, and one change.

Everything goes through the funding service as the pot's owner (a funder organisation,
or a buyer of the ICB for its own pot), so the demo has the same audit rows and
``funding.*`` events as real use. Pots are found by owner, title and financial year, and
allocations by pot, recipient and purpose, so running it twice adds nothing. A pot whose
owner is not among the demo organisations (the pharma company, until it is added) is
left out rather than given to another funder.

One allocation, to trust RAL (North Central London, whose ICB holds the demo's signed
contract), is earmarked for nothing and spendable across the whole
financial year: the demo order draws on it (:func:`demo_allocation_for`).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from sqlalchemy import select

from marketplace.catalogue.models import Innovation
from marketplace.funding import service as funding
from marketplace.funding.models import FundingAllocation, FundingPot
from marketplace.kernel.actor import Actor
from marketplace.kernel.clock import london_day
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.organisations.models import Organisation
from schemas.statuses import AllocationStatus, OrganisationKind

#: The pharma company the joint-working pot belongs to (a ``funder`` organisation).
PHARMA_COMPANY = ("14725836", "funder", "Northbridge Pharma UK Ltd", None)
#: The pot and recipient of the allocation the demo order draws on.
ORDER_POT = "NHS England Cancer Programme: Faster Diagnosis innovation fund"
ORDER_PURPOSE = ("Adoption of centrally approved cancer pathway innovations at the trust: "
                 "call-offs under signed marketplace contracts.")
MFM_POT = "MedTech Funding Mandate"
MFM_LISTING = "Clearpath Referral Triage"

#: (owner code, pot fields); period and financial year are the current ones.
POTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("X26", {"title": ORDER_POT, "funder_type": "nhs_england", "amount_pence": 200_000_000,
             "recurrent": False,
             "conditions": "For centrally approved innovations on the cancer pathway; "
                           "spend reported quarterly to the Cancer Programme."}),
    ("X26", {"title": MFM_POT, "funder_type": "nhs_england", "amount_pence": 100_000_000,
             "recurrent": True,
             "conditions": "For NICE-recommended MedTech Funding Mandate technologies; "
                           "recipients report uptake to the AHSN network."}),
    ("12345678", {"title": "Patient information innovation grants",
                  "funder_type": "charity", "amount_pence": 25_000_000, "recurrent": False,
                  "conditions": "Grants for accessible cancer patient information; no "
                                "funding of routine services."}),
    ("QOP", {"title": "Greater Manchester digital transformation fund",
             "funder_type": "icb", "amount_pence": 80_000_000, "recurrent": False,
             "conditions": "The ICB's own digital transformation budget for its trusts."}),
    (PHARMA_COMPANY[0], {
        "title": "Heart failure pathway joint working", "funder_type": "pharma_joint_working",
        "amount_pence": 30_000_000, "recurrent": False,
        "conditions": "Joint working under the ABPI Code of Practice: no link to the "
                      "prescription of any medicine.",
        "agreement_summary": "Northbridge Pharma UK and North Central London ICB jointly "
                             "fund specialist heart failure nurse time and pathway redesign "
                             "for 18 months; both parties share the outcomes data.",
        "transfer_of_value_pence": 15_000_000}),
)
#: (pot title, recipient code, pence, purpose, earmark listing name or None).
ALLOCATIONS: tuple[tuple[str, str, int, str, str | None], ...] = (
    (ORDER_POT, "RAL", 6_000_000, ORDER_PURPOSE, None),
    (ORDER_POT, "QOP", 50_000_000, "Faster diagnosis pathway innovations across Greater "
     "Manchester.", None),
    (MFM_POT, "RAL", 12_000_000, "First-year licences and onboarding for AI referral "
     "triage.", MFM_LISTING),
    ("Patient information innovation grants", "RBV", 4_000_000,
     "Translated patient information for chemotherapy clinics.", None),
    ("Greater Manchester digital transformation fund", "RBV", 7_500_000,
     "Electronic consent for systemic anti-cancer therapy.", None),
    ("Greater Manchester digital transformation fund", "R0A", 5_000_000,
     "Digital referral triage pilot.", None),
    ("Heart failure pathway joint working", "QMJ", 30_000_000,
     "Specialist heart failure nurse time and pathway redesign.", None),
)
#: The demo change: (pot title, recipient, new amount, reason code, reason).
CHANGE = (MFM_POT, "RAL", 15_000_000, "additional_funding",
          "Onboarding extended to the Royal Free's second site.")


def financial_year(today: date) -> tuple[str, date, date]:
    """The NHS financial year holding ``today``: its name and first and last days."""
    first = today.year if today.month >= 4 else today.year - 1
    return f"{first}/{(first + 1) % 100:02d}", date(first, 4, 1), date(first + 1, 3, 31)


@contextmanager
def _as_owner(uow: UnitOfWork, owner: Organisation) -> Iterator[None]:
    role = "icb_buyer" if owner.kind == OrganisationKind.ICB else "funder"
    saved = uow.actor
    uow.actor = Actor(id="demo-seed", role=role, organisation_id=owner.id,
                      organisation_code=owner.code, label="marketplace seed-demo")
    try:
        yield
    finally:
        uow.actor = saved


def _org(uow: UnitOfWork, code: str) -> Organisation | None:
    return uow.session.scalar(select(Organisation).where(Organisation.code == code))


def _pot(uow: UnitOfWork, title: str, year: str) -> FundingPot | None:
    return uow.session.scalar(select(FundingPot).where(
        FundingPot.title == title, FundingPot.financial_year == year))


def _allocation(uow: UnitOfWork, pot: FundingPot, recipient: Organisation,
                purpose: str) -> FundingAllocation | None:
    return uow.session.scalar(select(FundingAllocation).where(
        FundingAllocation.pot_id == pot.id,
        FundingAllocation.recipient_organisation_id == recipient.id,
        FundingAllocation.purpose == purpose))


def seed(uow: UnitOfWork) -> Iterator[str]:
    """Add the demo pots, allocations and change that are missing."""
    year, starts, ends = financial_year(london_day(uow.now()))
    for code, fields in POTS:
        owner = _org(uow, code)
        if owner is None or _pot(uow, fields["title"], year) is not None:
            continue
        with _as_owner(uow, owner):
            pot = funding.create_pot(uow, **fields, financial_year=year, period_start=starts,
                                     period_end=ends)
        yield f"funding pot {pot.title} ({owner.code}, {year})"
    for title, code, pence, purpose, listing in ALLOCATIONS:
        found, recipient = _pot(uow, title, year), _org(uow, code)
        if found is None or recipient is None or _allocation(uow, found, recipient, purpose):
            continue
        innovation_id = None
        if listing is not None:
            innovation_id = uow.session.scalar(
                select(Innovation.id).where(Innovation.name == listing))
        with _as_owner(uow, found.owner):
            funding.allocate(uow, found.id, recipient_ods=code, amount_pence=pence,
                             purpose=purpose, innovation_id=innovation_id)
        yield f"funding allocation {title} -> {code}: £{pence / 100:,.2f}"
    yield from _change(uow, year)


def _change(uow: UnitOfWork, year: str) -> Iterator[str]:
    title, code, pence, reason_code, reason = CHANGE
    pot, recipient = _pot(uow, title, year), _org(uow, code)
    if pot is None or recipient is None:
        return
    allocation = uow.session.scalar(select(FundingAllocation).where(
        FundingAllocation.pot_id == pot.id,
        FundingAllocation.recipient_organisation_id == recipient.id))
    if allocation is None or allocation.revision_number > 1:
        return
    with _as_owner(uow, pot.owner):
        funding.change(uow, pot.id, allocation.id, expected_version=allocation.version,
                       kind="increase", amount_pence=pence, reason_code=reason_code,
                       reason=reason)
    yield f"funding change {title} -> {code}: increased to £{pence / 100:,.2f}"


def demo_allocation_for(uow: UnitOfWork, trust_code: str) -> str | None:
    """The id of the demo allocation an order of ``trust_code`` may draw on (for RAL: the
    unearmarked one spendable across the financial year), if it is there and active."""
    year = financial_year(london_day(uow.now()))[0]
    pot, trust = _pot(uow, ORDER_POT, year), _org(uow, trust_code)
    if pot is None or trust is None:
        return None
    found = uow.session.scalar(select(FundingAllocation.id).where(
        FundingAllocation.pot_id == pot.id,
        FundingAllocation.recipient_organisation_id == trust.id,
        FundingAllocation.innovation_id.is_(None),
        FundingAllocation.status == AllocationStatus.ACTIVE))
    return found
