"""API bodies for funding pots and their allocations (``/api/v1/funding``).

Field names follow the ``funding.*`` events (``schemas.events.funding``): funder types
are ``FUNDER_TYPES``, change reasons ``CHANGE_REASONS``, amounts integer pence, so API
and events read alike. The words of an allocation's status and of its revisions' kinds
are in ``schemas.statuses``.
"""
from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from schemas.api.organisations import OrganisationRef
from schemas.events.common import FINANCIAL_YEAR_PATTERN, ensure_after
from schemas.events.funding import CHANGE_REASONS, FUNDER_TYPES
from schemas.fields import (
    BIGINT_MAX,
    Choice,
    Currency,
    Day,
    Flag,
    Id,
    Pattern,
    Pence,
    Text,
    doc,
)
from schemas.statuses import AllocationChangeKind, AllocationStatus, words

PHARMA = "pharma_joint_working"
ALLOCATION_STATUSES = words(AllocationStatus)
REVISION_KINDS = words(AllocationChangeKind)
#: What a pot's owner may post as a change (revision 1, ``allocate``, is the allocation).
CHANGE_KINDS = words(k for k in AllocationChangeKind if k != AllocationChangeKind.ALLOCATE)
REPROFILED = "reprofiled"
_MONEY = validate.Range(min=1, max=BIGINT_MAX)


def _financial_year(value: str) -> None:
    if re.fullmatch(FINANCIAL_YEAR_PATTERN, value) is None:
        return  # the pattern says why
    first, second = int(value[:4]), int(value[5:])
    if second != (first + 1) % 100:
        raise ValidationError(f"The second year follows the first: {first}/"
                              f"{(first + 1) % 100:02d}.")


class _Code(fields.String):
    """An organisation's code: an ODS code or a Companies House number."""

    def __init__(self, description: str, **kwargs: Any) -> None:
        super().__init__(validate=validate.Length(min=3, max=16), **doc(description,
                                                                        **kwargs))


class PotCreate(Schema):
    """A funding pot of the caller's organisation (an ICB buyer: its ICB, type ``icb``)."""

    title = Text("The funding programme or pot title (published).")
    funder_type = Choice(FUNDER_TYPES, "Kind of funder; `icb` only for an ICB buyer, "
                         "every other type only for a funder organisation.")
    amount_pence = Pence("The pot's total, in pence (more than 0).", validate=_MONEY)
    currency = Currency(required=False, load_default="GBP")
    financial_year = Pattern(FINANCIAL_YEAR_PATTERN, "NHS financial year, e.g. 2026/27.",
                             validate=_financial_year)
    period_start = Day("First day the money may be spent.")
    period_end = Day("Last day the money may be spent (on or after period_start).")
    recurrent = Flag("Whether the funding recurs in later years.")
    conditions = Text("Conditions attached to the money (published).", max_length=4000)
    agreement_summary = Text(
        "Pharma joint working only, and required for it: the published executive summary "
        "of the joint-working agreement (ABPI Code clause 20).", max_length=4000,
        optional=True)
    transfer_of_value_pence = Pence(
        "Pharma joint working only, and required for it: the company's transfer of value, "
        "in pence, as disclosed.", optional=True, validate=validate.Range(max=BIGINT_MAX))
    owner_ods = _Code("The owner: the caller's own organisation (another is a 403).",
                      optional=True)

    @validates_schema
    def _check(self, data: dict[str, Any], **kwargs: Any) -> None:
        ensure_after(data, "period_start", "period_end", strictly=False)
        transparency = ("agreement_summary", "transfer_of_value_pence")
        if data.get("funder_type") == PHARMA:
            missing = {name: ["required for a pharma joint-working pot (ABPI Code "
                              "clause 20)"] for name in transparency if data.get(name) is None}
            if missing:
                raise ValidationError(missing)
        elif data.get("funder_type") is not None:
            extra = {name: [f"only for funder_type {PHARMA!r}"] for name in transparency
                     if data.get(name) is not None}
            if extra:
                raise ValidationError(extra)


class AllocationCreate(Schema):
    """Money of the pot for an ICB or a trust, for the pot's period."""

    recipient_ods = fields.String(validate=validate.Length(min=3, max=16), **doc(
        "ODS code of the receiving ICB or trust (an ICB's pot: the ICB or one of its "
        "trusts)."))
    amount_pence = Pence("Amount allocated, in pence (more than 0).", validate=_MONEY)
    purpose = Text("What the money is for (published).", max_length=1000)
    innovation_id = Id("The innovation it is earmarked for, if any.", optional=True)
    contract_id = Id("The contract it funds, if any.", optional=True)
    signal_id = Id("The demand signal it answers, if any.", optional=True)


