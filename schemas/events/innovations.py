"""Events of topic ``marketplace.innovations``: catalogue listings.

Listing events carry the full public listing (event-carried state), so a consumer
keeps a catalogue without calling the API. Evidence files and anything about people
stay out; evidence results travel in the approval events.
"""
from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from schemas.events.common import (
    DEVICE_CLASSES,
    DEVICE_MARKS,
    ESF_TIERS,
    EX_INNOVATION,
    EX_INNOVATOR_CH,
    EX_INNOVATOR_ORG,
    PATHWAY_STAGES,
    EventSchema,
    changes_of,
)
from schemas.fields import Choice, CompaniesHouseNumber, Id, OrgId, Text, Timestamp, doc

PRICING_MODELS: tuple[str, ...] = (
    "site_licence", "per_patient", "per_user", "per_use", "subscription", "one_off",
    "free", "other",
)


class InnovationRefSchema(EventSchema):
    """Identifies the listing and its owner."""

    innovation_id = Id("The listing's id (record key of this topic).")
    innovator_org_id = OrgId("The innovator that owns it.")


class InnovationStateSchema(InnovationRefSchema):
    """The public listing as it is after the event."""

    innovator_companies_house_number = CompaniesHouseNumber(
        "Companies House number of the innovator.")
    product_name = Text("Product name as listed.")
    summary = Text("Public summary of what the product does.", max_length=2000)
    product_version = Text("Current product version; approvals are per version.",
                           max_length=50)
    categories = fields.List(Text(max_length=100), validate=validate.Length(min=1),
                             **doc("Catalogue categories, e.g. `cancer.triage`."))
    pathway_stages = fields.List(Choice(PATHWAY_STAGES),
                                 **doc("Care-pathway stages the product serves."))
    use_cases = fields.List(Text(max_length=200),
                            **doc("Use cases, e.g. `AI triage`, `digital pre-assessment`."))
    esf_tier = Choice(ESF_TIERS, "NICE Evidence Standards Framework tier claimed.")
    device_class = Choice(DEVICE_CLASSES, "MHRA (UK MDR) device class, or not_a_device.")
    device_mark = Choice(DEVICE_MARKS, "Conformity mark of the device (`none` if not a "
                         "device).")
    pricing_model = Choice(PRICING_MODELS, "How the product is charged for.")


_CHANGEABLE = set(InnovationStateSchema().fields) - set(InnovationRefSchema().fields)


class InnovationListed(InnovationStateSchema):
    """A listing was published to the catalogue. It is not pre-approved until an
    `approval.granted` or `approval.conditional` for its product version arrives."""

    listed_at = Timestamp("When the listing was published.")


class InnovationUpdated(InnovationStateSchema):
    """A published listing changed; carries the whole listing after the change. A new
    `product_version` needs a new approval; approvals of the old version stay valid for
    that version until they lapse."""

    changed_fields = changes_of("Which listing fields changed.", _CHANGEABLE)
    updated_at = Timestamp("When the change was made.")


class InnovationWithdrawn(InnovationRefSchema):
    """The innovator withdrew the listing; it leaves the catalogue. Existing contracts
    are not ended by this (see `contract.terminated`)."""

    withdrawn_at = Timestamp("When the listing was withdrawn.")
    reason = Text("Reason given, if any.", max_length=1000, optional=True)


_STATE_EXAMPLE: dict[str, Any] = {
    "innovation_id": EX_INNOVATION,
    "innovator_org_id": EX_INNOVATOR_ORG,
    "innovator_companies_house_number": EX_INNOVATOR_CH,
    "product_name": "Oncoflow Triage",
    "summary": "AI-assisted triage of urgent suspected cancer referrals, prioritising "
               "the straight-to-test pathway.",
    "product_version": "3.2",
    "categories": ["cancer.triage"],
    "pathway_stages": ["referral_triage", "diagnosis"],
    "use_cases": ["AI triage", "digital pre-assessment"],
    "esf_tier": "C",
    "device_class": "IIa",
    "device_mark": "UKCA",
    "pricing_model": "site_licence",
}
LISTED_EXAMPLE: dict[str, Any] = {**_STATE_EXAMPLE, "listed_at": "2026-03-02T09:30:00+00:00"}
UPDATED_EXAMPLE: dict[str, Any] = {
    **_STATE_EXAMPLE, "product_version": "3.3",
    "changed_fields": ["product_version", "summary"],
    "updated_at": "2026-06-15T14:05:00+01:00",
}
WITHDRAWN_EXAMPLE: dict[str, Any] = {
    "innovation_id": EX_INNOVATION,
    "innovator_org_id": EX_INNOVATOR_ORG,
    "withdrawn_at": "2027-01-20T11:00:00+00:00",
    "reason": "Superseded by Oncoflow Triage 4.",
}
