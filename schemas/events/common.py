"""Vocabularies, nested schemas and money arithmetic shared by several event payloads.

Orders, invoices and contracts price the same way (integer pence, a VAT category and
rate per line, totals with a VAT breakdown as Peppol BIS requires), so the lines, the
totals and the rules that tie them together live here once. The helpers
:func:`vat_pence` and :func:`compute_totals` are what producers should use to build
totals, so that producer, schema and trust adapter round VAT identically.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from schemas.fields import (
    COUNTRY_PATTERN,
    PERCENT_PATTERN,
    VAT_NUMBER_PATTERN,
    Choice,
    CompaniesHouseNumber,
    Count,
    Id,
    OrgId,
    Pattern,
    Pence,
    Text,
    doc,
)

# --- vocabularies ---------------------------------------------------------------------
#: Care-pathway stages (cancer pathway in the first release).
PATHWAY_STAGES: tuple[str, ...] = (
    "prevention", "referral_triage", "diagnosis", "treatment", "follow_up",
)
#: NICE Evidence Standards Framework tiers.
ESF_TIERS: tuple[str, ...] = ("A", "B", "C")
#: UK MDR 2002 device classes, or not a medical device.
DEVICE_CLASSES: tuple[str, ...] = ("not_a_device", "I", "IIa", "IIb", "III")
DEVICE_MARKS: tuple[str, ...] = ("UKCA", "CE", "UKNI", "none")
#: VAT category codes (UNCL5305, as used by Peppol BIS): standard, zero, exempt,
#: reverse charge, outside scope.
VAT_CATEGORIES: tuple[str, ...] = ("S", "Z", "E", "AE", "O")
ZERO_RATE_CATEGORIES: frozenset[str] = frozenset({"Z", "E", "AE", "O"})
#: UN/ECE Recommendation 20 unit codes (``C62`` one, ``EA`` each, ``MON`` month, ...).
UNIT_CODE_PATTERN = r"^[A-Z0-9]{2,3}$"
#: Aggregate reference used in ``route.applied``: ``<aggregate>/<key>``.
AGGREGATE_REF_PATTERN = r"^[a-z_]+/[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
#: Public references of frameworks, tenders and contracts (``QWE-2026-0042``).
REFERENCE_PATTERN = r"^[A-Z0-9][A-Z0-9/._-]{2,40}$"
#: Peppol participant identifier ``<ICD scheme>:<id>`` (``0088:5060012345678``).
PEPPOL_ID_PATTERN = r"^[0-9]{4}:[A-Za-z0-9.:-]{1,50}$"
#: ``YYYY/YY`` NHS financial year, April to March.
FINANCIAL_YEAR_PATTERN = r"^20[0-9]{2}/[0-9]{2}$"


def aggregate_ref(aggregate: str, key: str) -> str:
    """The ``<aggregate>/<key>`` string naming one sequence stream (see ``route.applied``)."""
    return f"{aggregate}/{key}"


def changes_of(description: str, names: Iterable[str]) -> fields.List:
    """A list naming which of ``names`` changed, for ``*.updated`` / ``*.varied`` events."""
    return fields.List(Choice(tuple(sorted(names))), validate=validate.Length(min=1),
                       **doc(description))


def ensure_after(data: Mapping[str, Any], earlier: str, later: str, *,
                 strictly: bool = True) -> None:
    """Raise a ValidationError on ``later`` unless it comes after ``earlier`` (if both set)."""
    first, second = data.get(earlier), data.get(later)
    if first is None or second is None:
        return
    if second < first or (strictly and second == first):
        raise ValidationError(f"Must be after {earlier}.", later)


def ensure_unique_lines(lines: Iterable[Mapping[str, Any]]) -> None:
    """Raise a ValidationError on ``lines`` if two lines share a ``line_id``."""
    ids = [line["line_id"] for line in lines]
    if len(set(ids)) != len(ids):
        raise ValidationError("Line ids must be unique.", "lines")


# --- money ----------------------------------------------------------------------------
def vat_pence(taxable_pence: int, vat_rate: str) -> int:
    """VAT on ``taxable_pence`` at ``vat_rate`` percent, rounded half up to a penny.

    Rounded once per VAT breakdown group (Peppol BR-CO-17), never per line.
    """
    amount = Decimal(taxable_pence) * Decimal(vat_rate) / Decimal(100)
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _group_key(category: str, rate: str) -> tuple[str, Decimal]:
    # "20" and "20.00" are the same rate.
    return category, Decimal(rate)


def compute_totals(lines: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Totals and VAT breakdown of priced lines (each with ``net_pence``), as events carry."""
    groups: dict[tuple[str, Decimal], dict[str, Any]] = {}
    for line in lines:
        key = _group_key(line["vat_category"], line["vat_rate"])
        group = groups.setdefault(key, {"vat_category": line["vat_category"],
                                        "vat_rate": line["vat_rate"], "taxable_pence": 0})
        group["taxable_pence"] += line["net_pence"]
    breakdown = []
    for key in sorted(groups):
        group = groups[key]
        group["vat_pence"] = vat_pence(group["taxable_pence"], group["vat_rate"])
        breakdown.append(group)
    net = sum(g["taxable_pence"] for g in breakdown)
    vat = sum(g["vat_pence"] for g in breakdown)
    return {"net_pence": net, "vat_pence": vat, "gross_pence": net + vat,
            "vat_breakdown": breakdown}


