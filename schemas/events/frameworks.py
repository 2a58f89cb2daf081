"""Events of topic ``marketplace.frameworks``: frameworks, lots and supplier awards.

Keyed by ``framework_id``, awards included: a withdrawal must never overtake the award
it withdraws, and the framework's expiry ends all its awards, so one framework is one
ordered stream. Award events carry the supplier's details so a trust onboards the
supplier (and later checks call-off prices against the ceilings) from events alone.
"""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate, validates_schema

from schemas.events.common import (
    EX_ADMIN_ORG,
    EX_FRAMEWORK,
    EX_FRAMEWORK_AWARD,
    EX_INNOVATION,
    EX_INNOVATOR_ORG,
    EX_LOT,
    EX_SUPPLIER,
    REFERENCE_PATTERN,
    UNIT_CODE_PATTERN,
    EventSchema,
    SupplierSchema,
    ensure_after,
)
from schemas.fields import Choice, Currency, Id, OrgId, Pattern, Pence, Text, Timestamp, doc

LOT_NUMBER_PATTERN = r"^[0-9]{1,3}[A-Za-z]?$"
WITHDRAWAL_REASONS: tuple[str, ...] = (
    "supplier_request", "approval_revoked", "exclusion_ground", "performance",
    "insolvency", "other",
)


def _reference(description: str) -> Pattern:
    return Pattern(REFERENCE_PATTERN, description)


def _lot_number() -> Pattern:
    return Pattern(LOT_NUMBER_PATTERN, "Lot number as published, e.g. `2` or `3a`.")


class LotSchema(Schema):
    """A lot of a framework."""

    lot_id = Id("The lot's id.")
    lot_number = _lot_number()
    title = Text("Lot title.")
    categories = fields.List(Text(max_length=100), **doc("Catalogue categories in scope."))


class PriceCeilingSchema(Schema):
    """The most a call-off may pay per unit of an item under an award."""

    item_id = Id("Catalogue item id.")
    description = Text("Item description.", max_length=500)
    unit_code = Pattern(UNIT_CODE_PATTERN, "UN/ECE Rec 20 unit of measure.")
    ceiling_unit_price_pence = Pence("Maximum unit price excluding VAT, in pence.")


class FrameworkPublished(EventSchema):
    """A framework agreement and its lots are live; awards under it follow as
    `framework.award.granted`."""

    framework_id = Id("The framework's id (record key of this topic).")
    reference = _reference("Public framework reference.")
    title = Text("Framework title.")
    owner_org_id = OrgId("The contracting authority.")
    lots = fields.List(fields.Nested(LotSchema), validate=validate.Length(min=1),
                       **doc("The framework's lots."))
    starts_at = Timestamp("When call-offs may start.")
    ends_at = Timestamp("When the framework ends (and every award under it).")
    published_at = Timestamp("When it was published.")

    @validates_schema
    def _period(self, data: dict[str, Any], **kwargs: Any) -> None:
        ensure_after(data, "starts_at", "ends_at")


class FrameworkAwardGranted(EventSchema):
    """A supplier is awarded a place on a lot: trusts onboard the supplier for the
    listed innovations, with price ceilings, for the award period."""

    framework_id = Id("The framework (record key of this topic).")
    framework_reference = _reference("Public framework reference.")
    award_id = Id("The award's id.")
    lot_id = Id("The lot awarded.")
    lot_number = _lot_number()
    supplier = fields.Nested(SupplierSchema, **doc("The awarded supplier."))
    innovation_ids = fields.List(Id(), validate=validate.Length(min=1),
                                 **doc("Innovations the award covers."))
    price_ceilings = fields.List(fields.Nested(PriceCeilingSchema),
                                 **doc("Ceiling unit prices per item."))
    currency = Currency()
    awarded_at = Timestamp("When the award was made.")
    starts_at = Timestamp("When the supplier may start taking call-offs.")
    ends_at = Timestamp("When the award ends.")

    @validates_schema
    def _period(self, data: dict[str, Any], **kwargs: Any) -> None:
        ensure_after(data, "starts_at", "ends_at")


class FrameworkAwardWithdrawn(EventSchema):
    """A supplier's award is withdrawn: no new call-offs under it; existing contracts
    run on unless terminated."""

    framework_id = Id("The framework (record key of this topic).")
    award_id = Id("The award withdrawn.")
    lot_id = Id("The lot of the award.")
    supplier_org_id = OrgId("The supplier.")
    reason_code = Choice(WITHDRAWAL_REASONS, "Why, as a code.")
    reason = Text("Why, in words (no personal data).", max_length=1000)
    withdrawn_at = Timestamp("When the withdrawal took effect.")


class FrameworkExpired(EventSchema):
    """The framework reached its end date: all its awards end with it."""

    framework_id = Id("The framework (record key of this topic).")
    reference = _reference("Public framework reference.")
    ends_at = Timestamp("The end date that was reached.")
    expired_at = Timestamp("When the marketplace recorded the expiry.")


_REFERENCE = "NHS-DHT-2026-01"
PUBLISHED_EXAMPLE: dict[str, Any] = {
    "framework_id": EX_FRAMEWORK,
    "reference": _REFERENCE,
    "title": "Digital health technologies for cancer pathways",
    "owner_org_id": EX_ADMIN_ORG,
    "lots": [
        {"lot_id": EX_LOT, "lot_number": "2", "title": "Referral and triage",
         "categories": ["cancer.triage"]},
    ],
    "starts_at": "2026-04-01T00:00:00+01:00",
    "ends_at": "2030-03-31T23:59:59+01:00",
    "published_at": "2026-03-10T12:00:00+00:00",
}
AWARD_GRANTED_EXAMPLE: dict[str, Any] = {
    "framework_id": EX_FRAMEWORK,
    "framework_reference": _REFERENCE,
    "award_id": EX_FRAMEWORK_AWARD,
    "lot_id": EX_LOT,
    "lot_number": "2",
    "supplier": EX_SUPPLIER,
    "innovation_ids": [EX_INNOVATION],
    "price_ceilings": [
        {"item_id": "OFT-TRIAGE-LIC", "description": "Oncoflow Triage annual site licence",
         "unit_code": "C62", "ceiling_unit_price_pence": 2_000_000},
    ],
    "currency": "GBP",
    "awarded_at": "2026-04-15T10:00:00+01:00",
    "starts_at": "2026-05-01T00:00:00+01:00",
    "ends_at": "2030-03-31T23:59:59+01:00",
}
AWARD_WITHDRAWN_EXAMPLE: dict[str, Any] = {
    "framework_id": EX_FRAMEWORK,
    "award_id": EX_FRAMEWORK_AWARD,
    "lot_id": EX_LOT,
    "supplier_org_id": EX_INNOVATOR_ORG,
    "reason_code": "approval_revoked",
    "reason": "Central approval of the only awarded product was revoked.",
    "withdrawn_at": "2026-09-02T09:00:00+01:00",
}
EXPIRED_EXAMPLE: dict[str, Any] = {
    "framework_id": EX_FRAMEWORK,
    "reference": _REFERENCE,
    "ends_at": "2030-03-31T23:59:59+01:00",
    "expired_at": "2030-04-01T00:05:00+01:00",
}
