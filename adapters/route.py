"""The procurement route: ONE versioned rule set that every trust adapter applies.

Pure functions, one per event type: given the trust, the event (validated wire
data and its envelope facts) and a read-only :class:`View` of the trust's register,
a rule returns :class:`Effects` (rows to write, journal lines, documents to issue)
and never touches a database, a file or the clock. Every time a rule uses is an
event time, so the same events give the same register at every trust and on every
replay. ``docs/adapter-route.md`` is the human-readable form of this module.

The register's tables are declared here too (:data:`TABLES`), because the route
defines what state exists and what the state hash covers: the *shared* tables hold
what every conforming trust derives identically (approvals, frameworks, awards,
suppliers, contracts) and make up :func:`state_hash`; the *trust* tables (funding
lines, orders, invoices, payments) hold what only concerns this trust.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from schemas.events.common import compute_totals

ROUTE_VERSION = "2026.1"
LONDON = ZoneInfo("Europe/London")

Record = dict[str, Any]

# --- the register's tables -----------------------------------------------------------
# (column, kind): kind is "str", "int", "bool" or "json". The first column is the key.
TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "approval": (
        ("approval_id", "str"), ("innovation_id", "str"), ("product_version", "str"),
        ("innovator_org_id", "str"), ("innovator_companies_house_number", "str"),
        ("status", "str"), ("decided_at", "str"), ("expires_at", "str"),
        ("status_at", "str"), ("status_reason", "str"), ("conditions", "json"),
        ("nice_esf_tier", "str"), ("device_class", "str"), ("reinstated", "bool"),
    ),
    "framework": (
        ("framework_id", "str"), ("reference", "str"), ("title", "str"),
        ("starts_at", "str"), ("ends_at", "str"), ("status", "str"), ("status_at", "str"),
    ),
    "framework_award": (
        ("award_id", "str"), ("framework_id", "str"), ("framework_reference", "str"),
        ("lot_id", "str"), ("lot_number", "str"), ("supplier_org_id", "str"),
        ("innovation_ids", "json"), ("price_ceilings", "json"), ("starts_at", "str"),
        ("ends_at", "str"), ("status", "str"), ("status_at", "str"),
    ),
    # One row per way a supplier is onboarded (a framework award or a contract), so the
    # table never depends on the order in which different aggregates were applied.
    "supplier": (
        ("onboarding_id", "str"), ("supplier_org_id", "str"), ("via", "str"),
        ("via_id", "str"), ("companies_house_number", "str"), ("legal_name", "str"),
        ("vat_number", "str"), ("country_code", "str"), ("peppol_participant_id", "str"),
        ("valid_from", "str"), ("valid_until", "str"), ("status", "str"),
    ),
    "contract": (
        ("contract_id", "str"), ("reference", "str"), ("buyer_icb_ods", "str"),
        ("framework_id", "str"), ("supplier_org_id", "str"), ("innovation_id", "str"),
        ("value_pence", "int"), ("currency", "str"), ("starts_on", "str"),
        ("ends_on", "str"), ("lines", "json"), ("eligible_trusts", "json"),
        ("payment_terms_days", "int"), ("variation_number", "int"), ("status", "str"),
        ("status_at", "str"), ("effective_end_on", "str"),
    ),
    "funding_line": (
        ("allocation_id", "str"), ("pot_id", "str"), ("funder_org_id", "str"),
        ("funder_type", "str"), ("programme", "str"), ("financial_year", "str"),
        ("period_start", "str"), ("period_end", "str"), ("innovation_id", "str"),
        ("contract_id", "str"), ("amount_pence", "int"), ("committed_pence", "int"),
        ("currency", "str"), ("status", "str"), ("status_at", "str"),
    ),
    "purchase_order": (
        ("order_id", "str"), ("order_number", "str"), ("contract_id", "str"),
        ("icb_ods", "str"), ("supplier", "json"), ("buyer_reference", "str"),
        ("lines", "json"), ("net_pence", "int"), ("vat_pence", "int"),
        ("gross_pence", "int"), ("vat_breakdown", "json"), ("currency", "str"),
        ("delivery_site_ods", "str"), ("requested_delivery_on", "str"),
        ("funding_allocation_id", "str"), ("placed_at", "str"), ("status", "str"),
        ("reason_code", "str"), ("reasons", "json"), ("status_at", "str"),
        ("invoiced_net_pence", "int"), ("invoiced_gross_pence", "int"),
    ),
    "invoice": (
        ("invoice_id", "str"), ("invoice_number", "str"), ("order_id", "str"),
        ("order_number", "str"), ("contract_id", "str"), ("supplier", "json"),
        ("buyer_reference", "str"), ("lines", "json"), ("net_pence", "int"),
        ("vat_pence", "int"), ("gross_pence", "int"), ("vat_breakdown", "json"),
        ("currency", "str"), ("issue_date", "str"), ("tax_point_date", "str"),
        ("due_date", "str"), ("issued_at", "str"), ("match_status", "str"),
        ("mismatches", "json"), ("paid_pence", "int"), ("payment_status", "str"),
    ),
    "payment": (
        ("payment_id", "str"), ("invoice_id", "str"), ("order_id", "str"),
        ("supplier_org_id", "str"), ("amount_pence", "int"), ("currency", "str"),
        ("provider", "str"), ("provider_reference", "str"), ("status", "str"),
        ("status_at", "str"), ("failure_code", "str"), ("reconciliation", "str"),
        ("note", "str"),
    ),
}
SHARED_TABLES: tuple[str, ...] = ("approval", "framework", "framework_award", "supplier",
                                  "contract")
TRUST_TABLES: tuple[str, ...] = ("funding_line", "purchase_order", "invoice", "payment")


def key_column(table: str) -> str:
    return TABLES[table][0][0]


# --- chart of accounts used by the journal ------------------------------------------
# account code -> subjective (what the natural account means); see docs/adapter-journal.md
ACCOUNTS: dict[str, str] = {
    "580100": "Digital health innovation services",
    "180100": "VAT recoverable",
    "310100": "Trade payables",
    "120100": "Cash at bank (GBS)",
    "990100": "Commitments (purchase order encumbrance)",
    "990900": "Commitment reserve",
    "980100": "Innovation funding budget",
    "980900": "Budget reserve",
}
FUNDING_COST_CENTRE = "FUNDING"


@dataclass(frozen=True)
class EventFacts:
    """The envelope facts a rule may use (never the wall clock)."""

    id: str
    type: str
    name: str  # e.g. "order.placed"
    time: str
    sequence: int


@dataclass(frozen=True)
class JournalLine:
    journal_id: str
    line_number: int
    category: str
    accounting_date: str
    period_name: str
    financial_year: str
    entity: str
    cost_centre: str
    account_code: str
    subjective: str
    debit_pence: int
    credit_pence: int
    currency: str
    description: str
    reference: str
    source_event_id: str
    source_event_type: str


@dataclass(frozen=True)
class Document:
    """A Peppol document to issue: ``kind`` is ``order`` or ``invoice``; ``record`` the row."""

    kind: str
    path: str
    record: Record


@dataclass
class Effects:
    outcome: str
    puts: list[tuple[str, Record]] = field(default_factory=list)
    journal: list[JournalLine] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)


class View(Protocol):
    """Read-only access to the trust's register."""

    def get(self, table: str, key: str) -> Record | None: ...

    def where(self, table: str, **equals: Any) -> list[Record]: ...


