"""API bodies for contracts (``/api/v1/contracts``).

Field names follow the ``contract.*`` events (``schemas.events.tenders``): lines are
``ContractLineSchema``'s (the server gives each its ``line_id``), termination reasons are
``TERMINATION_REASONS``, so API and events read alike. Signing takes no body.
"""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from schemas.events.common import ContractLineSchema
from schemas.events.tenders import TERMINATION_REASONS
from schemas.fields import BIGINT_MAX, Choice, Count, Day, Id, Pence, Text, doc
from schemas.statuses import ContractStatus, words

CONTRACT_STATUSES = words(ContractStatus)
MAX_CONTRACT_LINES = 50
#: What a variation may change (a subset of ``contract.varied``'s ``changed_fields``).
VARIABLE_FIELDS = ("value_pence", "ends_on", "lines")


class ContractLineIn(ContractLineSchema):
    """An item trusts may call off and its unit price; an item already on the contract
    keeps its ``line_id``."""

    class Meta:
        exclude = ("line_id",)

    unit_price_pence = Pence("Price of one unit excluding VAT, in pence.",
                             validate=validate.Range(max=BIGINT_MAX))
    max_quantity = Count("Most units that may be called off in total; null: unlimited.",
                         minimum=1, optional=True, validate=validate.Range(max=BIGINT_MAX))


class VaryIn(Schema):
    """A variation of an active contract: at least one of its value, end date or lines
    (which replace all its lines), and why."""

    value_pence = Pence("The new total value excluding VAT, in pence.", required=False,
                        validate=validate.Range(max=BIGINT_MAX))
    ends_on = Day("The new last day (not before the start, nor in the past).",
                  required=False)
    lines = fields.List(fields.Nested(ContractLineIn),
                        validate=validate.Length(min=1, max=MAX_CONTRACT_LINES),
                        **doc("Every line of the contract after the variation (item ids "
                              "unique).", required=False))
    reason = Text("Why the contract is varied (published; no personal data).",
                  max_length=1000)

    @validates_schema
    def _check(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not any(name in data for name in VARIABLE_FIELDS):
            raise ValidationError(f"Change at least one of {', '.join(VARIABLE_FIELDS)}.")
        items = [line["item_id"] for line in data.get("lines", [])]
        if len(set(items)) != len(items):
            raise ValidationError("Item ids must be unique.", "lines")


class TerminateIn(Schema):
    """Why and from when an active contract ends early."""

    reason_code = Choice(TERMINATION_REASONS, "Why, as a code.")
    reason = Text("Why, in words (published; no personal data).", max_length=1000)
    effective_on = Day("Last day orders may be fulfilled under it (today or later, not "
                       "after it ends).")


class ContractQuery(Schema):
    status = Choice(CONTRACT_STATUSES, required=False)
    tender_id = Id(required=False)


class SupplierOut(Schema):
    org_id = fields.String(attribute="public_id", **doc(
        "The supplier's stable organisation id, as events name it (a UUID)",
        required=False))
    name = fields.String()
    companies_house_number = fields.String(attribute="code")


class ContractLineOut(Schema):
    line_id = fields.String()
    item_id = fields.String()
    description = fields.String()
    unit_code = fields.String()
    unit_price_pence = fields.Integer()
    vat_category = fields.String()
    vat_rate = fields.String()
    max_quantity = fields.Integer(allow_none=True)


class VariationOut(Schema):
    number = fields.Integer()
    previous_value_pence = fields.Integer()
    value_pence = fields.Integer()
    changed_fields = fields.List(fields.String())
    reason = fields.String()
    varied_at = fields.AwareDateTime()


class ContractOut(Schema):
    id = fields.String()
    reference = fields.String()
    status = Choice(CONTRACT_STATUSES, required=False)
    tender_id = fields.String(allow_none=True)
    award_id = fields.String(allow_none=True)
    framework_id = fields.String(allow_none=True)
    buyer = fields.Function(lambda c: c.buyer_icb.current().code, **doc(
        "ODS code of the ICB that holds the contract (a merged ICB's successor)",
        required=False))
    supplier = fields.Nested(SupplierOut, attribute="supplier_organisation")
    innovation_id = fields.String()
    value_pence = fields.Integer()
    currency = fields.String()
    term_months = fields.Integer()
    starts_on = fields.Date(**doc("First day (proposed until signed)", required=False))
    ends_on = fields.Date(**doc("Last day (proposed until signed)", required=False))
    lines = fields.List(fields.Nested(ContractLineOut))
    eligible_trusts = fields.List(fields.String(), **doc(
        "ODS codes of the trusts that may call off (fixed at signature)", required=False))
    payment_terms_days = fields.Integer()
    standstill_ends_at = fields.AwareDateTime(**doc(
        "The contract may be signed from this instant", required=False, allow_none=True))
    created_at = fields.AwareDateTime()
    signed_at = fields.AwareDateTime(allow_none=True)
    variation_number = fields.Integer()
    variations = fields.List(fields.Nested(VariationOut))
    terminated_at = fields.AwareDateTime(allow_none=True)
    effective_on = fields.Date(allow_none=True)
    cancelled_at = fields.AwareDateTime(allow_none=True)
    reason_code = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    status_changed_at = fields.AwareDateTime()
    version = fields.Integer()
