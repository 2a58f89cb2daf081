"""Open contracting data: each tender's history as OCDS 1.1 releases, paged in publication
order by a cursor that never skips, and a record package compiled by ocdsmerge.

The rows are written here with the ORM and the real events are emitted (or the fact
notified) in the same unit of work, so the OCDS reactions run as in production (the
tender API's own runs are in ``test_tenders_*``). Every release and package is validated
offline against the OCDS 1.1.5 schemas (``tests/data/ocds-1.1.5``, a copy of
``../shared/data/ocds-1.1.5``; the schemas' URLs map to those files).
"""
from __future__ import annotations

import configparser
import fnmatch
import json
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from jsonschema import Draft4Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4
from sqlalchemy import select

from marketplace.catalogue.models import Innovation
from marketplace.contracts.models import Contract, ContractLine, ContractVariation
from marketplace.frameworks.models import Framework, FrameworkLot
from marketplace.http.wiring import marketplace_of
from marketplace.kernel.actor import Actor
from marketplace.kernel.settings import Settings
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.ocds import service
from marketplace.ocds.models import OcdsRelease
from marketplace.organisations.models import Organisation
from marketplace.tenders.models import Tender, TenderCriterion, TenderQuestion, TenderResponse
from schemas.events import registry
from schemas.events.common import EX_CONTRACT, EX_TENDER
from schemas.statuses import OrganisationKind
from tests.conftest import Clock