Rule = Callable[[str, Mapping[str, Any], EventFacts, View], Effects]


# --- small pure helpers --------------------------------------------------------------
def instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


def utc(value: str | None) -> str | None:
    """An RFC 3339 instant normalised to UTC (``2026-07-06T10:20:00+00:00``)."""
    if value is None:
        return None
    return instant(value).astimezone(UTC).isoformat()


def london_day(value: str) -> date:
    return instant(value).astimezone(LONDON).date()


def period_of(day: date) -> tuple[str, str]:
    """Oracle-style period name (``JUL-26``) and NHS financial year (``2026/27``)."""
    start = day.year if day.month >= 4 else day.year - 1
    return day.strftime("%b-%y").upper(), f"{start}/{(start + 1) % 100:02d}"


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_digest(row: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(dict(row)).encode()).hexdigest()


def state_hash(digests: Iterable[tuple[str, str, str]]) -> str:
    """SHA-256 over the sorted ``table<TAB>key<TAB>row digest`` lines of the given rows.

    Order-independent by construction (sorted), so trusts that applied the same
    events reach the same hash whatever order their partitions were consumed in.
    """
    h = hashlib.sha256(f"route {ROUTE_VERSION}\n".encode())
    for table, key, digest in sorted(digests):
        h.update(f"{table}\t{key}\t{digest}\n".encode())
    return h.hexdigest()


def _ignored(reason: str) -> Effects:
    return Effects(outcome=f"ignored: {reason}")


class _Journal:
    """Builds one balanced journal (a list of lines sharing a journal id)."""

    def __init__(self, trust: str, category: str, code: str, event: EventFacts, day: date,
                 reference: str, currency: str = "GBP") -> None:
        self.trust, self.category, self.event, self.reference = trust, category, event, reference
        self.journal_id = f"{trust}-{code}-{event.id}"
        self.day, self.currency = day, currency
        self.lines: list[JournalLine] = []

    def line(self, account: str, debit: int, credit: int, cost_centre: str,
             description: str) -> None:
        if debit < 0 or credit < 0:
            debit, credit = -credit, -debit
        if debit == 0 and credit == 0:
            return
        period, year = period_of(self.day)
        self.lines.append(JournalLine(
            journal_id=self.journal_id, line_number=len(self.lines) + 1,
            category=self.category, accounting_date=self.day.isoformat(),
            period_name=period, financial_year=year, entity=self.trust,
            cost_centre=cost_centre, account_code=account, subjective=ACCOUNTS[account],
            debit_pence=debit, credit_pence=credit, currency=self.currency,
            description=description[:240], reference=self.reference,
            source_event_id=self.event.id, source_event_type=self.event.type))

    def pair(self, debit_account: str, credit_account: str, amount: int, cost_centre: str,
             description: str) -> None:
        """Debit one account and credit another by ``amount`` (negative: the reverse)."""
        self.line(debit_account, amount, 0, cost_centre, description)
        self.line(credit_account, 0, amount, cost_centre, description)


