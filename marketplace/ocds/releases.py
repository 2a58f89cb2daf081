"""OCDS 1.1 releases and packages, built from a tender's rows: the only place that shapes them.

Every release states the tender as it stands (the notice, its periods, the published
clarifications and, once the deadline has passed, only how many responded), the parties,
and then what the process has reached: the award (its value is the winning price, the
contract's value at the award), the contract as it stands with its amendments, and its
early end. Nothing here reads a response: a sealed price or answer, a score, and the
identity or price of a losing responder never reach a release (see ``docs/ocds.md``).

Values are JSON-ready (strings, numbers, lists, dicts); absent facts are left out rather
than ``null``, so merging never blanks what an earlier release said.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from marketplace.contracts.models import Contract, ContractVariation
from marketplace.frameworks.models import FrameworkLot
from marketplace.organisations.models import Organisation
from marketplace.tenders.models import Tender, TenderCriterion, TenderQuestion
from schemas.identifiers import COMPANIES_HOUSE
from schemas.statuses import ContractStatus, CriterionKind, TenderProcedure, TenderStatus

VERSION = "1.1"
PUBLISHER = {"name": "NHS Innovation Marketplace"}
#: Public sector information, published under the Open Government Licence v3.0.
LICENSE = "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/"
#: Extensions whose fields the releases use: published clarifications
#: (``tender.enquiries``) and an early end (``contracts.implementation.endDate``).
EXTENSIONS = (
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_enquiry_extension/"
    "v1.1.5/extension.json",
    "https://raw.githubusercontent.com/open-contracting-extensions/"
    "ocds_contract_completion_extension/master/extension.json",
)
#: ``links.next`` of a release package page.
PAGINATION_EXTENSION = ("https://raw.githubusercontent.com/open-contracting-extensions/"
                        "ocds_pagination_extension/master/extension.json")

# Release tags (the closed releaseTag codelist).
TENDER, TENDER_UPDATE, TENDER_CANCELLATION = "tender", "tenderUpdate", "tenderCancellation"
AWARD, CONTRACT = "award", "contract"
CONTRACT_AMENDMENT, CONTRACT_TERMINATION = "contractAmendment", "contractTermination"
CONTRACT_TAGS = frozenset({CONTRACT, CONTRACT_AMENDMENT, CONTRACT_TERMINATION})

#: org-id.guide lists: NHS Digital's Organisation Data Service, and Companies House.
NHS_ODS, COMPANIES_HOUSE_SCHEME = "GB-NHS", "GB-COH"
#: UN/CEFACT Recommendation 20, the scheme of the tenders' and contracts' unit codes.
UNIT_SCHEME = "UNCEFACT"
LONDON = ZoneInfo("Europe/London")

#: Our tender statuses in the tenderStatus codelist: the process is active from the notice
#: until the award (evaluation included) and complete once awarded. Drafts are never
#: published.
TENDER_STATUS: dict[str, str] = {
    TenderStatus.PUBLISHED: "active",
    TenderStatus.CLOSED: "active",
    TenderStatus.EVALUATED: "active",
    TenderStatus.AWARDED: "complete",
    TenderStatus.UNSUCCESSFUL: "unsuccessful",
    TenderStatus.CANCELLED: "cancelled",
}
#: A further competition admits only the suppliers on the framework lot: selective.
METHOD: dict[str, str] = {TenderProcedure.OPEN: "open",
                          TenderProcedure.FRAMEWORK_COMPETITION: "selective"}
#: Our contract statuses are the contractStatus codelist's own words.
CONTRACT_STATUS: dict[str, str] = {status: status.value for status in ContractStatus}
VARIED_FIELDS = {"value_pence": "value", "starts_on": "start date", "ends_on": "end date",
                 "lines": "items and unit prices", "eligible_trusts": "eligible trusts",
                 "payment_terms_days": "payment terms", "currency": "currency"}


@dataclass(frozen=True)
class Process:
    """The rows one release is built from, loaded in the transaction that writes it."""

    ocid: str
    tender: Tender
    #: Answered clarification questions, by number (the asker is never published).
    enquiries: Sequence[TenderQuestion] = ()
    lot: FrameworkLot | None = None
    contract: Contract | None = None
    variations: Sequence[ContractVariation] = ()
    #: The awarded supplier (its identity is public from the award).
    supplier: Organisation | None = None


def ocid(prefix: str, tender_id: str) -> str:
    """The contracting process's id: the publisher's registered prefix and the tender id."""
    return f"{prefix}-{tender_id}"


# --- values -----------------------------------------------------------------------------
def instant(at: datetime | None) -> str | None:
    """RFC 3339 in UTC to the second: strings that sort as the instants do (ocdsmerge
    orders releases by comparing their ``date`` strings)."""
    return None if at is None else at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(day: date, at: time) -> str:
    """A moment of a contract day, in Europe/London (where the contract's days are)."""
    return datetime.combine(day, at, LONDON).isoformat()


def period(starts_on: date, ends_on: date) -> dict[str, str]:
    """A contract period of whole days: the first day's start to the last day's end."""
    return {"startDate": _day(starts_on, time(0)), "endDate": _day(ends_on, time(23, 59, 59))}


def value(pence: int, currency: str) -> dict[str, Any]:
    """An OCDS Value: the amount is in the currency's unit (pounds), never in pence."""
    return {"amount": pence // 100 if pence % 100 == 0 else pence / 100, "currency": currency}


def _present(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` without its ``None`` values (a merge would read ``null`` as "remove")."""
    return {key: item for key, item in obj.items() if item is not None}


# --- parties ----------------------------------------------------------------------------
def party_id(org: Organisation) -> str:
    return f"{_scheme(org)}-{org.code}"


def _scheme(org: Organisation) -> str:
    """Innovators (and funders that are companies) by Companies House number, NHS bodies
    by ODS code; the two patterns never overlap (``schemas.identifiers``)."""
    return COMPANIES_HOUSE_SCHEME if COMPANIES_HOUSE.fullmatch(org.code) else NHS_ODS


def _reference(org: Organisation) -> dict[str, str]:
    return {"id": party_id(org), "name": org.name}


def _party(org: Organisation, roles: list[str]) -> dict[str, Any]:
    return {**_reference(org),
            "identifier": {"scheme": _scheme(org), "id": org.code, "legalName": org.name},
            "roles": roles}


def _buyer(p: Process) -> Organisation:
    """Who pays: the contract's ICB once there is one (a merged ICB's successor), else the
    ICB that runs the tender."""
    return p.contract.buyer_icb if p.contract is not None else p.tender.icb


def _parties(p: Process) -> list[dict[str, Any]]:
    runner, buyer = p.tender.icb, _buyer(p)
    if buyer.id == runner.id:
        parties = [_party(runner, ["buyer", "procuringEntity"])]
    else:
        parties = [_party(buyer, ["buyer"]), _party(runner, ["procuringEntity"])]
    if p.supplier is not None:
        parties.append(_party(p.supplier, ["supplier", "payee"]))
    return parties


# --- the tender -------------------------------------------------------------------------
def _item(line: dict[str, Any]) -> dict[str, Any]:
    return _present({"id": line["item_id"], "description": line["description"],
                     "quantity": line.get("quantity"),
                     "unit": {"scheme": UNIT_SCHEME, "id": line["unit_code"]}})


def _enquiry(question: TenderQuestion) -> dict[str, Any]:
    """A published clarification: question and answer, never who asked."""
    return {"id": str(question.number), "date": instant(question.asked_at),
            "description": question.question, "answer": question.answer,
            "dateAnswered": instant(question.answered_at)}


def _method_details(p: Process) -> str:
    if p.lot is None:
        return "Open procedure: any supplier with an eligible listing may respond."
    return (f"Further competition among the suppliers holding an award on lot "
            f"{p.lot.lot_number} ({p.lot.title}) of framework {p.lot.framework.reference}.")


CRITERION_KINDS = {CriterionKind.QUALITY: "quality", CriterionKind.PRICE: "price",
                   CriterionKind.SOCIAL_VALUE: "social value"}


def _criteria(tender: Tender) -> str:
    """The weighted criteria, each with its kind unless its title already says it."""
    def label(criterion: TenderCriterion) -> str:
        kind = CRITERION_KINDS.get(criterion.kind, criterion.kind)
        title = criterion.title
        return title if title.casefold() == kind else f"{title} ({kind})"

    return "; ".join(f"{label(c)}: {c.weight_percent}%" for c in tender.criteria)


def _tender(p: Process) -> dict[str, Any]:
    t = p.tender
    closes = t.submission_closes_at or t.submission_deadline
    clarifications_close = t.clarification_closes_at or t.clarification_deadline
    return _present({
        "id": t.reference,
        "title": t.title,
        "description": t.description,
        "status": TENDER_STATUS[t.status],
        "procuringEntity": _reference(t.icb),
        "items": [_item(line) for line in t.lines] or None,
        "value": value(t.estimated_value_pence, t.currency),
        "procurementMethod": METHOD[t.procedure],
        "procurementMethodDetails": _method_details(p),
        "awardCriteria": "ratedCriteria",
        "awardCriteriaDetails": _criteria(t),
        "submissionMethod": ["electronicSubmission"],
        "submissionMethodDetails": "Sealed responses through the NHS Innovation Marketplace.",
        "eligibilityCriteria": (f"A listing meeting NICE Evidence Standards Framework tier "
                                f"{t.min_esf_tier} or above."),
        "tenderPeriod": {"startDate": instant(t.published_at), "endDate": instant(closes)},
        "enquiryPeriod": {"startDate": instant(t.published_at),
                          "endDate": instant(clarifications_close)},
        "hasEnquiries": bool(p.enquiries),
        "enquiries": [_enquiry(q) for q in p.enquiries] or None,
        "awardPeriod": _present({"startDate": instant(closes),
                                 "endDate": instant(t.awarded_at)}),
        # Counted at the deadline; before it, even the count stays sealed.
        "numberOfTenderers": t.responses_received if t.closed_at is not None else None,
    })


def _related(p: Process) -> list[dict[str, Any]] | None:
    if p.lot is None:
        return None
    return [{"id": "framework", "relationship": ["framework"],
             "title": p.lot.framework.title, "identifier": p.lot.framework.reference}]


# --- the award and the contract ---------------------------------------------------------
def award_status(p: Process) -> str:
    """Pending through the standstill, active once the contract is signed, cancelled with
    the tender."""
    if p.tender.status == TenderStatus.CANCELLED:
        return "cancelled"
    if p.contract is not None and p.contract.signed_at is not None:
        return "active"
    return "pending"


def _award(p: Process, value_pence: int) -> dict[str, Any]:
    """The award as the award notice states it: the winner and the winning price."""
    t, contract = p.tender, p.contract
    standstill = instant(t.standstill_ends_at)
    return _present({
        "id": t.award_id,
        "title": t.title,
        "description": f"The standstill period ends at {standstill}." if standstill else None,
        "status": award_status(p),
        "date": instant(t.awarded_at),
        "value": value(value_pence, contract.currency if contract else t.currency),
        "suppliers": [_reference(p.supplier)] if p.supplier is not None else None,
        "contractPeriod": period(contract.starts_on, contract.ends_on) if contract else None,
    })


def _amendment(variation: ContractVariation, currency: str) -> dict[str, Any]:
    changed = ", ".join(VARIED_FIELDS.get(f, f) for f in variation.changed_fields)
    values = ""
    if variation.value_pence != variation.previous_value_pence:
        before = value(variation.previous_value_pence, currency)["amount"]
        after = value(variation.value_pence, currency)["amount"]
        values = f" The value went from {before} to {after} {currency}."
    return {"id": str(variation.number), "date": instant(variation.varied_at),
            "rationale": variation.reason,
            "description": f"Variation {variation.number} changed: {changed}.{values}"}


def _contract(p: Process, contract: Contract) -> dict[str, Any]:
    """The contract as it stands now: its current terms, every amendment, its end."""
    ended = None
    if contract.status == ContractStatus.TERMINATED and contract.effective_on is not None:
        ended = {"endDate": _day(contract.effective_on, time(23, 59, 59)),
                 "endDateDetails": f"Terminated early ({contract.reason_code}): "
                                   f"{contract.reason}"}
    return _present({
        "id": contract.id,
        "awardID": contract.award_id or p.tender.award_id,
        "title": p.tender.title,
        "description": f"Contract {contract.reference}.",
        "status": CONTRACT_STATUS[contract.status],
        "period": period(contract.starts_on, contract.ends_on),
        "value": value(contract.value_pence, contract.currency),
        "items": [{"id": line.item_id, "description": line.description,
                   "unit": {"scheme": UNIT_SCHEME, "id": line.unit_code,
                            "value": value(line.unit_price_pence, contract.currency)}}
                  for line in contract.lines] or None,
        "dateSigned": instant(contract.signed_at),
        "amendments": [_amendment(v, contract.currency) for v in p.variations] or None,
        "implementation": ended,
    })


def _shows_contract(p: Process, tag: str) -> bool:
    """A contract is published from its signature (or with the cancellation that ends it
    unsigned), never while it is a mere proposal of the award."""
    contract = p.contract
    return contract is not None and (tag in CONTRACT_TAGS or contract.signed_at is not None
                                     or contract.status == ContractStatus.CANCELLED)


# --- releases and packages --------------------------------------------------------------
def release(p: Process, *, tag: str, release_id: str, date: datetime,
            award_value_pence: int | None = None) -> dict[str, Any]:
    """The release ``release_id`` tagged ``tag``. An ``award`` release states the whole
    award (``award_value_pence``: the winning price); later ones only its status, so a
    variation of the contract never rewrites what was awarded."""
    t = p.tender
    awards = None
    if tag == AWARD:
        if award_value_pence is None:
            raise ValueError("an award release needs the awarded value")
        awards = [_award(p, award_value_pence)]
    elif t.award_id is not None:
        awards = [{"id": t.award_id, "status": award_status(p)}]
    contracts = ([_contract(p, p.contract)]
                 if p.contract is not None and _shows_contract(p, tag) else None)
    return _present({
        "ocid": p.ocid,
        "id": release_id,
        "date": instant(date),
        "tag": [tag],
        "initiationType": "tender",
        "language": "en",
        "parties": _parties(p),
        "buyer": _reference(_buyer(p)),
        "tender": _tender(p),
        "awards": awards,
        "contracts": contracts,
        "relatedProcesses": _related(p),
    })


def _package(uri: str, published: datetime, extensions: Sequence[str]) -> dict[str, Any]:
    return {"uri": uri, "version": VERSION, "extensions": list(extensions),
            "publishedDate": instant(published), "publisher": PUBLISHER, "license": LICENSE,
            # The policy is docs/ocds.md; the marketplace serves no page of it yet.
            "publicationPolicy": None}


def release_package(uri: str, releases: list[dict[str, Any]], published: datetime,
                    next_url: str | None) -> dict[str, Any]:
    """One page of releases; ``links.next`` only when more follow (OCDS API practice)."""
    return {**_package(uri, published, (*EXTENSIONS, PAGINATION_EXTENSION)),
            "releases": releases,
            "links": {"next": next_url} if next_url else {}}


def record_package(uri: str, releases: list[dict[str, Any]], compiled: dict[str, Any],
                   published: datetime) -> dict[str, Any]:
    """The record of one process: every release, embedded, and the compiled release."""
    return {**_package(uri, published, EXTENSIONS),
            "records": [{"ocid": compiled["ocid"], "releases": releases,
                         "compiledRelease": compiled}]}