ROOT = Path(__file__).resolve().parent.parent
OCDS_DIR = ROOT / "tests" / "data" / "ocds-1.1.5"  # a copy of ../shared/data/ocds-1.1.5
API = "/api/v1"
PREFIX = "ocds-t3st01"
ICB, WINNER, LOSER = "QWE", "12345678", "11122233"
LOSER_NAME = "Undisclosed Runner-Up Ltd"
#: Sealed into the losing response: it must never appear in any published JSON.
SENTINEL_PRICE = "987654321"
AWARD_PENCE, VARIED_PENCE = 22_200_000, 24_100_000
DAY, HOUR = timedelta(days=1), timedelta(hours=1)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The conftest settings with a registered-looking prefix of our own."""
    return settings.with_overrides(ocds_prefix=PREFIX)


# --- the OCDS 1.1.5 schemas, offline -----------------------------------------------------
def _schema(name: str) -> dict[str, Any]:
    return json.loads((OCDS_DIR / name).read_text())


_SCHEMAS = ("release-schema.json", "release-package-schema.json",
            "record-package-schema.json", "versioned-release-validation-schema.json")
REGISTRY: Registry = Registry().with_resources(
    (_schema(name)["id"], DRAFT4.create_resource(_schema(name))) for name in _SCHEMAS)


def assert_valid(instance: dict[str, Any], schema_name: str) -> None:
    validator = Draft4Validator(_schema(schema_name), registry=REGISTRY,
                                format_checker=Draft4Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


# --- a tender's life, written with the ORM, with the real events -------------------------
def emit(uow: UnitOfWork, name: str, **overrides: Any) -> None:
    """Emit event ``name`` with the contract's example payload (a valid one) and
    ``overrides``: the OCDS reactions read only its ids."""
    spec = registry.by_name(name)
    uow.emit(spec, {**spec.example, **overrides})


@dataclass
class Story:
    """One test's marketplace: the parties, and each step of a tender in its own unit of
    work, committed, emitting its event as the tender and contract services will."""

    uow_factory: Callable[..., UnitOfWork]
    clock: Clock
    orgs: dict[str, int] = field(default_factory=dict)
    listings: dict[str, str] = field(default_factory=dict)

    def setup(self) -> Story:
        with self.uow_factory() as uow:
            for code, kind, name in ((ICB, "icb", "NHS Test Integrated Care Board"),
                                     (WINNER, "innovator", "Oncoflow Digital Ltd"),
                                     (LOSER, "innovator", LOSER_NAME)):
                org = Organisation(code=code, kind=OrganisationKind(kind), name=name)
                uow.session.add(org)
                uow.session.flush()
                self.orgs[code] = org.id
                if kind == "innovator":
                    self.listings[code] = self._listing(uow, org.id, name)
            uow.commit()
        return self

    def _listing(self, uow: UnitOfWork, org_id: int, name: str) -> str:
        listing = Innovation(
            id=str(uuid.uuid4()), organisation_id=org_id, status="published",
            name=f"{name} triage", summary="AI triage.", product_version="1.0",
            categories=["cancer.triage"], pathway_stages=["referral_triage"],
            use_cases=["triage"], esf_tier="C", device_class="IIa", device_mark="UKCA",
            pricing_model="site_licence", published_at=self.clock.now)
        uow.session.add(listing)
        uow.session.flush()
        return listing.id

    def run(self, act: Callable[[UnitOfWork], Any]) -> Any:
        """``act`` in a committed unit of work, a minute after the previous step."""
        self.clock.advance(minutes=1)
        with self.uow_factory() as uow:
            result = act(uow)
            uow.commit()
        return result

    # --- the tender ---
    def publish(self, tender_id: str = EX_TENDER, *, lot: FrameworkLot | None = None,
                draft: bool = False) -> str:
        def act(uow: UnitOfWork) -> None:
            now = self.clock.now
            tender = Tender(
                id=tender_id, reference=f"QWE-2026-{tender_id[:8].upper()}",
                icb_id=self.orgs[ICB], status="draft" if draft else "published",
                procedure="framework_competition" if lot else "open",
                framework_id=lot.framework_id if lot else None, lot_id=lot.id if lot else None,
                title="AI triage for urgent suspected cancer referrals",
                description="AI-assisted triage of suspected cancer referrals.",
                categories=["cancer.triage"], pathway_stages=["referral_triage"],
                lines=[{"item_id": "OFT-TRIAGE-LIC", "description": "Annual site licence",
                        "unit_code": "C62", "quantity": 2, "vat_category": "S",
                        "vat_rate": "20"}],
                estimated_value_pence=25_000_000, contract_term_months=24, min_esf_tier="B",
                clarification_deadline=now + 10 * DAY, submission_deadline=now + 20 * DAY,
                clarification_closes_at=None if draft else now + 10 * DAY,
                submission_closes_at=None if draft else now + 20 * DAY,
                created_at=now, created_by="test", published_at=None if draft else now,
                status_changed_at=now, updated_at=now)
            tender.criteria = [
                TenderCriterion(id=str(uuid.uuid4()), position=i, title=title, kind=kind,
                                weight_percent=weight)
                for i, (title, kind, weight) in enumerate(
                    (("Clinical quality and safety", "quality", 60),
                     ("Social value", "social_value", 10), ("Price", "price", 30)), 1)]
            uow.session.add(tender)
            if not draft:
                emit(uow, "tender.published", tender_id=tender_id, procedure="open",
                     framework_id=None, lot_id=None, signal_id=None)

        self.run(act)
        return tender_id

    def respond(self, tender_id: str = EX_TENDER) -> dict[str, str]:
        """The winner's and a loser's sealed responses; ``sealed`` holds the sentinel in
        clear, so a leak of the column would show."""
        def act(uow: UnitOfWork) -> dict[str, str]:
            ids = {}
            for code in (WINNER, LOSER):
                ids[code] = str(uuid.uuid4())
                uow.session.add(TenderResponse(
                    id=ids[code], tender_id=tender_id, innovation_id=self.listings[code],
                    organisation_id=self.orgs[code], key_id="test",
                    sealed=f'{{"price_pence": {SENTINEL_PRICE}}}'.encode(),
                    submitted_at=self.clock.now, updated_at=self.clock.now))
            return ids

        return self.run(act)

    def answer_question(self, tender_id: str = EX_TENDER) -> None:
        def act(uow: UnitOfWork) -> None:
            number = len(uow.session.scalars(select(TenderQuestion.id).where(
                TenderQuestion.tender_id == tender_id)).all()) + 1
            question = TenderQuestion(
                id=str(uuid.uuid4()), tender_id=tender_id, number=number,
                asker_organisation_id=self.orgs[LOSER], question="Is on-premises hosting "
                "acceptable?", asked_at=self.clock.now - HOUR, answer="No: cloud only.",
                answered_at=self.clock.now, answered_by="buyer")
            uow.session.add(question)
            uow.notify("tender.question.answered",
                       {"tender_id": tender_id, "question_id": question.id})

        self.clock.advance(hours=2)
        self.run(act)

    def close(self, tender_id: str = EX_TENDER, responses: int = 2) -> None:
        def act(uow: UnitOfWork) -> None:
            tender = uow.session.get(Tender, tender_id)
            tender.status = "closed" if responses else "unsuccessful"
            tender.closed_at, tender.responses_received = self.clock.now, responses
            emit(uow, "tender.closed", tender_id=tender_id, responses_received=responses)

        self.clock.now += 20 * DAY
        self.run(act)

    def award(self, response_id: str, tender_id: str = EX_TENDER,
              contract_id: str = EX_CONTRACT) -> None:
        def act(uow: UnitOfWork) -> None:
            now = self.clock.now
            tender = uow.session.get(Tender, tender_id)
            tender.status, tender.evaluated_at = "awarded", now
            tender.award_id, tender.awarded_response_id = str(uuid.uuid4()), response_id
            tender.awarded_at, tender.standstill_ends_at = now, now + 8 * DAY
            contract = Contract(
                id=contract_id, reference=f"QWE-C-2026-{contract_id[:4].upper()}",
                tender_id=tender_id, award_id=tender.award_id, buyer_icb_id=self.orgs[ICB],
                supplier_organisation_id=self.orgs[WINNER],
                innovation_id=self.listings[WINNER], status="pending",
                value_pence=AWARD_PENCE, term_months=24, starts_on=date(2027, 1, 4),
                ends_on=date(2029, 1, 3), eligible_trusts=["RJ7"],
                standstill_ends_at=now + 8 * DAY, created_at=now, status_changed_at=now,
                updated_at=now)
            contract.lines = [ContractLine(
                line_id="1", item_id="OFT-TRIAGE-LIC", position=1,
                description="Annual site licence", unit_code="C62",
                unit_price_pence=11_100_000, vat_category="S", vat_rate="20")]
            uow.session.add(contract)
            emit(uow, "tender.awarded", tender_id=tender_id, award_value_pence=AWARD_PENCE)

        self.run(act)

    def cancel(self, tender_id: str = EX_TENDER) -> None:
        def act(uow: UnitOfWork) -> None:
            tender = uow.session.get(Tender, tender_id)
            tender.status, tender.cancelled_at = "cancelled", self.clock.now
            tender.reason_code, tender.reason = "need_changed", "Requirement merged."
            contract = uow.session.scalar(select(Contract).where(
                Contract.tender_id == tender_id))
            if contract is not None:
                contract.status, contract.cancelled_at = "cancelled", self.clock.now
            emit(uow, "tender.cancelled", tender_id=tender_id)

        self.run(act)

    # --- the contract ---
    def sign(self, contract_id: str = EX_CONTRACT, tender_id: str | None = EX_TENDER) -> None:
        def act(uow: UnitOfWork) -> None:
            contract = uow.session.get(Contract, contract_id)
            contract.status, contract.signed_at = "active", self.clock.now
            emit(uow, "contract.signed", contract_id=contract_id, tender_id=tender_id)

        self.clock.now += 9 * DAY
        self.run(act)

    def vary(self, contract_id: str = EX_CONTRACT) -> None:
        def act(uow: UnitOfWork) -> None:
            contract = uow.session.get(Contract, contract_id)
            before = {"value_pence": contract.value_pence, "ends_on": str(contract.ends_on)}
            contract.value_pence, contract.ends_on = VARIED_PENCE, date(2029, 7, 3)
            contract.variation_number = 1
            uow.session.add(ContractVariation(
                id=str(uuid.uuid4()), contract_id=contract_id, number=1,
                previous_value_pence=AWARD_PENCE, value_pence=VARIED_PENCE,
                changed_fields=["ends_on", "value_pence"], before=before,
                after={"value_pence": VARIED_PENCE, "ends_on": "2029-07-03"},
                reason="Six-month extension.", varied_at=self.clock.now, varied_by="buyer"))
            emit(uow, "contract.varied", contract_id=contract_id, tender_id=EX_TENDER)

        self.run(act)

    def terminate(self, contract_id: str = EX_CONTRACT) -> None:
        def act(uow: UnitOfWork) -> None:
            contract = uow.session.get(Contract, contract_id)
            contract.status, contract.terminated_at = "terminated", self.clock.now
            contract.effective_on = date(2028, 3, 31)
            contract.reason_code, contract.reason = "convenience", "Service redesigned."
            emit(uow, "contract.terminated", contract_id=contract_id)

        self.run(act)

    def whole_life(self) -> None:
        """Notice, a clarification, two sealed responses, close, award, signature, a
        variation and an early termination: one release of every tag but cancellation."""
        self.publish()
        responses = self.respond()
        self.answer_question()
        self.close()
        self.award(responses[WINNER])
        self.sign()
        self.vary()
        self.terminate()


@pytest.fixture
def story(uow_factory: Callable[..., UnitOfWork], clock: Clock) -> Story:
    return Story(uow_factory, clock).setup()


def releases_page(client: FlaskClient, query: str = "") -> dict[str, Any]:
    response = client.get(f"{API}/ocds/releases{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    return response.get_json()


def record(client: FlaskClient, ocid: str) -> dict[str, Any]:
    response = client.get(f"{API}/ocds/records/{ocid}")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    return response.get_json()


def by_tag(package: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {release["tag"][0]: release for release in package["releases"]}


OCID = f"{PREFIX}-{EX_TENDER}"


# --- validity ----------------------------------------------------------------------------
def test_every_tag_validates_and_so_do_both_packages(story: Story,
                                                     client: FlaskClient) -> None:
    story.whole_life()
    story.publish(str(uuid.uuid4()))
    other = story.publish(str(uuid.uuid4()))
    story.cancel(other)

    package = releases_page(client)
    tags = [release["tag"] for release in package["releases"]]
    assert tags == [["tender"], ["tenderUpdate"], ["tenderUpdate"], ["award"], ["contract"],
                    ["contractAmendment"], ["contractTermination"], ["tender"], ["tender"],
                    ["tenderCancellation"]]
    for release in package["releases"]:
        assert_valid(release, "release-schema.json")
    assert_valid(package, "release-package-schema.json")
    assert package["uri"].startswith("http://localhost/api/v1/ocds/releases?")
    assert package["version"] == "1.1"
    assert package["publisher"] == {"name": "NHS Innovation Marketplace"}
    assert package["license"].startswith("https://")

    records = record(client, OCID)
    assert_valid(records, "record-package-schema.json")
    assert records["uri"] == f"http://localhost/api/v1/ocds/records/{OCID}"
    assert records["records"][0]["releases"] == package["releases"][:7]
    assert records["publishedDate"] == package["releases"][6]["date"]


def test_release_ids_are_unique_within_a_process_and_ocids_use_the_prefix(
        story: Story, client: FlaskClient) -> None:
    story.whole_life()
    releases = releases_page(client)["releases"]
    assert {r["ocid"] for r in releases} == {OCID}
    assert len({r["id"] for r in releases}) == len(releases)
    assert all(r["initiationType"] == "tender" for r in releases)


def test_a_unit_of_work_without_settings_uses_the_default_prefix(app: Any) -> None:
    bare = UnitOfWork(marketplace_of(app).session_factory, Actor(id="t", role="admin",
                                                                 label="t"))
    assert service.ocid_for(bare, EX_TENDER) == f"ocds-xxxxxx-{EX_TENDER}"


# --- what each release says --------------------------------------------------------------
def test_the_tender_release_is_the_notice_with_the_buyer_by_ods_code(
        story: Story, client: FlaskClient) -> None:
    story.publish()
    (release,) = releases_page(client)["releases"]
    buyer_id = f"GB-NHS-{ICB}"
    assert release["buyer"] == {"id": buyer_id, "name": "NHS Test Integrated Care Board"}
    assert release["parties"] == [{
        "id": buyer_id, "name": "NHS Test Integrated Care Board",
        "identifier": {"scheme": "GB-NHS", "id": ICB,
                       "legalName": "NHS Test Integrated Care Board"},
        "roles": ["buyer", "procuringEntity"]}]
    tender = release["tender"]
    assert tender["status"] == "active"
    assert tender["procuringEntity"]["id"] == buyer_id
    assert tender["value"] == {"amount": 250000, "currency": "GBP"}
    assert tender["procurementMethod"] == "open"
    assert tender["awardCriteria"] == "ratedCriteria"
    assert tender["awardCriteriaDetails"] == ("Clinical quality and safety (quality): 60%; "
                                              "Social value: 10%; Price: 30%")
    assert tender["items"] == [{"id": "OFT-TRIAGE-LIC", "description": "Annual site licence",
                                "quantity": 2, "unit": {"scheme": "UNCEFACT", "id": "C62"}}]
    assert tender["tenderPeriod"] == {"startDate": "2026-11-21T09:01:00Z",
                                      "endDate": "2026-12-11T09:01:00Z"}
    assert tender["enquiryPeriod"]["endDate"] == "2026-12-01T09:01:00Z"
    assert tender["hasEnquiries"] is False
    assert "numberOfTenderers" not in tender
    assert "awards" not in release and "contracts" not in release


def test_an_answered_question_is_published_without_its_asker(story: Story,
                                                              client: FlaskClient) -> None:
    story.publish()
    story.answer_question()
    update = by_tag(releases_page(client))["tenderUpdate"]
    assert update["tender"]["hasEnquiries"] is True
    (enquiry,) = update["tender"]["enquiries"]
    assert set(enquiry) == {"id", "date", "description", "answer", "dateAnswered"}
    assert enquiry["answer"] == "No: cloud only."
    assert LOSER not in json.dumps(update) and LOSER_NAME not in json.dumps(update)
    assert all("enquirer" not in p["roles"] for p in update["parties"])
    assert any("ocds_enquiry_extension" in url
               for url in releases_page(client)["extensions"])


def test_nothing_sealed_is_published_before_the_deadline_nor_any_losing_bid_ever(
        story: Story, client: FlaskClient) -> None:
    story.publish()
    story.respond()
    story.answer_question()  # a release built while two sealed responses exist
    before_deadline = releases_page(client)["releases"]
    assert all("numberOfTenderers" not in r["tender"] for r in before_deadline)

    story.close()
    closed = releases_page(client)["releases"][-1]
    assert closed["tag"] == ["tenderUpdate"]
    assert closed["tender"]["numberOfTenderers"] == 2
    assert closed["tender"]["status"] == "active"

    with story.uow_factory() as uow:
        winner = uow.session.scalar(select(TenderResponse.id).where(
            TenderResponse.organisation_id == story.orgs[WINNER]))
    story.award(winner)
    story.sign()
    published = json.dumps([releases_page(client), record(client, OCID)])
    for secret in (SENTINEL_PRICE, "9876543.21", LOSER, LOSER_NAME, winner):
        assert secret not in published
    for key in ("tenderers", "bids", "price_pence", "sealed", "score"):
        assert f'"{key}"' not in published


def test_a_closed_tender_without_responses_is_unsuccessful(story: Story,
                                                            client: FlaskClient) -> None:
    story.publish()
    story.close(responses=0)
    tender = releases_page(client)["releases"][-1]["tender"]
    assert tender["status"] == "unsuccessful"
    assert tender["numberOfTenderers"] == 0


def test_the_award_names_the_supplier_by_companies_house_number_and_the_winning_price(
        story: Story, client: FlaskClient) -> None:
    story.publish()
    responses = story.respond()
    story.close()
    story.award(responses[WINNER])
    award_release = by_tag(releases_page(client))["award"]
    (award,) = award_release["awards"]
    assert award["status"] == "pending"  # the standstill runs
    assert award["value"] == {"amount": 222000, "currency": "GBP"}
    assert award["suppliers"] == [{"id": f"GB-COH-{WINNER}", "name": "Oncoflow Digital Ltd"}]
    assert award["contractPeriod"] == {"startDate": "2027-01-04T00:00:00+00:00",
                                       "endDate": "2029-01-03T23:59:59+00:00"}
    supplier = next(p for p in award_release["parties"] if "supplier" in p["roles"])
    assert supplier["identifier"] == {"scheme": "GB-COH", "id": WINNER,
                                      "legalName": "Oncoflow Digital Ltd"}
    assert supplier["roles"] == ["supplier", "payee"]
    assert award_release["tender"]["status"] == "complete"
    assert "contracts" not in award_release  # proposed only, until signed


def test_contract_releases_carry_the_contract_as_it_stands(story: Story,
                                                           client: FlaskClient) -> None:
    story.whole_life()
    tags = by_tag(releases_page(client))
    (signed,) = tags["contract"]["contracts"]
    assert signed["status"] == "active"
    assert signed["dateSigned"]
    assert signed["value"] == {"amount": 222000, "currency": "GBP"}
    assert signed["items"][0]["unit"]["value"] == {"amount": 111000, "currency": "GBP"}
    assert tags["contract"]["awards"][0]["status"] == "active"
    (varied,) = tags["contractAmendment"]["contracts"]
    assert varied["value"] == {"amount": 241000, "currency": "GBP"}
    assert varied["period"]["endDate"] == "2029-07-03T23:59:59+01:00"
    (amendment,) = varied["amendments"]
    assert amendment["rationale"] == "Six-month extension."
    assert "222000 to 241000 GBP" in amendment["description"]
    (ended,) = tags["contractTermination"]["contracts"]
    assert ended["status"] == "terminated"
    assert ended["implementation"]["endDate"] == "2028-03-31T23:59:59+01:00"
    assert "Service redesigned." in ended["implementation"]["endDateDetails"]


# --- the record --------------------------------------------------------------------------
def test_the_compiled_release_is_the_latest_state(story: Story, client: FlaskClient) -> None:
    story.whole_life()
    (rec,) = record(client, OCID)["records"]
    compiled = rec["compiledRelease"]
    assert compiled["tag"] == ["compiled"]
    assert compiled["ocid"] == OCID
    assert compiled["tender"]["status"] == "complete"
    assert compiled["tender"]["numberOfTenderers"] == 2
    assert len(compiled["tender"]["enquiries"]) == 1
    (award,) = compiled["awards"]
    assert award["status"] == "active"
    assert award["value"]["amount"] == 222000  # what was awarded stays what was awarded
    (contract,) = compiled["contracts"]
    assert contract["value"]["amount"] == 241000  # the varied value
    assert contract["status"] == "terminated"
    assert len(contract["amendments"]) == 1
    assert {p["id"] for p in compiled["parties"]} == {f"GB-NHS-{ICB}", f"GB-COH-{WINNER}"}


def test_a_cancelled_tender_compiles_as_cancelled(story: Story, client: FlaskClient) -> None:
    story.publish()
    story.cancel()
    compiled = record(client, OCID)["records"][0]["compiledRelease"]
    assert compiled["tender"]["status"] == "cancelled"


def test_a_cancellation_after_the_award_cancels_award_and_unsigned_contract(
        story: Story, client: FlaskClient) -> None:
    story.publish()
    responses = story.respond()
    story.close()
    story.award(responses[WINNER])
    story.cancel()
    cancellation = by_tag(releases_page(client))["tenderCancellation"]
    assert_valid(cancellation, "release-schema.json")
    compiled = record(client, OCID)["records"][0]["compiledRelease"]
    assert compiled["awards"][0]["status"] == "cancelled"
    assert compiled["contracts"][0]["status"] == "cancelled"
    assert compiled["awards"][0]["value"]["amount"] == 222000


def test_a_framework_competition_is_selective_and_related_to_its_framework(
        story: Story, client: FlaskClient) -> None:
    def add_framework(uow: UnitOfWork) -> FrameworkLot:
        now = story.clock.now
        framework = Framework(
            id=str(uuid.uuid4()), reference="FW-2026-0001", title="Digital cancer pathways",
            description="Approved innovations.", owner_organisation_id=story.orgs[ICB],
            status="published", starts_at=now - DAY, ends_at=now + 400 * DAY, created_at=now,
            created_by="admin", published_at=now, status_changed_at=now, updated_at=now)
        lot = FrameworkLot(id=str(uuid.uuid4()), framework_id=framework.id, position=1,
                           lot_number="1", title="Referral and triage",
                           categories=["cancer.triage"], created_at=now)
        uow.session.add_all([framework, lot])
        uow.session.flush()
        return lot

    lot = story.run(add_framework)
    story.publish(lot=lot)
    (release,) = releases_page(client)["releases"]
    assert_valid(release, "release-schema.json")
    assert release["tender"]["procurementMethod"] == "selective"
    assert "lot 1 (Referral and triage) of framework FW-2026-0001" in \
        release["tender"]["procurementMethodDetails"]
    assert release["relatedProcesses"] == [{
        "id": "framework", "relationship": ["framework"], "title": "Digital cancer pathways",
        "identifier": "FW-2026-0001"}]


def test_drafts_and_tenderless_contracts_publish_nothing(story: Story,
                                                         client: FlaskClient) -> None:
    draft = story.publish(str(uuid.uuid4()), draft=True)
    story.cancel(draft)
    with story.uow_factory() as uow:
        now = story.clock.now
        uow.session.add(Contract(
            id=EX_CONTRACT, reference="QWE-C-2026-0001", tender_id=None,
            buyer_icb_id=story.orgs[ICB], supplier_organisation_id=story.orgs[WINNER],
            innovation_id=story.listings[WINNER], status="pending", value_pence=100,
            term_months=12, starts_on=date(2027, 1, 1), ends_on=date(2027, 12, 31),
            eligible_trusts=["RJ7"], created_at=now, status_changed_at=now, updated_at=now))
        uow.commit()
    story.sign(tender_id=None)
    assert releases_page(client)["releases"] == []
    with story.uow_factory() as uow:
        assert uow.session.scalars(select(OcdsRelease)).all() == []


def test_an_unknown_ocid_is_a_404_problem(client: FlaskClient) -> None:
    response = client.get(f"{API}/ocds/records/{PREFIX}-nothing")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == 404


def test_the_record_is_compiled_offline(story: Story, client: FlaskClient,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    story.publish()

    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("ocdsmerge tried to reach the network")

    service._merger.cache_clear()
    monkeypatch.setattr(socket.socket, "connect", no_network)
    assert record(client, OCID)["records"][0]["compiledRelease"]["tender"]["status"]


# --- paging ------------------------------------------------------------------------------
def test_pages_follow_publication_order_until_the_last(story: Story,
                                                       client: FlaskClient) -> None:
    story.whole_life()  # 7 releases
    with story.uow_factory() as uow:
        positions = uow.session.scalars(select(OcdsRelease.position)
                                        .order_by(OcdsRelease.position)).all()
        ids = {row.position: row.release_id for row in uow.session.scalars(
            select(OcdsRelease))}
    assert positions == list(range(1, 8))

    seen, url, pages = [], f"{API}/ocds/releases?limit=3", 0
    while url:
        package = releases_page(client, url.split("/ocds/releases", 1)[1])
        assert_valid(package, "release-package-schema.json")
        seen += [r["id"] for r in package["releases"]]
        url = package["links"].get("next")
        pages += 1
    assert pages == 3
    assert seen == [ids[p] for p in positions]

    first = releases_page(client, "?limit=3")
    assert first["links"]["next"] == "http://localhost/api/v1/ocds/releases?after=3&limit=3"
    after_five = releases_page(client, "?after=5")
    assert [r["id"] for r in after_five["releases"]] == [ids[6], ids[7]]
    assert "next" not in after_five["links"]
    exactly_all = releases_page(client, "?limit=7")
    assert len(exactly_all["releases"]) == 7 and "next" not in exactly_all["links"]
    past_the_end = releases_page(client, "?after=7")
    assert past_the_end["releases"] == [] and past_the_end["links"] == {}


@pytest.mark.parametrize("query", ["?limit=0", "?limit=101", "?after=-1", "?after=x"])
def test_bad_cursors_are_422(client: FlaskClient, query: str) -> None:
    response = client.get(f"{API}/ocds/releases{query}")
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"


def test_a_release_committed_late_is_never_skipped(story: Story, client: FlaskClient,
                                                   database_url: str) -> None:
    """Two writers: the second blocks on the counter row until the first commits, so a
    reader that pages meanwhile cannot pass over the first's release."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers at BEGIN: a reader would wait as well")
    first_id, second_id = str(uuid.uuid4()), str(uuid.uuid4())
    positioned, go, errors = threading.Event(), threading.Event(), []

    def second_writer() -> None:
        try:
            with story.uow_factory() as uow:
                _add_published_tender(story, uow, second_id)
                positioned.set()
                go.wait(10)
                uow.commit()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
            positioned.set()

    with story.uow_factory() as first:
        _add_published_tender(story, first, first_id)  # holds the counter row
        writer = threading.Thread(target=second_writer)
        writer.start()
        assert not positioned.wait(0.5), "the second writer took a position before the first"
        assert releases_page(client)["releases"] == []
        first.commit()
    assert positioned.wait(10) and not errors, errors

    page = releases_page(client)  # the second writer holds position 2, uncommitted
    assert [r["ocid"] for r in page["releases"]] == [f"{PREFIX}-{first_id}"]
    go.set()
    writer.join(10)
    assert not errors, errors
    later = releases_page(client, "?after=1")
    assert [r["ocid"] for r in later["releases"]] == [f"{PREFIX}-{second_id}"]


