"""Demo tenders for ``marketplace seed-demo``: one open for responses, one awarded with a
signed contract that trusts can order against.

Everything goes through the services, as each party in turn, so the demo has the same
audit rows, sealed responses and events as real use. The awarded tender is replayed with
its clock set back (published 45 days ago, closed, scored and awarded a fortnight later,
signed after its standstill), so its contract is in force today; the listings' central
approvals are shown as they stand today. Tenders are found by title and ICB, so running
it twice adds nothing; a listing that is not (or no longer) eligible is left out.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from marketplace.catalogue.models import Innovation
from marketplace.contracts import service as contracts
from marketplace.demo.catalogue import acting_as
from marketplace.kernel.errors import Conflict
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.organisations import service as organisations
from marketplace.tenders import clarifications, evaluation, responses
from marketplace.tenders import service as tenders
from marketplace.tenders.models import Tender

CRITERIA = [
    {"title": "Clinical quality, safety and accessibility", "weight_percent": 50,
     "kind": "quality"},
    {"title": "Implementation and integration with trust systems", "weight_percent": 20,
     "kind": "quality"},
    {"title": "Social value: digital inclusion", "weight_percent": 10,
     "kind": "social_value"},
    {"title": "Price", "weight_percent": 20, "kind": "price"},
]
OPEN_TENDER: dict[str, Any] = {
    "title": "Translated cancer patient information for Greater Manchester",
    "description": "Clinically reviewed patient information and education videos for "
                   "cancer services in the 20 most spoken languages of Greater Manchester, "
                   "for both acute trusts, with onboarding and usage reporting.",
    "categories": ["cancer.patient_information", "translation"],
    "pathway_stages": ["diagnosis", "treatment", "follow_up"], "procedure": "open",
    "estimated_value_pence": 9_000_000, "contract_term_months": 24, "min_esf_tier": "A",
    "criteria": CRITERIA,
}
AWARDED_TENDER: dict[str, Any] = {
    "title": "Digital consent for systemic anti-cancer therapy",
    "description": "Procedure-specific digital consent for chemotherapy and radiotherapy "
                   "at two acute trusts, signed before the appointment, with onboarding.",
    "categories": ["consent", "cancer.treatment"], "pathway_stages": ["treatment"],
    "procedure": "open", "estimated_value_pence": 6_000_000, "contract_term_months": 24,
    "min_esf_tier": "A", "criteria": CRITERIA,
    "lines": [{"item_id": "ECONSENT-SUB", "description": "Digital consent annual "
               "subscription per trust", "unit_code": "C62", "quantity": 4},
              {"item_id": "ONBOARD-DAY", "description": "Clinical onboarding day",
               "unit_code": "DAY", "quantity": 10}],
}
#: (listing, unit prices of the awarded tender's items, scores of the non-price criteria)
BIDS: tuple[tuple[str, dict[str, int], tuple[int, int, int]], ...] = (
    ("Consentic eConsent", {"ECONSENT-SUB": 1_150_000, "ONBOARD-DAY": 90_000}, (85, 80, 70)),
    ("LinguaCare Patient Information", {"ECONSENT-SUB": 1_300_000, "ONBOARD-DAY": 80_000},
     (55, 60, 80)),
)


@contextmanager
def _clock_at(uow: UnitOfWork, when: datetime) -> Iterator[None]:
    saved = uow.clock
    uow.clock = lambda: when
    try:
        yield
    finally:
        uow.clock = saved


def _exists(uow: UnitOfWork, icb: str, title: str) -> bool:
    org = organisations.get_exact(uow, icb)
    return uow.session.scalar(select(Tender.id).where(
        Tender.icb_id == org.id, Tender.title == title)) is not None


def _answers(tender: Tender, listing: str) -> list[dict[str, str]]:
    return [{"criterion_id": c.id, "text": f"How {listing} meets '{c.title}': see the "
             "attached implementation plan and the DTAC evidence on the listing."}
            for c in tender.criteria if c.kind != "price"]


def _open_tender(uow: UnitOfWork, now: datetime) -> Iterator[str]:
    if _exists(uow, "QOP", OPEN_TENDER["title"]):
        return
    with acting_as(uow, "icb_buyer", "QOP"):
        tender = tenders.create(uow, **OPEN_TENDER,
                                clarification_deadline=now + timedelta(days=14),
                                submission_deadline=now + timedelta(days=28))
        tenders.publish(uow, tender.id)
    with acting_as(uow, "innovator", "SC654321"):
        question = clarifications.ask(uow, tender.id, question="Is British Sign Language "
                                      "video in scope as one of the languages?")
    with acting_as(uow, "icb_buyer", "QOP"):
        clarifications.answer(uow, tender.id, question.id, answer="Yes: BSL counts as one "
                              "of the 20 languages; captioned videos are expected.")
    yield f"tender {tender.reference} {tender.title} (open for responses)"


def _awarded_tender(uow: UnitOfWork, now: datetime) -> Iterator[str]:
    if _exists(uow, "QMJ", AWARDED_TENDER["title"]):
        return
    start = now - timedelta(days=45)
    with acting_as(uow, "icb_buyer", "QMJ"), _clock_at(uow, start):
        tender = tenders.create(uow, **AWARDED_TENDER,
                                clarification_deadline=start + timedelta(days=7),
                                submission_deadline=start + timedelta(days=14))
        tenders.publish(uow, tender.id)
    received = []
    for name, prices, scores in BIDS:
        listing = uow.session.scalar(select(Innovation).where(Innovation.name == name))
        if listing is None:
            continue
        price = sum(prices[line["item_id"]] * int(line["quantity"]) for line in tender.lines)
        with acting_as(uow, "innovator", listing.organisation.code), \
                _clock_at(uow, start + timedelta(days=3)):
            try:
                response = responses.submit(
                    uow, tender.id, innovation_id=listing.id, price_pence=price,
                    answers=_answers(tender, name),
                    unit_prices=[{"item_id": i, "unit_price_pence": p}
                                 for i, p in prices.items()])
            except Conflict:  # not (or no longer) eligible: no response
                continue
        received.append((response.id, scores))
    with _clock_at(uow, start + timedelta(days=14, seconds=1)):
        tenders.close(uow, tenders.locked(uow, tender.id))
    if not received:
        yield f"tender {tender.reference} {tender.title} (no eligible responses)"
        return
    non_price = [c for c in tender.criteria if c.kind != "price"]
    with acting_as(uow, "icb_buyer", "QMJ"), _clock_at(uow, start + timedelta(days=15)):
        for response_id, scores in received:
            evaluation.score(uow, tender.id, response_id=response_id, scores=[
                {"criterion_id": c.id, "score": s, "rationale": f"Panel consensus: {s}/100 "
                 f"against '{c.title}'."} for c, s in zip(non_price, scores, strict=True)])
        leader = evaluation.rank(uow, tender).leaders[0].opened.response.id
    with acting_as(uow, "icb_buyer", "QMJ"), _clock_at(uow, start + timedelta(days=16)):
        awarded = evaluation.award(uow, tender.id, response_id=leader)
    assert awarded.standstill_ends_at is not None and awarded.contract_id is not None
    signed_at = awarded.standstill_ends_at + timedelta(hours=9)
    with acting_as(uow, "icb_buyer", "QMJ"), _clock_at(uow, min(signed_at, now)):
        contract = contracts.sign(uow, awarded.contract_id)
    yield (f"tender {tender.reference} {tender.title} (awarded; contract "
           f"{contract.reference} signed)")


def seed(uow: UnitOfWork) -> Iterator[str]:
    """Add the demo tenders that are missing."""
    now = uow.now()
    yield from _open_tender(uow, now)
    yield from _awarded_tender(uow, now)
