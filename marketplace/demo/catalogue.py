"""Demo catalogue for ``marketplace seed-demo``: listings across the cancer pathway, some
approved, some conditional, one expiring soon, one under review, one draft.

Everything goes through the services (as the innovator, then as the central assessor), so
the demo has the same audit rows and outbox events as real use. Dates are relative to
today so the demo stays current. A listing already present (by organisation and name) is
skipped, so running it twice adds nothing.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from marketplace.approvals import service as approvals
from marketplace.catalogue import evidence
from marketplace.catalogue import service as innovations
from marketplace.catalogue.models import Innovation
from marketplace.kernel.actor import Actor
from marketplace.kernel.clock import london_day
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.organisations import service as organisations

ASSESSOR_CODE = "X24"
PASS = {"c1": "pass", "c2": "pass", "c3": "pass", "c4": "pass", "d": "pass"}


@dataclass(frozen=True)
class DemoListing:
    owner: str
    listing: dict[str, Any]
    #: None: stays a draft; "published": no approval; else the approval's end state.
    outcome: str | None
    d_score: int = 80
    #: Cyber Essentials lapses this many days from today (the earliest evidence).
    cyber_days: int = 300
    conditions: list[str] = field(default_factory=list)


def _listing(name: str, summary: str, version: str, categories: list[str],
             stages: list[str], use_cases: list[str], tier: str, device: str, mark: str,
             pricing: str) -> dict[str, Any]:
    return {"name": name, "summary": summary, "product_version": version,
            "categories": categories, "pathway_stages": stages, "use_cases": use_cases,
            "esf_tier": tier, "device_class": device, "device_mark": mark,
            "pricing_model": pricing}


DEMO_LISTINGS: tuple[DemoListing, ...] = (
    DemoListing("09876543", _listing(
        "Clearpath Referral Triage",
        "AI-assisted triage of urgent suspected cancer referrals from primary care, "
        "prioritising patients for straight-to-test and faster diagnosis.",
        "3.2", ["cancer.triage", "cancer.referral"], ["referral_triage", "diagnosis"],
        ["AI triage", "digital pre-assessment"], "C", "IIa", "UKCA", "site_licence"),
        "approved", d_score=88),
    DemoListing("09876543", _listing(
        "Clearpath Symptom Checker",
        "Guided symptom questionnaire for people worried about cancer symptoms, with "
        "safety-netting advice and a summary for the GP.",
        "1.4", ["cancer.prevention", "cancer.triage"], ["prevention", "referral_triage"],
        ["digital pre-assessment", "patient education videos"], "C", "I", "UKCA",
        "per_patient"),
        "conditional", d_score=72,
        conditions=["Publish the WCAG 2.2 AA accessibility audit of the Welsh-language "
                    "version."]),
    DemoListing("11122233", _listing(
        "Consentic eConsent",
        "Pre-filled, procedure-specific consent forms for chemotherapy and radiotherapy, "
        "signed digitally before the appointment.",
        "5.0", ["cancer.treatment", "consent"], ["treatment"],
        ["pre-filled consent", "digital pre-assessment"], "A", "not_a_device", "none",
        "subscription"),
        "approved", d_score=91, cyber_days=21),  # expires soon: Cyber Essentials lapses
    DemoListing("SC654321", _listing(
        "LinguaCare Patient Information",
        "Clinically reviewed translation of cancer patient information into 40 languages, "
        "with short patient education videos.",
        "2.1", ["cancer.patient_information", "translation"],
        ["prevention", "diagnosis", "treatment", "follow_up"],
        ["translation of patient information", "patient education videos"], "A",
        "not_a_device", "none", "site_licence"),
        "approved", d_score=94),
    DemoListing("10293847", _listing(
        "Oncoview Lung Nodule AI",
        "Detects and measures lung nodules on chest CT and flags suspected cancer for "
        "urgent radiologist review.",
        "2.0", ["cancer.diagnostics", "imaging"], ["diagnosis"], ["AI triage"], "C", "IIb",
        "UKCA", "per_use"),
        "under_review"),
    DemoListing("13579246", _listing(
        "TrialMatch Oncology",
        "Matches patients to open cancer clinical trials from their pathway data, for "
        "discussion at the multidisciplinary team meeting.",
        "1.0", ["cancer.research", "cancer.treatment"], ["treatment", "follow_up"],
        ["clinical-trial matching"], "B", "not_a_device", "none", "subscription"),
        "published"),
    DemoListing("09876543", _listing(
        "Clearpath Follow-up Monitor",
        "Remote symptom monitoring after cancer treatment, with escalation to the "
        "clinical nurse specialist.",
        "0.9", ["cancer.follow_up"], ["follow_up"], ["remote monitoring"], "B", "I",
        "UKCA", "per_patient"),
        None),
)


@contextmanager
def acting_as(uow: UnitOfWork, role: str, code: str) -> Iterator[None]:
    """Services act as ``uow.actor``; the demo plays each party in turn."""
    org = organisations.get_exact(uow, code)
    saved = uow.actor
    uow.actor = Actor(id="demo-seed", role=role, organisation_id=org.id,
                      organisation_code=org.code, label="marketplace seed-demo")
    try:
        yield
    finally:
        uow.actor = saved


def _dspt_year(today: date) -> str:
    """The latest DSPT year already published by the 30 June deadline."""
    start = today.year - 1 if today.month > 6 else today.year - 2
    return f"{start}-{(start + 1) % 100:02d}"


def _submission(uow: UnitOfWork, innovation: Innovation, demo: DemoListing, today: date,
                evidence_dir: Path) -> dict[str, Any]:
    docs = {}
    for kind in ("dcb0129_safety_case", "hazard_log", "dpia"):
        content = (f"Demo {kind} for {innovation.name} {innovation.product_version} "
                   "(illustrative, not a real document).").encode()
        docs[kind] = evidence.add(
            uow, innovation.id, evidence_dir=evidence_dir, kind=kind,
            title=kind.replace("_", " ").capitalize(), filename=f"{kind}.txt",
            media_type="text/plain", content=content).id
    is_device = innovation.device_class != "not_a_device"
    return {
        "c1_clinical_safety": {
            "safety_case_evidence_id": docs["dcb0129_safety_case"],
            "hazard_log_evidence_id": docs["hazard_log"],
            "clinical_safety_officer": "Clinical Safety Officer (demo)",
            "clinical_safety_officer_registration": "GMC 0000000"},
        "c2_data_protection": {"ico_registration": "ZA000000", "dpia_evidence_id": docs["dpia"],
                               "dspt_status": "standards_met", "dspt_year": _dspt_year(today)},
        "c3_technical_security": {
            "cyber_essentials_level": "cyber_essentials_plus",
            "cyber_essentials_expires_on": today + timedelta(days=demo.cyber_days),
            "penetration_test_on": today - timedelta(days=30), "mfa_enabled": True},
        "c4_interoperability": {"interoperability_standards": ["FHIR UK Core", "NHS login"]},
        "d_usability_accessibility": {"wcag_level": "AA"},
        "device": {"device_class": innovation.device_class,
                   "device_mark": innovation.device_mark,
                   "device_certificate_expires_on":
                       today + timedelta(days=3 * 365) if is_device else None},
        "nice": {"nice_esf_tier": innovation.esf_tier,
                 "nice_route": "early_value_assessment" if is_device else "none"},
    }


def _approve(uow: UnitOfWork, approval_id: str, demo: DemoListing, today: date) -> None:
    approvals.start_review(uow, approval_id)
    if demo.outcome == "under_review":
        return
    conditions = [{"text": text, "due_on": today + timedelta(days=120)}
                  for text in demo.conditions]
    dtac = {**PASS, "d_score": demo.d_score}
    if conditions:
        dtac["d"] = "conditional"
    approvals.decide(uow, approval_id, outcome=str(demo.outcome), dtac=dtac,
                     conditions=conditions)


def seed(uow: UnitOfWork, evidence_dir: Path) -> Iterator[str]:
    """Add the demo listings that are missing (matched by organisation and name)."""
    today = london_day(uow.now())
    for demo in DEMO_LISTINGS:
        owner = organisations.get_exact(uow, demo.owner)
        if uow.session.scalar(select(Innovation.id).where(
                Innovation.organisation_id == owner.id,
                Innovation.name == demo.listing["name"])):
            continue
        with acting_as(uow, "innovator", demo.owner):
            innovation = innovations.create(uow, **demo.listing)
            if demo.outcome is not None:
                innovations.update(uow, innovation.id, expected_version=innovation.version,
                                   status="published")
            approval = None
            if demo.outcome not in (None, "published"):
                body = _submission(uow, innovation, demo, today, evidence_dir)
                approval = approvals.submit(uow, innovation.id, **body)
        if approval is not None:
            with acting_as(uow, "assessor", ASSESSOR_CODE):
                _approve(uow, approval.id, demo, today)
        yield (f"innovation {innovation.name} ({demo.outcome or 'draft'}"
               f"{', expires ' + approval.expires_at.date().isoformat() if approval else ''})")