# --- base and nested schemas ------------------------------------------------------------
class EventSchema(Schema):
    """Base of every event ``data`` schema: unknown fields are rejected.

    Within one type version only optional fields may ever be added; anything else
    is a new version (``.v2``) published alongside the old one.
    """


class SupplierSchema(Schema):
    """The supplying organisation, as a trust's ERP and Peppol documents need it."""

    org_id = OrgId("The supplier.")
    companies_house_number = CompaniesHouseNumber("Companies House number of the supplier.")
    legal_name = Text("Registered legal name of the company (an organisation, not a person).")
    vat_number = Pattern(VAT_NUMBER_PATTERN, "UK VAT registration number; null if not "
                         "VAT registered.", optional=True)
    country_code = Pattern(COUNTRY_PATTERN, "ISO 3166-1 alpha-2 country of the supplier.")
    peppol_participant_id = Pattern(PEPPOL_ID_PATTERN, "Peppol participant id "
                                    "`scheme:id`, if registered.", optional=True)


class PricedLineSchema(Schema):
    """What is bought and at what unit price and VAT treatment."""

    line_id = Id("Line id, unique within the document.")
    item_id = Id("Catalogue item id (the innovation's product / SKU).")
    description = Text("Item description as it appears on documents.", max_length=500)
    unit_code = Pattern(UNIT_CODE_PATTERN, "UN/ECE Rec 20 unit of measure, e.g. C62 (one).")
    unit_price_pence = Pence("Price of one unit excluding VAT, in pence.")
    vat_category = Choice(VAT_CATEGORIES, "VAT category (UNCL5305): S standard, Z zero, "
                          "E exempt, AE reverse charge, O outside scope.")
    vat_rate = Pattern(PERCENT_PATTERN, "VAT rate in percent as a decimal string, e.g. "
                       "\"20\"; \"0\" for categories other than S.")

    @validates_schema
    def _rate_matches_category(self, data: dict[str, Any], **kwargs: Any) -> None:
        zero = Decimal(data["vat_rate"]) == 0
        if data["vat_category"] in ZERO_RATE_CATEGORIES and not zero:
            raise ValidationError("Must be 0 for this VAT category.", "vat_rate")
        if data["vat_category"] == "S" and zero:
            raise ValidationError("Standard rated lines need a rate above 0.", "vat_rate")


class ContractLineSchema(PricedLineSchema):
    """A priced item of a contract that trusts may call off."""

    max_quantity = Count("Most units that may be called off in total; null: unlimited.",
                         minimum=1, optional=True)