# --- approvals: the approved-innovation list ------------------------------------------
def approval_decided(trust: str, data: Mapping[str, Any], event: EventFacts,
                     view: View) -> Effects:
    """Granted or conditional (also a reinstatement): add or replace the approval."""
    row = {
        "approval_id": data["approval_id"], "innovation_id": data["innovation_id"],
        "product_version": data["product_version"],
        "innovator_org_id": data["innovator_org_id"],
        "innovator_companies_house_number": data["innovator_companies_house_number"],
        "status": data["status"], "decided_at": utc(data["decided_at"]),
        "expires_at": utc(data["expires_at"]), "status_at": utc(data["decided_at"]),
        "status_reason": None, "conditions": list(data["conditions"]),
        "nice_esf_tier": data["nice_esf_tier"], "device_class": data["device_class"],
        "reinstated": bool(data.get("reinstated")),
    }
    return Effects(f"approval {data['status']}", puts=[("approval", row)])


def _approval_status(status: str, at_field: str) -> Rule:
    def rule(trust: str, data: Mapping[str, Any], event: EventFacts, view: View) -> Effects:
        row = view.get("approval", data["approval_id"]) or {
            "approval_id": data["approval_id"], "innovation_id": data["innovation_id"],
            "product_version": data["product_version"],
            "innovator_org_id": data["innovator_org_id"],
            "innovator_companies_house_number": None, "decided_at": None,
            "expires_at": None, "conditions": [], "nice_esf_tier": None,
            "device_class": None, "reinstated": False,
        }
        reason = data.get("reason_code")
        row = {**row, "status": status, "status_at": utc(data[at_field]),
               "status_reason": f"{reason}: {data['reason']}" if reason else
               ",".join(data.get("lapsed_evidence", [])) or None}
        if status == "expired":
            row["expires_at"] = utc(data["expires_at"])
        return Effects(f"approval {status}", puts=[("approval", row)])

    rule.__doc__ = f"The approval is {status}: no longer approved from `{at_field}`."
    return rule


def approved_at(view: View, innovation_id: str, at: str) -> Record | None:
    """An approval of the innovation that was in force at instant ``at`` (event times).

    In force: decided at or before ``at``, not expired by then, and not suspended,
    revoked or expired at or before ``at`` (a later suspension does not undo an
    order placed while the approval stood).
    """
    when = instant(at)
    for row in sorted(view.where("approval", innovation_id=innovation_id),
                      key=lambda r: r["approval_id"]):
        if row["decided_at"] is None or instant(row["decided_at"]) > when:
            continue
        if row["expires_at"] is None or instant(row["expires_at"]) <= when:
            continue
        active = row["status"] in ("approved", "conditional")
        if active or instant(row["status_at"]) > when:
            return row
    return None


# --- frameworks and suppliers --------------------------------------------------------
def _supplier_row(via: str, via_id: str, supplier: Mapping[str, Any], valid_from: str,
                  valid_until: str, status: str) -> Record:
    return {
        "onboarding_id": f"{via}:{via_id}", "supplier_org_id": supplier["org_id"],
        "via": via, "via_id": via_id,
        "companies_house_number": supplier["companies_house_number"],
        "legal_name": supplier["legal_name"], "vat_number": supplier.get("vat_number"),
        "country_code": supplier["country_code"],
        "peppol_participant_id": supplier.get("peppol_participant_id"),
        "valid_from": valid_from, "valid_until": valid_until, "status": status,
    }


def framework_published(trust: str, data: Mapping[str, Any], event: EventFacts,
                        view: View) -> Effects:
    row = {"framework_id": data["framework_id"], "reference": data["reference"],
           "title": data["title"], "starts_at": utc(data["starts_at"]),
           "ends_at": utc(data["ends_at"]), "status": "live",
           "status_at": utc(data["published_at"])}
    return Effects("framework live", puts=[("framework", row)])


def framework_award_granted(trust: str, data: Mapping[str, Any], event: EventFacts,
                            view: View) -> Effects:
    """Onboard the supplier for the award period."""
    starts, ends = utc(data["starts_at"]), utc(data["ends_at"])
    award = {
        "award_id": data["award_id"], "framework_id": data["framework_id"],
        "framework_reference": data["framework_reference"], "lot_id": data["lot_id"],
        "lot_number": data["lot_number"], "supplier_org_id": data["supplier"]["org_id"],
        "innovation_ids": list(data["innovation_ids"]),
        "price_ceilings": list(data["price_ceilings"]), "starts_at": starts, "ends_at": ends,
        "status": "active", "status_at": utc(data["awarded_at"]),
    }
    supplier = _supplier_row("framework_award", data["award_id"], data["supplier"],
                             starts or "", ends or "", "active")
    return Effects("supplier onboarded (framework award)",
                   puts=[("framework_award", award), ("supplier", supplier)])


def _end_award(view: View, award_id: str, status: str, at: str) -> list[tuple[str, Record]]:
    puts: list[tuple[str, Record]] = []
    award = view.get("framework_award", award_id)
    if award is not None and award["status"] == "active":
        puts.append(("framework_award", {**award, "status": status, "status_at": at}))
    supplier = view.get("supplier", f"framework_award:{award_id}")
    if supplier is not None and supplier["status"] == "active":
        until = min(supplier["valid_until"], at) if supplier["valid_until"] else at
        puts.append(("supplier", {**supplier, "status": status, "valid_until": until}))
    return puts


