"""Events of topic ``marketplace.tenders``: tenders and the contracts they lead to.

Tender events are keyed by ``tender_id``, contract events by ``contract_id`` (a
contract outlives its tender, is varied many times, and may come from a framework
call-off with no tender at all). Sealed responses, scores and bid prices never
appear: the only price published is the awarded value, after the award.
"""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from schemas.events.common import (
    EX_CONTRACT,
    EX_CONTRACT_LINES,
    EX_FRAMEWORK,
    EX_ICB,
    EX_INNOVATION,
    EX_INNOVATOR_ORG,
    EX_LOT,
    EX_SIGNAL,
    EX_SUPPLIER,
    EX_TENDER,
    EX_TENDER_AWARD,
    EX_TRUST,
    PATHWAY_STAGES,
    REFERENCE_PATTERN,
    ContractLineSchema,
    EventSchema,
    SupplierSchema,
    changes_of,
    ensure_after,
    ensure_unique_lines,
)
from schemas.fields import (
    Choice,
    Count,
    Currency,
    Day,
    Id,
    OdsCode,
    OrgId,
    Pattern,
    Pence,
    Text,
    Timestamp,
    doc,
)

#: Procedures under the Procurement Act 2023, and framework competitions.
PROCEDURES: tuple[str, ...] = (
    "open", "competitive_flexible", "framework_competition", "direct_award",
)
CANCEL_REASONS: tuple[str, ...] = (
    "no_responses", "no_suitable_responses", "need_changed", "budget_withdrawn",
    "procedural_error", "other",
)
TERMINATION_REASONS: tuple[str, ...] = (
    "breach", "convenience", "supplier_insolvency", "mutual_agreement",
    "approval_revoked", "other",
)


class TenderRefSchema(EventSchema):
    """Identifies the tender and the buying ICB."""

    tender_id = Id("The tender's id (record key of tender events).")
    icb_ods = OdsCode("ODS code of the buying ICB.", kind="icb")


class CriterionSchema(Schema):
    """A published award criterion and its weight."""

    criterion_id = Id("Criterion id.")
    title = Text("What is assessed.")
    weight_percent = Count("Weight in percent; all weights add up to 100.",
                           validate=validate.Range(max=100))


class TenderPublished(TenderRefSchema):
    """A tender notice is published: innovators may ask questions and respond until the
    submission deadline."""

    reference = Pattern(REFERENCE_PATTERN, "Public notice reference.")
    title = Text("Title of the requirement.")
    description = Text("The requirement as published.", max_length=8000)
    procedure = Choice(PROCEDURES, "Procurement procedure.")
    framework_id = Id("Framework competed under, for framework competitions.", optional=True)
    lot_id = Id("Lot competed under, for framework competitions.", optional=True)
    signal_id = Id("The demand signal it answers, if any.", optional=True)
    categories = fields.List(Text(max_length=100), validate=validate.Length(min=1),
                             **doc("Catalogue categories in scope."))
    pathway_stages = fields.List(Choice(PATHWAY_STAGES), **doc("Care-pathway stages."))
    estimated_value_pence = Pence("Published estimated total value, in pence.")
    currency = Currency()
    contract_term_months = Count("Initial contract term in months.", minimum=1)
    criteria = fields.List(fields.Nested(CriterionSchema), validate=validate.Length(min=1),
                           **doc("Award criteria and weights."))
    clarification_deadline = Timestamp("Last time to ask clarification questions.")
    submission_deadline = Timestamp("Responses close (Europe/London wall time).")
    published_at = Timestamp("When the notice was published.")

    @validates_schema
    def _consistent(self, data: dict[str, Any], **kwargs: Any) -> None:
        if sum(c["weight_percent"] for c in data["criteria"]) != 100:
            raise ValidationError("Weights must add up to 100.", "criteria")
        ensure_after(data, "published_at", "clarification_deadline")
        ensure_after(data, "clarification_deadline", "submission_deadline")
        if data["procedure"] == "framework_competition" and not data["framework_id"]:
            raise ValidationError("Required for a framework competition.", "framework_id")


