"""Demo demand for ``marketplace seed-demo``: ICB needs across the cancer pathway.

ICBs signal demand poorly today (each in its own words, in its own procurement portal),
so innovators cannot see national demand and commissioners cannot see which proven tools
already exist. The demo signals use the catalogue's words: Greater Manchester wants
faster diagnosis of urgent suspected cancer referrals and remote monitoring after
treatment, North Central London patient education in many languages and lung nodule
detection, the merged West of England ICB pre-filled consent and digital
pre-assessment; each states its budget, population and evidence bar. Against the demo
catalogue some meet pre-approved supply, some only near misses (an approval lapsing
before the needed-by date, one under review) and one a supply gap.

Everything goes through the demand service, as each ICB's buyer, so the demo has the
same audit rows, tallies and events as real use. Dates are relative to today. A signal
already present (by ICB and title) is skipped, so running it twice adds nothing.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from marketplace.demand import service as signals
from marketplace.demand.models import DemandSignal
from marketplace.demo.catalogue import acting_as
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.organisations import service as organisations

POUNDS = 100  # pence


@dataclass(frozen=True)
class DemoSignal:
    icb: str
    signal: dict[str, Any]
    #: Days from today to ``needed_by`` (None: no date).
    needed_in_days: int | None
    #: Closes the signal with this outcome once posted (None: stays open).
    closed_as: str | None = None


def _signal(title: str, need: str, categories: list[str], stages: list[str],
            use_cases: list[str], tier: str, population: int | None,
            budget_pounds: int | None, trusts: list[str], *,
            requires_central_approval: bool = True) -> dict[str, Any]:
    return {"title": title, "need": need, "categories": categories,
            "pathway_stages": stages, "use_cases": use_cases, "trusts": trusts,
            "min_esf_tier": tier, "requires_central_approval": requires_central_approval,
            "population_covered": population,
            "indicative_budget_pence": None if budget_pounds is None
            else budget_pounds * POUNDS}


DEMO_SIGNALS: tuple[DemoSignal, ...] = (
    DemoSignal("QOP", _signal(
        "Faster diagnosis for urgent suspected cancer referrals",
        "Reduce the time from GP referral to first test on the lower GI and skin pathways "
        "so that more patients get a diagnosis or all-clear within 28 days, by triaging "
        "urgent suspected cancer referrals straight to test.",
        ["cancer.triage"], ["referral_triage", "diagnosis"],
        ["AI triage", "digital pre-assessment"], "C", 2_900_000, 450_000, ["R0A", "RBV"]),
        needed_in_days=180),
    DemoSignal("QOP", _signal(
        "Remote symptom monitoring after cancer treatment",
        "Monitor symptoms remotely after breast and colorectal cancer treatment, escalating "
        "to the clinical nurse specialist, so follow-up clinics see those who need them.",
        ["cancer.follow_up"], ["follow_up"], ["remote monitoring"], "B", 2_900_000,
        300_000, ["RBV"]),
        needed_in_days=270),
    DemoSignal("QMJ", _signal(
        "Patient education in 40 languages across the cancer pathway",
        "Give patients and carers clinically reviewed information and short education "
        "videos in their own language, from screening invitation to life after treatment.",
        ["cancer.patient_information"], ["prevention", "diagnosis", "treatment", "follow_up"],
        ["patient education videos", "translation of patient information"], "A", 1_700_000,
        120_000, ["RAL", "RRV"]),
        needed_in_days=120),
    DemoSignal("QMJ", _signal(
        "Lung nodule detection on chest CT",
        "Detect and measure lung nodules on chest CT and flag suspected cancer for urgent "
        "radiologist review, supporting faster diagnosis in the targeted lung health check.",
        ["cancer.diagnostics"], ["diagnosis"], ["image analysis", "AI triage"], "C",
        1_700_000, 600_000, ["RAL"]),
        needed_in_days=200),
    DemoSignal("Q9W", _signal(
        "Pre-filled consent before chemotherapy",
        "Procedure-specific consent forms completed with the patient before the first "
        "chemotherapy appointment, signed digitally, across the merged footprint.",
        ["cancer.treatment", "consent"], ["treatment"], ["pre-filled consent"], "A",
        2_400_000, 80_000, ["RA7"]),
        needed_in_days=90),
    DemoSignal("Q9W", _signal(
        "Digital pre-assessment for people worried about cancer symptoms",
        "A guided symptom questionnaire for people worried about possible cancer symptoms, "
        "with safety-netting advice and a summary for the GP; a pilot, ahead of central "
        "approval.",
        ["cancer.prevention", "cancer.triage"], ["prevention", "referral_triage"],
        ["digital pre-assessment"], "B", 2_400_000, None, [],
        requires_central_approval=False),
        needed_in_days=None),
    DemoSignal("QOP", _signal(
        "Clinical trial matching at the multidisciplinary team meeting",
        "Match patients to open cancer trials from their pathway data for discussion at the "
        "MDT.", ["cancer.research"], ["treatment"], ["clinical-trial matching"], "B",
        2_900_000, 50_000, ["R0A"]),
        needed_in_days=200, closed_as="met_by_existing_contract"),
)


def seed(uow: UnitOfWork) -> Iterator[str]:
    """Add the demo signals that are missing (matched by posting ICB and title)."""
    today = signals.today(uow)
    for demo in DEMO_SIGNALS:
        icb = organisations.get_exact(uow, demo.icb)
        if uow.session.scalar(select(DemandSignal.id).where(
                DemandSignal.icb_id == icb.id, DemandSignal.title == demo.signal["title"])):
            continue
        needed_by = (today + timedelta(days=demo.needed_in_days)
                     if demo.needed_in_days is not None else None)
        with acting_as(uow, "icb_buyer", demo.icb):
            signal = signals.post(uow, **demo.signal, needed_by=needed_by)
            if demo.closed_as is not None:
                signals.close(uow, signal.id, outcome=demo.closed_as)
        budget = signal.indicative_budget_pence
        yield (f"demand signal {demo.icb} {signal.title} ({signal.status}"
               f"{f', GBP {budget // POUNDS:,}' if budget is not None else ''})")