def framework_award_withdrawn(trust: str, data: Mapping[str, Any], event: EventFacts,
                              view: View) -> Effects:
    at = utc(data["withdrawn_at"]) or ""
    return Effects("framework award withdrawn",
                   puts=_end_award(view, data["award_id"], "withdrawn", at))


def framework_expired(trust: str, data: Mapping[str, Any], event: EventFacts,
                      view: View) -> Effects:
    """The framework and every award under it end."""
    at = utc(data["ends_at"]) or ""
    puts: list[tuple[str, Record]] = []
    framework = view.get("framework", data["framework_id"])
    if framework is not None:
        puts.append(("framework", {**framework, "status": "expired",
                                   "status_at": utc(data["expired_at"])}))
    for award in sorted(view.where("framework_award", framework_id=data["framework_id"]),
                        key=lambda r: r["award_id"]):
        puts.extend(_end_award(view, award["award_id"], "ended", at))
    return Effects("framework expired", puts=puts)


# --- contracts -----------------------------------------------------------------------
def contract_in_force(trust: str, data: Mapping[str, Any], event: EventFacts,
                      view: View) -> Effects:
    """Signed or varied: the whole contract replaces the trust's copy."""
    varied = "variation_number" in data
    at = utc(data["varied_at"] if varied else data["signed_at"])
    row = {
        "contract_id": data["contract_id"], "reference": data["reference"],
        "buyer_icb_ods": data["buyer_icb_ods"], "framework_id": data.get("framework_id"),
        "supplier_org_id": data["supplier"]["org_id"], "innovation_id": data["innovation_id"],
        "value_pence": data["value_pence"], "currency": data["currency"],
        "starts_on": data["starts_on"], "ends_on": data["ends_on"],
        "lines": list(data["lines"]), "eligible_trusts": sorted(data["eligible_trusts"]),
        "payment_terms_days": data["payment_terms_days"],
        "variation_number": data.get("variation_number", 0), "status": "active",
        "status_at": at, "effective_end_on": data["ends_on"],
    }
    supplier = _supplier_row("contract", data["contract_id"], data["supplier"],
                             data["starts_on"], data["ends_on"], "active")
    return Effects("contract varied" if varied else "contract signed",
                   puts=[("contract", row), ("supplier", supplier)])


def contract_terminated(trust: str, data: Mapping[str, Any], event: EventFacts,
                        view: View) -> Effects:
    """No orders after ``effective_on``; the supplier's onboarding via it ends then."""
    puts: list[tuple[str, Record]] = []
    contract = view.get("contract", data["contract_id"])
    if contract is not None:
        end = min(contract["effective_end_on"], data["effective_on"])
        puts.append(("contract", {**contract, "status": "terminated",
                                  "status_at": utc(data["terminated_at"]),
                                  "effective_end_on": end}))
    supplier = view.get("supplier", f"contract:{data['contract_id']}")
    if supplier is not None:
        puts.append(("supplier", {**supplier, "status": "terminated",
                                  "valid_until": min(supplier["valid_until"],
                                                     data["effective_on"])}))
    return Effects("contract terminated", puts=puts)


# --- funding: budget lines -----------------------------------------------------------
def _for_me(trust: str, code: str) -> bool:
    return trust == code


def funding_allocated(trust: str, data: Mapping[str, Any], event: EventFacts,
                      view: View) -> Effects:
    if not _for_me(trust, data["recipient_ods"]):
        return _ignored("funding for another organisation")
    row = {
        "allocation_id": data["allocation_id"], "pot_id": data["pot_id"],
        "funder_org_id": data["funder_org_id"], "funder_type": data["funder_type"],
        "programme": data["programme"], "financial_year": data["financial_year"],
        "period_start": data["period_start"], "period_end": data["period_end"],
        "innovation_id": data.get("innovation_id"), "contract_id": data.get("contract_id"),
        "amount_pence": data["amount_pence"], "committed_pence": 0,
        "currency": data["currency"], "status": "active",
        "status_at": utc(data["allocated_at"]),
    }
    journal = _Journal(trust, "Budget", "BUD", event, london_day(data["allocated_at"]),
                       data["allocation_id"], data["currency"])
    journal.pair("980100", "980900", data["amount_pence"], FUNDING_COST_CENTRE,
                 f"Funding allocated: {data['programme']}")
    return Effects("budget line opened", puts=[("funding_line", row)], journal=journal.lines)


def funding_changed(trust: str, data: Mapping[str, Any], event: EventFacts,
                    view: View) -> Effects:
    if not _for_me(trust, data["recipient_ods"]):
        return _ignored("funding for another organisation")
    line = view.get("funding_line", data["allocation_id"])
    if line is None:
        return _ignored("change to an allocation this trust never received")
    row = {**line, "amount_pence": data["amount_pence"], "period_end": data["period_end"],
           "status_at": utc(data["changed_at"])}
    journal = _Journal(trust, "Budget", "BUD", event, london_day(data["changed_at"]),
                       data["allocation_id"], data["currency"])
    journal.pair("980100", "980900", data["delta_pence"], FUNDING_COST_CENTRE,
                 f"Funding changed ({data['reason_code']}): {line['programme']}")
    return Effects("budget line changed", puts=[("funding_line", row)], journal=journal.lines)