class OrderLineSchema(PricedLineSchema):
    """An ordered quantity of a contract item; ``net_pence`` is quantity times unit price."""

    quantity = Count("Number of units.", minimum=1)
    net_pence = Pence("Line net amount in pence: quantity x unit_price_pence, no VAT.")

    @validates_schema
    def _net_is_quantity_times_price(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["net_pence"] != data["quantity"] * data["unit_price_pence"]:
            raise ValidationError("Must equal quantity x unit_price_pence.", "net_pence")


class InvoiceLineSchema(OrderLineSchema):
    """An invoiced quantity, pointing at the order line it bills."""

    order_line_id = Id("The `line_id` of the order line this line invoices.")


class VatBreakdownSchema(Schema):
    """VAT for one (category, rate) group of lines (Peppol BG-23)."""

    vat_category = Choice(VAT_CATEGORIES, "VAT category of the group.")
    vat_rate = Pattern(PERCENT_PATTERN, "VAT rate of the group in percent.")
    taxable_pence = Pence("Sum of the group's line net amounts.")
    vat_pence = Pence("VAT of the group: taxable x rate / 100, rounded half up.")


class TotalsSchema(Schema):
    """Document totals; ``gross = net + vat`` and the breakdown adds up to them."""

    net_pence = Pence("Sum of line net amounts.")
    vat_pence = Pence("Total VAT.")
    gross_pence = Pence("Amount payable: net plus VAT.")
    vat_breakdown = fields.List(fields.Nested(VatBreakdownSchema),
                                validate=validate.Length(min=1),
                                **doc("One entry per VAT category and rate used."))

    @validates_schema
    def _adds_up(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["gross_pence"] != data["net_pence"] + data["vat_pence"]:
            raise ValidationError("Must equal net_pence + vat_pence.", "gross_pence")


class PricedDocumentSchema(EventSchema):
    """Base of orders and invoices, which declare ``lines``, ``totals`` and ``currency``.

    The totals must be exactly what :func:`compute_totals` gives for the lines, so a
    trust adapter can rely on them for matching and for Peppol documents.
    """

    @validates_schema
    def _totals_match_lines(self, data: dict[str, Any], **kwargs: Any) -> None:
        lines = data["lines"]
        ensure_unique_lines(lines)
        expected, got = compute_totals(lines), data["totals"]
        for name in ("net_pence", "vat_pence", "gross_pence"):
            if got[name] != expected[name]:
                raise ValidationError(
                    f"{name} is {got[name]} but the lines give {expected[name]}.", "totals")
        if _breakdown_key(got["vat_breakdown"]) != _breakdown_key(expected["vat_breakdown"]):
            raise ValidationError("vat_breakdown does not match the lines.", "totals")


def _breakdown_key(groups: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """A VAT breakdown in comparable form: order and rate spelling ("20.0") ignored."""
    return sorted((*_group_key(g["vat_category"], g["vat_rate"]), g["taxable_pence"],
                   g["vat_pence"]) for g in groups)


def constant(value: str, description: str) -> Choice:
    """A field that must hold ``value``: the state an event type always implies.

    ``value`` may be a member of a :mod:`schemas.statuses` enum; the field holds its plain
    string value.
    """
    return Choice((str(value),), description)


# --- example values -------------------------------------------------------------------
# One consistent story across the registry's examples (and so across docs/events.md):
# an AI triage product by a fictional company, approved centrally, awarded on a
# framework and by a South West London ICB tender, funded and ordered by a trust.
EX_INNOVATOR_ORG = "5b0e6c1e-3f52-4d8a-9a51-0c7d2f4b8e11"
EX_INNOVATOR_CH = "12345678"
EX_INNOVATION = "0f8c2d34-7a9b-4c1e-8d5f-6b2a9e1c3d47"
EX_APPROVAL = "a3d94e7b-1c28-4f6a-b0e5-9d7c3a2f1b86"
EX_ASSESSOR_ORG = "c1e7a9d2-4b36-4f08-8a1c-5e2d9b7f3a60"
EX_FRAMEWORK = "f2b8c4a1-9d3e-4e7f-a6b5-1c0d8e2f7a93"
EX_LOT = "7e1a3c5b-2d4f-4a6e-8b9c-0d1e2f3a4b5c"
EX_FRAMEWORK_AWARD = "b9c1d2e3-f4a5-4b6c-9d7e-8f9a0b1c2d3e"
EX_SIGNAL = "d4e5f6a7-b8c9-4dae-8f01-23456789abcd"
EX_TENDER = "e8f9a0b1-c2d3-4e4f-a5b6-c7d8e9f0a1b2"
EX_TENDER_AWARD = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
EX_CONTRACT = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
EX_POT = "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"
EX_ALLOCATION = "3d4e5f6a-7b8c-4d9e-8f1a-2b3c4d5e6f7a"
EX_FUNDER_ORG = "8a9b0c1d-2e3f-4a5b-9c6d-7e8f9a0b1c2d"
EX_ADMIN_ORG = "4e5f6a7b-8c9d-4e0f-9a1b-2c3d4e5f6a7b"
EX_ORDER = "6b7c8d9e-0f1a-4b2c-9d3e-4f5a6b7c8d9e"
EX_INVOICE = "7c8d9e0f-1a2b-4c3d-8e4f-5a6b7c8d9e0f"
EX_PAYMENT = "8d9e0f1a-2b3c-4d4e-9f5a-6b7c8d9e0f1a"
EX_ICB = "QWE"
EX_TRUST = "RJ7"
EX_SITE = "RJ701"
EX_SUPPLIER: dict[str, Any] = {
    "org_id": EX_INNOVATOR_ORG,
    "companies_house_number": EX_INNOVATOR_CH,
    "legal_name": "Oncoflow Digital Ltd",
    "vat_number": "GB123456789",
    "country_code": "GB",
    "peppol_participant_id": "0088:5060012345678",
}
EX_CONTRACT_LINES: list[dict[str, Any]] = [
    {"line_id": "1", "item_id": "OFT-TRIAGE-LIC", "description":
     "Oncoflow Triage annual site licence", "unit_code": "C62",
     "unit_price_pence": 1_850_000, "vat_category": "S", "vat_rate": "20",
     "max_quantity": 12},
    {"line_id": "2", "item_id": "OFT-ONBOARD", "description":
     "Clinical onboarding and training day", "unit_code": "DAY",
     "unit_price_pence": 95_000, "vat_category": "S", "vat_rate": "20",
     "max_quantity": None},
]
EX_ORDER_LINES: list[dict[str, Any]] = [
    {"line_id": "1", "item_id": "OFT-TRIAGE-LIC", "description":
     "Oncoflow Triage annual site licence", "quantity": 2, "unit_code": "C62",
     "unit_price_pence": 1_850_000, "net_pence": 3_700_000, "vat_category": "S",
     "vat_rate": "20"},
    {"line_id": "2", "item_id": "OFT-ONBOARD", "description":
     "Clinical onboarding and training day", "quantity": 3, "unit_code": "DAY",
     "unit_price_pence": 95_000, "net_pence": 285_000, "vat_category": "S",
     "vat_rate": "20"},
]
