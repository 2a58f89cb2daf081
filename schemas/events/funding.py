"""Events of topic ``marketplace.funding``: funding pots and their allocations.

Keyed by ``pot_id``: the allocations of one pot draw on the same money, so their
changes are applied in the order they were made. Each event names the allocation and
its recipient (an ICB or a trust), so a trust keeps its budget lines from events alone.
"""
from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, validates_schema

from schemas.events.common import (
    EX_ALLOCATION,
    EX_CONTRACT,
    EX_FUNDER_ORG,
    EX_INNOVATION,
    EX_POT,
    EX_TRUST,
    FINANCIAL_YEAR_PATTERN,
    EventSchema,
    ensure_after,
)
from schemas.fields import (
    Choice,
    Currency,
    Day,
    Id,
    OdsCode,
    OrgId,
    Pattern,
    Pence,
    Text,
    Timestamp,
)

FUNDER_TYPES: tuple[str, ...] = (
    "nhs_england", "sbri", "icb", "charity", "pharma_joint_working", "other",
)
CHANGE_REASONS: tuple[str, ...] = (
    "reprofiled", "underspend", "additional_funding", "scope_change", "correction", "other",
)


class AllocationRefSchema(EventSchema):
    """Identifies the pot, the allocation and who receives it."""

    pot_id = Id("The funding pot (record key of this topic).")
    allocation_id = Id("The allocation within the pot.")
    recipient_ods = OdsCode("ODS code of the receiving ICB or trust.")


class FundingAllocated(AllocationRefSchema):
    """Money from a pot is allocated to an ICB or trust for a period; the recipient adds
    a budget line."""

    funder_org_id = OrgId("The funder.")
    funder_type = Choice(FUNDER_TYPES, "Kind of funder.")
    programme = Text("The funding programme or pot title.")
    purpose = Text("What the money is for.", max_length=1000)
    amount_pence = Pence("Amount allocated, in pence.")
    currency = Currency()
    financial_year = Pattern(FINANCIAL_YEAR_PATTERN, "NHS financial year, e.g. 2026/27.")
    period_start = Day("First day the money may be spent.")
    period_end = Day("Last day the money may be spent.")
    innovation_id = Id("The innovation it is earmarked for, if any.", optional=True)
    contract_id = Id("The contract it funds, if any.", optional=True)
    signal_id = Id("The demand signal it answers, if any.", optional=True)
    allocated_at = Timestamp("When it was allocated.")

    @validates_schema
    def _period(self, data: dict[str, Any], **kwargs: Any) -> None:
        ensure_after(data, "period_start", "period_end", strictly=False)


class FundingChanged(AllocationRefSchema):
    """An allocation's amount changed; `delta_pence` is what the recipient's budget line
    moves by."""

    previous_amount_pence = Pence("Amount before the change.")
    amount_pence = Pence("Amount after the change.")
    delta_pence = Pence("amount_pence - previous_amount_pence (negative: reduction).",
                        signed=True)
    currency = Currency()
    reason_code = Choice(CHANGE_REASONS, "Why, as a code.")
    reason = Text("Why, in words.", max_length=1000)
    period_end = Day("Last day the money may be spent, after the change.")
    changed_at = Timestamp("When the change was made.")

    @validates_schema
    def _delta(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["delta_pence"] != data["amount_pence"] - data["previous_amount_pence"]:
            raise ValidationError("Must equal amount_pence - previous_amount_pence.",
                                  "delta_pence")
        if data["delta_pence"] == 0 and data["reason_code"] != "reprofiled":
            raise ValidationError("A change of 0 is only a reprofile.", "delta_pence")


class FundingWithdrawn(AllocationRefSchema):
    """The allocation is withdrawn in full; the recipient closes the budget line, minus
    any spend it has already committed."""

    withdrawn_amount_pence = Pence("The allocation's amount at withdrawal.")
    currency = Currency()
    reason = Text("Why, in words.", max_length=1000)
    withdrawn_at = Timestamp("When it was withdrawn.")


_REF: dict[str, Any] = {"pot_id": EX_POT, "allocation_id": EX_ALLOCATION,
                        "recipient_ods": EX_TRUST}
ALLOCATED_EXAMPLE: dict[str, Any] = {
    **_REF,
    "funder_org_id": EX_FUNDER_ORG,
    "funder_type": "nhs_england",
    "programme": "Cancer Programme: Faster Diagnosis innovation fund",
    "purpose": "First-year licences and onboarding for AI triage.",
    "amount_pence": 4_000_000,
    "currency": "GBP",
    "financial_year": "2026/27",
    "period_start": "2026-07-01",
    "period_end": "2027-03-31",
    "innovation_id": EX_INNOVATION,
    "contract_id": EX_CONTRACT,
    "signal_id": None,
    "allocated_at": "2026-06-30T10:00:00+01:00",
}
CHANGED_EXAMPLE: dict[str, Any] = {
    **_REF,
    "previous_amount_pence": 4_000_000,
    "amount_pence": 4_800_000,
    "delta_pence": 800_000,
    "currency": "GBP",
    "reason_code": "additional_funding",
    "reason": "Onboarding extended to the second site.",
    "period_end": "2027-03-31",
    "changed_at": "2026-10-05T14:00:00+01:00",
}
WITHDRAWN_EXAMPLE: dict[str, Any] = {
    **_REF,
    "withdrawn_amount_pence": 4_800_000,
    "currency": "GBP",
    "reason": "Contract terminated after the approval was revoked.",
    "withdrawn_at": "2026-09-03T09:00:00+01:00",
}