def funding_withdrawn(trust: str, data: Mapping[str, Any], event: EventFacts,
                      view: View) -> Effects:
    """Close the line; what is already committed to purchase orders stays."""
    if not _for_me(trust, data["recipient_ods"]):
        return _ignored("funding for another organisation")
    line = view.get("funding_line", data["allocation_id"])
    if line is None:
        return _ignored("withdrawal of an allocation this trust never received")
    released = line["amount_pence"] - line["committed_pence"]
    row = {**line, "amount_pence": line["committed_pence"], "status": "withdrawn",
           "status_at": utc(data["withdrawn_at"])}
    journal = _Journal(trust, "Budget", "BUD", event, london_day(data["withdrawn_at"]),
                       data["allocation_id"], data["currency"])
    journal.pair("980100", "980900", -released, FUNDING_COST_CENTRE,
                 f"Funding withdrawn: {line['programme']}")
    return Effects("budget line withdrawn", puts=[("funding_line", row)],
                   journal=journal.lines)


# --- orders: the route's local checks --------------------------------------------------
def _totals_problem(lines: list[Mapping[str, Any]], totals: Mapping[str, Any]) -> str | None:
    for line in lines:
        if line["net_pence"] != line["quantity"] * line["unit_price_pence"]:
            return f"line {line['line_id']}: net is not quantity x unit price"
    expected = compute_totals(lines)
    for name in ("net_pence", "vat_pence", "gross_pence"):
        if totals[name] != expected[name]:
            return f"{name} {totals[name]} but the lines give {expected[name]}"
    return None


def _supplier_onboarded(view: View, org_id: str, innovation_id: str, at: str,
                        contract_id: str) -> bool:
    """A live framework award for the innovation, or the live contract itself."""
    day = london_day(at).isoformat()
    for row in view.where("supplier", supplier_org_id=org_id):
        if row["status"] != "active":
            continue
        if row["via"] == "contract" and row["via_id"] == contract_id:
            if row["valid_from"] <= day <= row["valid_until"]:
                return True
        elif row["via"] == "framework_award":
            award = view.get("framework_award", row["via_id"]) or {}
            if innovation_id in award.get("innovation_ids", []) and \
                    instant(row["valid_from"]) <= instant(at) < instant(row["valid_until"]):
                return True
    return False


def _ceiling(view: View, contract: Record, item_id: str) -> int | None:
    """The lowest framework price ceiling for the item among the supplier's live awards."""
    if not contract.get("framework_id"):
        return None
    ceilings = [c["ceiling_unit_price_pence"]
                for award in view.where("framework_award", framework_id=contract["framework_id"],
                                        supplier_org_id=contract["supplier_org_id"])
                if award["status"] == "active"
                for c in award["price_ceilings"] if c["item_id"] == item_id]
    return min(ceilings) if ceilings else None


def order_checks(trust: str, data: Mapping[str, Any], view: View) -> list[tuple[str, str]]:
    """Every failing check as ``(reason_code, reason)``; empty when the order may proceed."""
    failures: list[tuple[str, str]] = []
    at, day = data["placed_at"], london_day(data["placed_at"]).isoformat()
    problem = _totals_problem(data["lines"], data["totals"])
    if problem:
        failures.append(("totals_inconsistent", problem))
    contract = view.get("contract", data["contract_id"])
    if contract is None:
        return [*failures, ("contract_not_active", "contract unknown to this trust")]
    if not contract["starts_on"] <= day <= contract["effective_end_on"]:
        failures.append(("contract_not_active",
                         f"contract runs {contract['starts_on']} to "
                         f"{contract['effective_end_on']}, order dated {day}"))
    if trust not in contract["eligible_trusts"]:
        failures.append(("trust_not_eligible", f"{trust} may not call off this contract"))
    supplier_id = data["supplier"]["org_id"]
    if supplier_id != contract["supplier_org_id"] or not _supplier_onboarded(
            view, supplier_id, contract["innovation_id"], at, contract["contract_id"]):
        failures.append(("supplier_not_onboarded",
                         "supplier has no live framework award or contract for it"))
    if approved_at(view, contract["innovation_id"], at) is None:
        failures.append(("approval_not_current",
                         f"innovation {contract['innovation_id']} not approved at {utc(at)}"))
    failures.extend(_line_checks(trust, data, contract, view))
    failures.extend(_funding_checks(data, view, day))
    return failures


def _line_checks(trust: str, data: Mapping[str, Any], contract: Record,
                 view: View) -> list[tuple[str, str]]:
    failures: list[tuple[str, str]] = []
    items = {line["item_id"]: line for line in contract["lines"]}
    ordered: dict[str, int] = {}
    for order in view.where("purchase_order", contract_id=contract["contract_id"],
                            status="accepted"):
        for line in order["lines"]:
            ordered[line["item_id"]] = ordered.get(line["item_id"], 0) + line["quantity"]
    for line in data["lines"]:
        item = items.get(line["item_id"])
        if item is None:
            failures.append(("item_not_on_contract", f"item {line['item_id']} not on contract"))
            continue
        if line["unit_price_pence"] != item["unit_price_pence"] or \
                (line["vat_category"], float(line["vat_rate"])) != \
                (item["vat_category"], float(item["vat_rate"])):
            failures.append(("price_mismatch", f"item {line['item_id']}: price or VAT differs "
                             "from the contract"))
        ceiling = _ceiling(view, contract, line["item_id"])
        if ceiling is not None and line["unit_price_pence"] > ceiling:
            failures.append(("price_mismatch", f"item {line['item_id']}: above the framework "
                             f"ceiling {ceiling}"))
        limit = item.get("max_quantity")
        total = ordered.get(line["item_id"], 0) + line["quantity"]
        if limit is not None and total > limit:
            failures.append(("over_contract_quantity", f"item {line['item_id']}: {total} "
                             f"ordered by {trust}, contract maximum {limit}"))
        ordered[line["item_id"]] = total
    return failures