class TenderClosed(TenderRefSchema):
    """The submission deadline passed; sealed responses may now be opened by the buyer
    (they never appear in events)."""

    submission_deadline = Timestamp("The deadline that passed.")
    responses_received = Count("How many responses were received.")
    closed_at = Timestamp("When the marketplace closed it.")


class TenderAwarded(TenderRefSchema):
    """The buyer awarded the tender; a standstill period runs before `contract.signed`."""

    award_id = Id("The award's id.")
    supplier = fields.Nested(SupplierSchema, **doc("The winning supplier."))
    innovation_id = Id("The innovation awarded.")
    award_value_pence = Pence("Awarded total value excluding VAT, in pence.")
    currency = Currency()
    awarded_at = Timestamp("When the award decision was published.")
    standstill_ends_at = Timestamp("End of the standstill period.")

    @validates_schema
    def _standstill(self, data: dict[str, Any], **kwargs: Any) -> None:
        ensure_after(data, "awarded_at", "standstill_ends_at", strictly=False)


class TenderCancelled(TenderRefSchema):
    """The tender was cancelled; no contract will follow from it."""

    reason_code = Choice(CANCEL_REASONS, "Why, as a code.")
    reason = Text("Why, in words (no personal data).", max_length=1000)
    cancelled_at = Timestamp("When it was cancelled.")


class ContractRefSchema(EventSchema):
    """Identifies the contract and its parties."""

    contract_id = Id("The contract's id (record key of contract events).")
    buyer_icb_ods = OdsCode("ODS code of the contracting ICB.", kind="icb")


class ContractStateSchema(ContractRefSchema):
    """The contract as it stands: who may call off what, at what price, until when."""

    reference = Pattern(REFERENCE_PATTERN, "Contract reference.")
    tender_id = Id("The tender it came from; null for a direct framework call-off.",
                   optional=True)
    award_id = Id("The tender or framework award it came from.", optional=True)
    framework_id = Id("The framework it is called off from, if any.", optional=True)
    supplier = fields.Nested(SupplierSchema, **doc("The supplier."))
    innovation_id = Id("The innovation supplied.")
    value_pence = Pence("Total contract value excluding VAT, in pence.")
    currency = Currency()
    starts_on = Day("First day of the contract.")
    ends_on = Day("Last day of the contract.")
    lines = fields.List(fields.Nested(ContractLineSchema), validate=validate.Length(min=1),
                        **doc("Items trusts may order and their prices."))
    eligible_trusts = fields.List(OdsCode(kind="trust"), validate=validate.Length(min=1),
                                  **doc("ODS codes of the trusts that may call off."))
    payment_terms_days = Count("Days from a valid invoice to payment.",
                               validate=validate.Range(max=120))

    @validates_schema
    def _period(self, data: dict[str, Any], **kwargs: Any) -> None:
        ensure_after(data, "starts_on", "ends_on", strictly=False)
        ensure_unique_lines(data["lines"])


_CHANGEABLE = (set(ContractStateSchema().fields) - set(ContractRefSchema().fields)
               - {"reference", "tender_id", "award_id", "framework_id", "supplier"})


class ContractSigned(ContractStateSchema):
    """A contract is in force: trusts record the commitment and may place orders under
    it from `starts_on`."""

    signed_at = Timestamp("When the last party signed.")


class ContractVaried(ContractStateSchema):
    """A contract variation: carries the whole contract after it, so a trust replaces its
    copy; `previous_value_pence` gives the change in commitment."""

    variation_number = Count("1 for the first variation, then 2, ...", minimum=1)
    previous_value_pence = Pence("Contract value before the variation.")
    changed_fields = changes_of("Which contract fields changed.", _CHANGEABLE)
    reason = Text("Why the contract was varied.", max_length=1000)
    varied_at = Timestamp("When the variation took effect.")


class ContractTerminated(ContractRefSchema):
    """The contract ends early: no orders after `effective_on`; trusts release the
    remaining commitment."""

    supplier_org_id = OrgId("The supplier.")
    reason_code = Choice(TERMINATION_REASONS, "Why, as a code.")
    reason = Text("Why, in words (no personal data).", max_length=1000)
    effective_on = Day("Last day orders may be fulfilled under it.")
    terminated_at = Timestamp("When the termination was recorded.")


