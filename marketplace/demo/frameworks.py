"""Demo framework for ``marketplace seed-demo``: one live framework across the cancer
pathway, two lots, and awards to the demo listings that are centrally approved.

Everything goes through the services as the marketplace operator, so the demo has the
same audit rows and ``framework.*`` events as real use. Dates are relative to today so
the framework stays live. The framework is found by its reference, so running it twice
adds nothing; a listing no longer approved (its approval lapsed) is left out.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from marketplace.approvals.rules import add_years
from marketplace.catalogue.models import Innovation
from marketplace.frameworks import service as frameworks
from marketplace.frameworks.models import Framework
from marketplace.kernel.actor import Actor
from marketplace.kernel.clock import LONDON, london_day
from marketplace.kernel.errors import Conflict
from marketplace.kernel.unit_of_work import UnitOfWork

REFERENCE = "NHS-CPDIF-2026"
FRAMEWORK: dict[str, str] = {
    "title": "Cancer Pathway Digital Innovation Framework 2026",
    "description": "Centrally approved digital innovations for the cancer pathway, bought the "
                   "same way by every ICB and trust: call-offs at or below the awarded "
                   "ceiling prices, or a further competition between a lot's suppliers.",
}
#: (title, categories); lots are numbered 1 and 2 in this order.
LOTS: tuple[tuple[str, list[str]], ...] = (
    ("Referral, triage and diagnosis", ["cancer.triage", "cancer.referral",
                                        "cancer.diagnostics"]),
    ("Treatment, consent and patient information", ["cancer.treatment", "consent",
                                                     "cancer.patient_information"]),
)
#: (listing name, lot number, ceiling lines as (item id, description, unit, pence)).
AWARDS: tuple[tuple[str, str, tuple[tuple[str, str, str, int], ...]], ...] = (
    ("Clearpath Referral Triage", "1", (
        ("CPT-TRIAGE-LIC", "Clearpath Referral Triage annual site licence", "C62", 2_400_000),
        ("CPT-ONBOARD", "Clinical onboarding and training day", "DAY", 95_000))),
    ("Consentic eConsent", "2", (
        ("CON-ECONSENT-SUB", "Consentic eConsent annual subscription per trust", "C62",
         1_800_000),)),
    ("LinguaCare Patient Information", "2", (
        ("LCP-SITE-LIC", "LinguaCare patient information annual site licence", "C62",
         1_200_000),
        ("LCP-TRANSLATE", "Clinically reviewed translation of one leaflet", "C62", 25_000))),
)
OPERATOR = Actor(id="demo-seed", role="admin", label="marketplace seed-demo")


@contextmanager
def _as_operator(uow: UnitOfWork) -> Iterator[None]:
    saved = uow.actor
    uow.actor = OPERATOR
    try:
        yield
    finally:
        uow.actor = saved


def _period(uow: UnitOfWork) -> tuple[datetime, datetime]:
    """From the first of this month (London) for four years, the longest a framework
    agreement may normally run."""
    today = london_day(uow.now())
    first = today.replace(day=1)
    return (datetime.combine(first, time(0, 0), LONDON),
            datetime.combine(add_years(first, 4) - timedelta(days=1), time(23, 59, 59), LONDON))


def _lines(lines: tuple[tuple[str, str, str, int], ...]) -> list[dict[str, Any]]:
    return [{"item_id": item, "description": text, "unit_code": unit,
             "ceiling_unit_price_pence": pence} for item, text, unit, pence in lines]


def seed(uow: UnitOfWork) -> Iterator[str]:
    """Add the demo framework if it is missing, with its lots and awards."""
    if uow.session.scalar(select(Framework.id).where(Framework.reference == REFERENCE)):
        return
    starts_at, ends_at = _period(uow)
    with _as_operator(uow):
        framework = frameworks.create(uow, **FRAMEWORK, starts_at=starts_at, ends_at=ends_at,
                                      reference=REFERENCE)
        lots = {lot.lot_number: lot for lot in (
            frameworks.add_lot(uow, framework.id, title=title, categories=categories)
            for title, categories in LOTS)}
        frameworks.publish(uow, framework.id)
        yield f"framework {REFERENCE} {framework.title} ({len(lots)} lots)"
        for name, lot_number, lines in AWARDS:
            innovation = uow.session.scalar(select(Innovation).where(Innovation.name == name))
            if innovation is None:
                continue
            try:
                frameworks.grant_award(uow, framework.id, lot_id=lots[lot_number].id,
                                       innovation_id=innovation.id, lines=_lines(lines),
                                       starts_at=starts_at, ends_at=ends_at)
            except Conflict:  # not (or no longer) centrally approved: no award
                continue
            yield f"framework award {REFERENCE} lot {lot_number}: {name}"