def _add_published_tender(story: Story, uow: UnitOfWork, tender_id: str) -> None:
    now = story.clock.now
    uow.session.add(Tender(
        id=tender_id, reference=f"QWE-2026-{tender_id[:8].upper()}", icb_id=story.orgs[ICB],
        status="published", procedure="open", title="Concurrent", description="Concurrent.",
        categories=["cancer.triage"], pathway_stages=["referral_triage"], lines=[],
        estimated_value_pence=100, contract_term_months=12, min_esf_tier="A",
        clarification_deadline=now + DAY, submission_deadline=now + 2 * DAY,
        clarification_closes_at=now + DAY, submission_closes_at=now + 2 * DAY,
        created_at=now, created_by="test", published_at=now, status_changed_at=now,
        updated_at=now))
    emit(uow, "tender.published", tender_id=tender_id, procedure="open", framework_id=None,
         lot_id=None, signal_id=None)


# --- the shipped schema ------------------------------------------------------------------
def test_the_shipped_release_schema_is_ocds_1_1_5_and_is_package_data() -> None:
    shipped = resources.files("marketplace.ocds") / service.RELEASE_SCHEMA
    assert shipped.read_bytes() == (OCDS_DIR / "release-schema.json").read_bytes()
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    patterns = [p.strip() for p in config["options.package_data"]["marketplace.ocds"]
                .split(",")]
    assert any(fnmatch.fnmatch(service.RELEASE_SCHEMA, p) for p in patterns)