TENDER_PUBLISHED_EXAMPLE: dict[str, Any] = {
    "tender_id": EX_TENDER,
    "icb_ods": EX_ICB,
    "reference": "QWE-2026-0042",
    "title": "AI triage for urgent suspected cancer referrals",
    "description": "Call-off competition for AI-assisted triage of suspected cancer "
                   "referrals at two acute trusts, with onboarding.",
    "procedure": "framework_competition",
    "framework_id": EX_FRAMEWORK,
    "lot_id": EX_LOT,
    "signal_id": EX_SIGNAL,
    "categories": ["cancer.triage"],
    "pathway_stages": ["referral_triage"],
    "estimated_value_pence": 25_000_000,
    "currency": "GBP",
    "contract_term_months": 24,
    "criteria": [
        {"criterion_id": "quality", "title": "Clinical quality and safety",
         "weight_percent": 50},
        {"criterion_id": "integration", "title": "Integration with trust systems",
         "weight_percent": 20},
        {"criterion_id": "price", "title": "Price", "weight_percent": 30},
    ],
    "clarification_deadline": "2026-05-08T17:00:00+01:00",
    "submission_deadline": "2026-05-20T12:00:00+01:00",
    "published_at": "2026-04-20T10:00:00+01:00",
}
TENDER_CLOSED_EXAMPLE: dict[str, Any] = {
    "tender_id": EX_TENDER,
    "icb_ods": EX_ICB,
    "submission_deadline": "2026-05-20T12:00:00+01:00",
    "responses_received": 4,
    "closed_at": "2026-05-20T12:00:05+01:00",
}
TENDER_AWARDED_EXAMPLE: dict[str, Any] = {
    "tender_id": EX_TENDER,
    "icb_ods": EX_ICB,
    "award_id": EX_TENDER_AWARD,
    "supplier": EX_SUPPLIER,
    "innovation_id": EX_INNOVATION,
    "award_value_pence": 22_200_000,
    "currency": "GBP",
    "awarded_at": "2026-06-10T09:00:00+01:00",
    "standstill_ends_at": "2026-06-22T23:59:59+01:00",
}
TENDER_CANCELLED_EXAMPLE: dict[str, Any] = {
    "tender_id": EX_TENDER,
    "icb_ods": EX_ICB,
    "reason_code": "need_changed",
    "reason": "Requirement merged into the regional imaging programme.",
    "cancelled_at": "2026-05-02T11:30:00+01:00",
}
_CONTRACT_STATE: dict[str, Any] = {
    "contract_id": EX_CONTRACT,
    "buyer_icb_ods": EX_ICB,
    "reference": "QWE-C-2026-0107",
    "tender_id": EX_TENDER,
    "award_id": EX_TENDER_AWARD,
    "framework_id": EX_FRAMEWORK,
    "supplier": EX_SUPPLIER,
    "innovation_id": EX_INNOVATION,
    "value_pence": 22_200_000,
    "currency": "GBP",
    "starts_on": "2026-07-01",
    "ends_on": "2028-06-30",
    "lines": EX_CONTRACT_LINES,
    "eligible_trusts": [EX_TRUST, "RVR"],
    "payment_terms_days": 30,
}
CONTRACT_SIGNED_EXAMPLE: dict[str, Any] = {
    **_CONTRACT_STATE, "signed_at": "2026-06-25T15:00:00+01:00",
}
CONTRACT_VARIED_EXAMPLE: dict[str, Any] = {
    **_CONTRACT_STATE,
    "value_pence": 24_100_000,
    "ends_on": "2028-12-31",
    "variation_number": 1,
    "previous_value_pence": 22_200_000,
    "changed_fields": ["ends_on", "value_pence"],
    "reason": "Six-month extension to align with the ICB merger.",
    "varied_at": "2027-11-01T09:00:00+00:00",
}
CONTRACT_TERMINATED_EXAMPLE: dict[str, Any] = {
    "contract_id": EX_CONTRACT,
    "buyer_icb_ods": EX_ICB,
    "supplier_org_id": EX_INNOVATOR_ORG,
    "reason_code": "approval_revoked",
    "reason": "Central approval of the product was revoked.",
    "effective_on": "2026-09-30",
    "terminated_at": "2026-09-02T12:00:00+01:00",
}
