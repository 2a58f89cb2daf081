"""API bodies for frameworks, their lots and framework awards (``/api/v1/frameworks``).

Field names follow the ``framework.*`` events (``lot_number``, ``ceiling_unit_price_pence``,
``reason_code``), so API and events read alike; the words of the framework and award
lifecycles are in ``schemas.statuses`` with every other status word.
A period's phase (``upcoming``, ``current``, ``ended``) follows from its timestamps
alone, so it is derived when read, never stored.
"""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from schemas.api.innovations import CATEGORY_PATTERN
from schemas.api.organisations import OrganisationRef
from schemas.events.common import REFERENCE_PATTERN, UNIT_CODE_PATTERN, ensure_after
from schemas.events.frameworks import LOT_NUMBER_PATTERN, WITHDRAWAL_REASONS
from schemas.fields import (
    BIGINT_MAX,
    Choice,
    Currency,
    Flag,
    Id,
    Pattern,
    Pence,
    Text,
    Timestamp,
    doc,
)
from schemas.statuses import AwardStatus, FrameworkStatus, Period, words

FRAMEWORK_STATUSES = words(FrameworkStatus)
AWARD_STATUSES = words(AwardStatus)
PERIODS = words(Period)
MAX_LOT_CATEGORIES = 10
MAX_AWARD_LINES = 50


def _period(data: dict[str, Any]) -> None:
    ensure_after(data, "starts_at", "ends_at")


class FrameworkCreate(Schema):
    """A draft framework agreement; lots are added before it is published."""

    title = Text("Framework title.")
    description = Text("What the framework covers and how call-offs work.", max_length=4000)
    starts_at = Timestamp("When call-offs may start.")
    ends_at = Timestamp("When the framework ends, and every award under it.")
    reference = Pattern(REFERENCE_PATTERN, "Public framework reference; generated "
                        "(`FW-<year>-<hex>`) when absent.", optional=True)
    owner_ods = fields.String(validate=validate.Length(min=3, max=16), **doc(
        "Code of the contracting authority; default: the central body (the marketplace's "
        "assessor organisation).", optional=True))
    direct_award = Flag("Whether its terms let a trust call off an award directly, "
                        "without a further competition (default false).", required=False)

    @validates_schema
    def _check_period(self, data: dict[str, Any], **kwargs: Any) -> None:
        _period(data)


class LotCreate(Schema):
    """A lot of a draft framework."""

    title = Text("Lot title.")
    categories = fields.List(Pattern(CATEGORY_PATTERN, validate=validate.Length(max=100)),
                             validate=validate.Length(min=1, max=MAX_LOT_CATEGORIES),
                             **doc("Catalogue categories in scope, e.g. `cancer.triage`; a "
                                   "listing qualifies under a category or any below it."))
    lot_number = Pattern(LOT_NUMBER_PATTERN, "Lot number as published, e.g. `2` or `3a`; "
                         "default: the lot's position.", optional=True)


class AwardLine(Schema):
    """The most a call-off may pay per unit of an item under the award."""

    item_id = Id("Catalogue item id (the innovation's product / SKU).")
    description = Text("Item description.", max_length=500)
    unit_code = Pattern(UNIT_CODE_PATTERN, "UN/ECE Rec 20 unit of measure, e.g. C62 (one).")
    ceiling_unit_price_pence = Pence("Maximum unit price excluding VAT, in pence.",
                                     validate=validate.Range(max=BIGINT_MAX))


class AwardCreate(Schema):
    """A place on a lot for a centrally approved innovation, with price ceilings."""

    lot_id = Id("A lot of this framework.")
    innovation_id = Id("The listing awarded; its current product version must hold a live "
                       "central approval.")
    lines = fields.List(fields.Nested(AwardLine),
                        validate=validate.Length(min=1, max=MAX_AWARD_LINES),
                        **doc("Ceiling unit prices per item (item ids unique)."))
    starts_at = Timestamp("When the supplier may start taking call-offs (not before the "
                          "framework starts).")
    ends_at = Timestamp("When the award ends (not after the framework ends).")
    currency = Currency(required=False, load_default="GBP")

    @validates_schema
    def _check(self, data: dict[str, Any], **kwargs: Any) -> None:
        _period(data)
        items = [line["item_id"] for line in data.get("lines", [])]
        if len(set(items)) != len(items):
            raise ValidationError("Item ids must be unique.", "lines")


class WithdrawIn(Schema):
    """Why an award is withdrawn: a code and words (no personal data)."""

    reason_code = Choice(WITHDRAWAL_REASONS)
    reason = Text(max_length=1000)


class FrameworkQuery(Schema):
    status = Choice(FRAMEWORK_STATUSES, required=False)


class LotOut(Schema):
    id = fields.String()
    framework_id = fields.String()
    lot_number = fields.String()
    title = fields.String()
    categories = fields.List(fields.String())
    created_at = fields.AwareDateTime()


class AwardLineOut(Schema):
    item_id = fields.String()
    description = fields.String()
    unit_code = fields.String()
    ceiling_unit_price_pence = fields.Integer()


_PERIOD_DOC = ("upcoming before starts_at, current until ends_at, ended after "
               "(derived when read)")


class AwardOut(Schema):
    id = fields.String()
    framework_id = fields.String()
    lot_id = fields.String()
    lot_number = fields.String(attribute="lot.lot_number")
    innovation_id = fields.String()
    supplier = fields.Nested(OrganisationRef, attribute="supplier_organisation")
    approval_id = fields.String(**doc("The central approval the award rests on; its "
                                      "revocation or expiry withdraws the award",
                                      required=False))
    product_version = fields.String()
    status = Choice(AWARD_STATUSES, required=False)
    period = Choice(PERIODS, _PERIOD_DOC, required=False, allow_none=True)
    lines = fields.List(fields.Nested(AwardLineOut))
    currency = fields.String()
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    awarded_at = fields.AwareDateTime()
    withdrawn_at = fields.AwareDateTime(allow_none=True)
    reason_code = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    status_changed_at = fields.AwareDateTime()
    version = fields.Integer()


class FrameworkOut(Schema):
    id = fields.String()
    reference = fields.String()
    title = fields.String()
    description = fields.String()
    owner = fields.Nested(OrganisationRef, attribute="owner_organisation")
    status = Choice(FRAMEWORK_STATUSES, required=False)
    period = Choice(PERIODS, f"{_PERIOD_DOC}; published and upcoming: no call-offs yet",
                    required=False, allow_none=True)
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    direct_award = fields.Boolean(**doc(
        "Trusts may call off its awards directly (POST /orders with framework_award_id)",
        required=False))
    created_at = fields.AwareDateTime()
    published_at = fields.AwareDateTime(allow_none=True)
    expired_at = fields.AwareDateTime(allow_none=True)
    lots = fields.List(fields.Nested(LotOut))
    awards = fields.List(fields.Nested(AwardOut))
    version = fields.Integer()