def _funding_checks(data: Mapping[str, Any], view: View, day: str) -> list[tuple[str, str]]:
    allocation = data.get("funding_allocation_id")
    if not allocation:
        return []
    line = view.get("funding_line", allocation)
    if line is None or line["status"] != "active":
        return [("funding_insufficient", f"funding line {allocation} not open at this trust")]
    if not line["period_start"] <= day <= line["period_end"]:
        return [("funding_insufficient", f"funding line {allocation} not spendable on {day}")]
    remaining = line["amount_pence"] - line["committed_pence"]
    if data["totals"]["gross_pence"] > remaining:
        return [("funding_insufficient", f"order gross {data['totals']['gross_pence']} > "
                 f"remaining budget {remaining}")]
    return []


def order_placed(trust: str, data: Mapping[str, Any], event: EventFacts,
                 view: View) -> Effects:
    """A purchase order only if every local check passes; else rejected with the reasons."""
    if not _for_me(trust, data["trust_ods"]):
        return _ignored("order of another trust")
    failures = order_checks(trust, data, view)
    totals = data["totals"]
    row = {
        "order_id": data["order_id"], "order_number": data["order_number"],
        "contract_id": data["contract_id"], "icb_ods": data["icb_ods"],
        "supplier": dict(data["supplier"]), "buyer_reference": data["buyer_reference"],
        "lines": list(data["lines"]), "net_pence": totals["net_pence"],
        "vat_pence": totals["vat_pence"], "gross_pence": totals["gross_pence"],
        "vat_breakdown": list(totals["vat_breakdown"]), "currency": data["currency"],
        "delivery_site_ods": data.get("delivery_site_ods"),
        "requested_delivery_on": data.get("requested_delivery_on"),
        "funding_allocation_id": data.get("funding_allocation_id"),
        "placed_at": utc(data["placed_at"]), "status": "accepted" if not failures else
        "rejected", "reason_code": failures[0][0] if failures else None,
        "reasons": [f"{code}: {text}" for code, text in failures],
        "status_at": utc(data["placed_at"]), "invoiced_net_pence": 0,
        "invoiced_gross_pence": 0,
    }
    if failures:
        return Effects(f"order rejected locally: {failures[0][0]}",
                       puts=[("purchase_order", row)])
    puts: list[tuple[str, Record]] = [("purchase_order", row)]
    if row["funding_allocation_id"]:
        line = view.get("funding_line", row["funding_allocation_id"])
        assert line is not None
        puts.append(("funding_line", {**line, "committed_pence": line["committed_pence"]
                                      + row["gross_pence"]}))
    journal = _Journal(trust, "Commitment", "PO", event, london_day(data["placed_at"]),
                       data["order_number"], data["currency"])
    journal.pair("990100", "990900", row["net_pence"], row["buyer_reference"],
                 f"Purchase order {data['order_number']} to {data['supplier']['legal_name']}")
    return Effects("purchase order raised", puts=puts, journal=journal.lines,
                   documents=[Document("order", f"peppol/orders/{data['order_id']}.xml", row)])


def order_rejected(trust: str, data: Mapping[str, Any], event: EventFacts,
                   view: View) -> Effects:
    """The marketplace refused the order: cancel a purchase order and free its commitment."""
    if not _for_me(trust, data["trust_ods"]):
        return _ignored("order of another trust")
    order = view.get("purchase_order", data["order_id"])
    reason = f"marketplace: {data['reason_code']}: {data['reason']}"
    at = utc(data["rejected_at"])
    if order is None:
        row = {column: None for column, _ in TABLES["purchase_order"]}
        row.update(order_id=data["order_id"], order_number=data["order_number"],
                   contract_id=data["contract_id"], status="rejected",
                   reason_code=data["reason_code"], reasons=[reason], status_at=at,
                   lines=[], supplier={}, vat_breakdown=[], invoiced_net_pence=0,
                   invoiced_gross_pence=0)
        return Effects("order rejected by the marketplace", puts=[("purchase_order", row)])
    if order["status"] != "accepted":
        row = {**order, "reasons": [*order["reasons"], reason]}
        return Effects("order rejected by the marketplace", puts=[("purchase_order", row)])
    open_net = order["net_pence"] - order["invoiced_net_pence"]
    open_gross = order["gross_pence"] - order["invoiced_gross_pence"]
    puts: list[tuple[str, Record]] = [("purchase_order", {
        **order, "status": "cancelled", "reason_code": data["reason_code"],
        "reasons": [*order["reasons"], reason], "status_at": at})]
    if order["funding_allocation_id"]:
        line = view.get("funding_line", order["funding_allocation_id"])
        if line is not None:
            puts.append(("funding_line", {**line, "committed_pence": max(
                0, line["committed_pence"] - open_gross)}))
    journal = _Journal(trust, "Commitment", "POX", event, london_day(data["rejected_at"]),
                       order["order_number"], order["currency"] or "GBP")
    journal.pair("990900", "990100", open_net, order["buyer_reference"] or "",
                 f"Purchase order {order['order_number']} cancelled")
    return Effects("purchase order cancelled", puts=puts, journal=journal.lines)


