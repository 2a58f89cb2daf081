"""Demo data for ``marketplace seed-demo`` and ``marketplace dev``: safe to run twice."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

from sqlalchemy import select

from marketplace.demo import catalogue as demo_catalogue
from marketplace.demo import demand as demo_demand
from marketplace.demo import frameworks as demo_frameworks
from marketplace.demo import funding as demo_funding
from marketplace.demo import orders as demo_orders
from marketplace.demo import tenders as demo_tenders
from marketplace.kernel.settings import INSTANCE_DIR
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.organisations import service as organisations
from marketplace.organisations.models import Organisation

# (code, kind, name, parent ICB)
DEMO_ORGANISATIONS: tuple[tuple[str, str, str, str | None], ...] = (
    ("QOP", "icb", "NHS Greater Manchester Integrated Care Board", None),
    ("QMJ", "icb", "NHS North Central London Integrated Care Board", None),
    ("QUY", "icb", "NHS Bristol, North Somerset and South Gloucestershire ICB", None),
    ("QOX", "icb", "NHS Bath and North East Somerset, Swindon and Wiltshire ICB", None),
    ("Q9W", "icb", "NHS West of England Integrated Care Board (merged footprint)", None),
    ("R0A", "trust", "Manchester University NHS Foundation Trust", "QOP"),
    ("RBV", "trust", "The Christie NHS Foundation Trust", "QOP"),
    ("RAL", "trust", "Royal Free London NHS Foundation Trust", "QMJ"),
    ("RRV", "trust", "University College London Hospitals NHS Foundation Trust", "QMJ"),
    ("RA7", "trust", "University Hospitals Bristol and Weston NHS Foundation Trust", "QUY"),
    ("X24", "assessor", "NHS England Central Innovation Assessment", None),
    ("X26", "funder", "NHS England Cancer Programme Innovation Fund", None),
    ("12345678", "funder", "Oncology Research Charity Limited", None),
    demo_funding.PHARMA_COMPANY,
    ("09876543", "innovator", "Clearpath Triage Ltd", None),
    ("11122233", "innovator", "Consentic Health Ltd", None),
    ("SC654321", "innovator", "LinguaCare Scotland Ltd", None),
    ("10293847", "innovator", "Oncoview Diagnostics Ltd", None),
    ("13579246", "innovator", "TrialMatch Health Ltd", None),
)

#: Where the app stores evidence files by default (``Settings.evidence_dir``).
DEFAULT_EVIDENCE_DIR = INSTANCE_DIR / "evidence"

# ICBs merged into a successor from April 2026 (CONTRACT.md: keep code history).
DEMO_MERGERS: tuple[tuple[str, str, date], ...] = (
    ("QUY", "Q9W", date(2026, 4, 1)),
    ("QOX", "Q9W", date(2026, 4, 1)),
)


def seed(uow: UnitOfWork, evidence_dir: Path | None = None) -> Iterator[str]:
    """Add what is missing; report each thing added."""
    existing = set(uow.session.scalars(select(Organisation.code)))
    for code, kind, name, parent in DEMO_ORGANISATIONS:
        if code not in existing:
            organisations.add(uow, code=code, kind=kind, name=name, parent=parent)
            yield f"organisation {code} {name}"
    for code, successor, on in DEMO_MERGERS:
        org = organisations.get_exact(uow, code)
        if org.successor is None:
            organisations.update(uow, code, expected_version=org.version, successor=successor,
                                 succeeded_on=on)
            yield f"merger {code} -> {successor} from {on}"
    yield from demo_catalogue.seed(uow, evidence_dir or DEFAULT_EVIDENCE_DIR)
    yield from demo_demand.seed(uow)
    yield from demo_frameworks.seed(uow)
    yield from demo_tenders.seed(uow)
    yield from demo_funding.seed(uow)
    yield from demo_orders.seed(uow)