class ChangeCreate(Schema):
    """A change superseding the allocation's current revision."""

    kind = Choice(CHANGE_KINDS, "increase / reduce: a new amount above / below the current "
                  "one; reprofile: the same amount, a new period_end; withdraw: all of it "
                  "(final; what orders have drawn stays spent).")
    amount_pence = Pence("The new amount (increase, reduce; reprofile: the current amount "
                         "or absent; withdraw: 0 or absent).", optional=True,
                         validate=validate.Range(max=BIGINT_MAX))
    period_end = Day("The new last day the money may be spent (required to reprofile; "
                     "optional otherwise).", optional=True)
    reason_code = Choice(CHANGE_REASONS, "Why, as a code: `reprofiled` for a reprofile "
                         "(the default for it) and only for it.", optional=True)
    reason = Text("Why, in words (published; no personal data).", max_length=1000)

    @validates_schema
    def _check(self, data: dict[str, Any], **kwargs: Any) -> None:
        kind, code = data.get("kind"), data.get("reason_code")
        if kind == AllocationChangeKind.REPROFILE:
            if code not in (None, REPROFILED):
                raise ValidationError(f"A reprofile's reason_code is {REPROFILED!r}.",
                                      "reason_code")
        elif kind is not None:
            if code is None:
                raise ValidationError("Required.", "reason_code")
            if code == REPROFILED:
                raise ValidationError(f"{REPROFILED!r} is a reprofile's reason.",
                                      "reason_code")


class PotQuery(Schema):
    funder_type = Choice(FUNDER_TYPES, required=False)
    financial_year = Pattern(FINANCIAL_YEAR_PATTERN, "e.g. 2026/27", required=False)
    owner = fields.String(validate=validate.Length(min=3, max=16), **doc(
        "the owner's ODS code (or Companies House number)", required=False))


class RevisionOut(Schema):
    number = fields.Integer()
    supersedes_id = fields.String(allow_none=True, **doc(
        "The revision this one supersedes (none for revision 1)", required=False))
    id = fields.String()
    kind = Choice(REVISION_KINDS, required=False)
    status = Choice(ALLOCATION_STATUSES, required=False)
    previous_amount_pence = fields.Integer(allow_none=True)
    amount_pence = fields.Integer()
    period_end = fields.Date()
    reason_code = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    made_at = fields.AwareDateTime()


class AllocationOut(Schema):
    id = fields.String()
    pot_id = fields.String()
    recipient = fields.Nested(OrganisationRef)
    recipient_ods = fields.Function(lambda a: a.recipient.code)
    purpose = fields.String()
    innovation_id = fields.String(allow_none=True)
    contract_id = fields.String(allow_none=True)
    signal_id = fields.String(allow_none=True)
    status = Choice(ALLOCATION_STATUSES, required=False)
    amount_pence = fields.Integer(**doc("The current amount", required=False))
    drawn_pence = fields.Integer(**doc("Drawn by orders so far", required=False))
    remaining_pence = fields.Integer(**doc("amount - drawn", required=False))
    currency = fields.String()
    period_start = fields.Date()
    period_end = fields.Date()
    revision_number = fields.Integer(**doc("The current revision", required=False))
    revisions = fields.List(fields.Nested(RevisionOut), **doc(
        "Every revision, oldest first: number 1 allocated it, each later one supersedes "
        "the one before", required=False))
    created_at = fields.AwareDateTime()
    withdrawn_at = fields.AwareDateTime(allow_none=True)
    updated_at = fields.AwareDateTime()
    version = fields.Integer(**doc("The ETag to send as If-Match with a change",
                                   required=False))


class PotOut(Schema):
    id = fields.String()
    title = fields.String()
    funder_type = fields.String()
    owner = fields.Nested(OrganisationRef)
    funder_org_id = fields.Function(lambda p: p.owner.public_id, **doc(
        "The owner's stable organisation id, as events name it", required=False))
    amount_pence = fields.Integer()
    allocated_pence = fields.Integer()
    remaining_pence = fields.Integer()
    currency = fields.String()
    financial_year = fields.String()
    period_start = fields.Date()
    period_end = fields.Date()
    recurrent = fields.Boolean()
    conditions = fields.String()
    agreement_summary = fields.String(allow_none=True, **doc(
        "Pharma joint working: the published executive summary of the agreement",
        required=False))
    transfer_of_value_pence = fields.Integer(allow_none=True, **doc(
        "Pharma joint working: the disclosed transfer of value", required=False))
    allocations = fields.List(fields.Nested(AllocationOut))
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    version = fields.Integer()