# --- invoices: matched to the purchase order ---------------------------------------------
def invoice_mismatches(data: Mapping[str, Any], order: Record | None,
                       view: View) -> list[str]:
    """Three-way-ish match: order accepted, lines on it, quantity, price, VAT and totals."""
    if order is None or order["status"] != "accepted":
        return [f"order_not_accepted: order {data['order_id']} is "
                f"{order['status'] if order else 'unknown'} at this trust"]
    problems: list[str] = []
    if data["supplier"]["org_id"] != order["supplier"]["org_id"]:
        problems.append("supplier_mismatch: invoice supplier is not the order's")
    if data["currency"] != order["currency"]:
        problems.append("currency_mismatch: invoice currency differs from the order")
    totals_problem = _totals_problem(data["lines"], data["totals"])
    if totals_problem:
        problems.append(f"totals_inconsistent: {totals_problem}")
    order_lines = {line["line_id"]: line for line in order["lines"]}
    invoiced: dict[str, int] = {}
    for other in view.where("invoice", order_id=order["order_id"], match_status="matched"):
        for line in other["lines"]:
            invoiced[line["order_line_id"]] = invoiced.get(line["order_line_id"], 0) + \
                line["quantity"]
    for line in data["lines"]:
        ordered = order_lines.get(line["order_line_id"])
        if ordered is None:
            problems.append(f"line_not_on_order: line {line['line_id']} bills order line "
                            f"{line['order_line_id']}, which is not on the order")
            continue
        if line["item_id"] != ordered["item_id"]:
            problems.append(f"item_mismatch: line {line['line_id']} is {line['item_id']}, "
                            f"ordered {ordered['item_id']}")
        if line["unit_price_pence"] != ordered["unit_price_pence"]:
            problems.append(f"price_mismatch: line {line['line_id']} at "
                            f"{line['unit_price_pence']}, ordered at "
                            f"{ordered['unit_price_pence']}")
        if (line["vat_category"], float(line["vat_rate"])) != \
                (ordered["vat_category"], float(ordered["vat_rate"])):
            problems.append(f"vat_mismatch: line {line['line_id']} VAT differs from the order")
        total = invoiced.get(line["order_line_id"], 0) + line["quantity"]
        if total > ordered["quantity"]:
            problems.append(f"quantity_exceeds_order: line {line['line_id']} brings "
                            f"{total} invoiced against {ordered['quantity']} ordered")
        invoiced[line["order_line_id"]] = total
    if order["invoiced_gross_pence"] + data["totals"]["gross_pence"] > order["gross_pence"]:
        problems.append("exceeds_order_total: invoiced gross would exceed the order gross")
    return problems


def invoice_issued(trust: str, data: Mapping[str, Any], event: EventFacts,
                   view: View) -> Effects:
    """Match to the order; a matched invoice is posted to payables and frees commitment."""
    if not _for_me(trust, data["trust_ods"]):
        return _ignored("invoice of another trust")
    existing = view.get("invoice", data["invoice_id"])
    if existing is not None:
        return _ignored("invoice already recorded")
    order = view.get("purchase_order", data["order_id"])
    problems = invoice_mismatches(data, order, view)
    totals = data["totals"]
    row = {
        "invoice_id": data["invoice_id"], "invoice_number": data["invoice_number"],
        "order_id": data["order_id"], "order_number": data["order_number"],
        "contract_id": data["contract_id"], "supplier": dict(data["supplier"]),
        "buyer_reference": data["buyer_reference"], "lines": list(data["lines"]),
        "net_pence": totals["net_pence"], "vat_pence": totals["vat_pence"],
        "gross_pence": totals["gross_pence"], "vat_breakdown": list(totals["vat_breakdown"]),
        "currency": data["currency"], "issue_date": data["issue_date"],
        "tax_point_date": data.get("tax_point_date"), "due_date": data["due_date"],
        "issued_at": utc(data["issued_at"]),
        "match_status": "mismatch" if problems else "matched", "mismatches": problems,
        "paid_pence": 0, "payment_status": "unpaid" if not problems else "on_hold",
    }
    effects = Effects("invoice matched" if not problems else "invoice mismatch",
                      puts=[("invoice", row)],
                      documents=[Document("invoice", f"peppol/invoices/{data['invoice_id']}.xml",
                                          row)])
    if problems or order is None:
        return effects
    effects.puts.append(("purchase_order", {
        **order, "invoiced_net_pence": order["invoiced_net_pence"] + totals["net_pence"],
        "invoiced_gross_pence": order["invoiced_gross_pence"] + totals["gross_pence"]}))
    day = date.fromisoformat(data["tax_point_date"] or data["issue_date"])
    cost_centre = order["buyer_reference"]
    invoice = _Journal(trust, "Purchase Invoice", "INV", event, day, data["invoice_number"],
                       data["currency"])
    label = f"Invoice {data['invoice_number']} for PO {data['order_number']}"
    invoice.line("580100", totals["net_pence"], 0, cost_centre, label)
    invoice.line("180100", totals["vat_pence"], 0, cost_centre, f"VAT on {label}")
    invoice.line("310100", 0, totals["gross_pence"], cost_centre, label)
    invoice.pair("990900", "990100", totals["net_pence"], cost_centre,
                 f"Commitment released by invoice {data['invoice_number']}")
    effects.journal = invoice.lines
    return effects


# --- payments: reconciled against invoices ----------------------------------------------
def payment_received(trust: str, data: Mapping[str, Any], event: EventFacts,
                     view: View) -> Effects:
    """Reconcile: a matched invoice with at least this much outstanding."""
    if not _for_me(trust, data["trust_ods"]):
        return _ignored("payment of another trust")
    previous = view.get("payment", data["payment_id"])
    if previous is not None and previous["status"] == "succeeded":
        return _ignored("payment already recorded")
    invoice = view.get("invoice", data["invoice_id"])
    row = {
        "payment_id": data["payment_id"], "invoice_id": data["invoice_id"],
        "order_id": data["order_id"], "supplier_org_id": data["supplier_org_id"],
        "amount_pence": data["amount_pence"], "currency": data["currency"],
        "provider": data["provider"], "provider_reference": data["provider_reference"],
        "status": "succeeded", "status_at": utc(data["received_at"]), "failure_code": None,
    }
    if invoice is None or invoice["match_status"] != "matched":
        note = "invoice unknown" if invoice is None else "invoice is on hold (mismatch)"
        return Effects("payment unreconciled", puts=[("payment", {
            **row, "reconciliation": "unreconciled", "note": note})])
    outstanding = invoice["gross_pence"] - invoice["paid_pence"]
    if data["amount_pence"] > outstanding:
        return Effects("payment unreconciled", puts=[("payment", {
            **row, "reconciliation": "overpaid",
            "note": f"{data['amount_pence']} paid against {outstanding} outstanding"})])
    paid = invoice["paid_pence"] + data["amount_pence"]
    status = "paid" if paid == invoice["gross_pence"] else "part_paid"
    journal = _Journal(trust, "Payment", "PAY", event, london_day(data["received_at"]),
                       invoice["invoice_number"], data["currency"])
    journal.pair("310100", "120100", data["amount_pence"], invoice["buyer_reference"],
                 f"Payment {data['provider_reference']} of invoice {invoice['invoice_number']}")
    return Effects(f"payment reconciled ({status})", journal=journal.lines, puts=[
        ("payment", {**row, "reconciliation": "reconciled", "note": None}),
        ("invoice", {**invoice, "paid_pence": paid, "payment_status": status})])


def payment_failed(trust: str, data: Mapping[str, Any], event: EventFacts,
                   view: View) -> Effects:
    """Recorded; the invoice stays open."""
    if not _for_me(trust, data["trust_ods"]):
        return _ignored("payment of another trust")
    previous = view.get("payment", data["payment_id"])
    if previous is not None and previous["status"] == "succeeded":
        return _ignored("a failure reported after the payment succeeded")
    row = {
        "payment_id": data["payment_id"], "invoice_id": data["invoice_id"],
        "order_id": data["order_id"], "supplier_org_id": data["supplier_org_id"],
        "amount_pence": data["amount_pence"], "currency": data["currency"],
        "provider": data["provider"], "provider_reference": data["provider_reference"],
        "status": "failed", "status_at": utc(data["failed_at"]),
        "failure_code": data["failure_code"], "reconciliation": "not_applicable",
        "note": data["failure_reason"],
    }
    return Effects("payment failed", puts=[("payment", row)])


# --- the rule table --------------------------------------------------------------------
RULES: dict[str, Rule] = {
    "approval.granted": approval_decided,
    "approval.conditional": approval_decided,
    "approval.suspended": _approval_status("suspended", "suspended_at"),
    "approval.revoked": _approval_status("revoked", "revoked_at"),
    "approval.expired": _approval_status("expired", "expired_at"),
    "framework.published": framework_published,
    "framework.award.granted": framework_award_granted,
    "framework.award.withdrawn": framework_award_withdrawn,
    "framework.expired": framework_expired,
    "contract.signed": contract_in_force,
    "contract.varied": contract_in_force,
    "contract.terminated": contract_terminated,
    "funding.allocated": funding_allocated,
    "funding.changed": funding_changed,
    "funding.withdrawn": funding_withdrawn,
    "order.placed": order_placed,
    "order.rejected": order_rejected,
    "invoice.issued": invoice_issued,
    "payment.received": payment_received,
    "payment.failed": payment_failed,
}
def apply(trust: str, data: Mapping[str, Any], event: EventFacts, view: View) -> Effects:
    """The route's effects of one event at ``trust``.

    Types without a rule (listings, demand signals, tenders) change nothing at a
    trust; they are still recorded as applied, so sequences stay gap-free.
    """
    rule = RULES.get(event.name)
    if rule is None:
        return _ignored("no route rule for this type")
    return rule(trust, data, event, view)
