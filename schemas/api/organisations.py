"""API bodies for organisations (``/api/v1/organisations``)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from schemas.fields import VAT_NUMBER_PATTERN, Choice, Day, Pattern, Text, doc
from schemas.statuses import OrganisationKind, words

KINDS = words(OrganisationKind)


class OrganisationCreate(Schema):
    code = fields.String(validate=validate.Length(min=3, max=16),
                         **doc("ODS code, or Companies House number"))
    kind = Choice(KINDS)
    name = Text()
    parent = fields.String(**doc("ODS code of a trust's ICB", optional=True))


class OrganisationUpdate(Schema):
    name = Text(required=False)
    parent = fields.String(**doc("move a trust to another ICB", required=False))
    successor = fields.String(**doc("the ICB this ICB was merged into", required=False))
    succeeded_on = Day("when the merger took effect", required=False)
    vat_number = Pattern(VAT_NUMBER_PATTERN, "a supplier's UK VAT registration number "
                         "(needed to invoice standard-rated lines)", required=False)


class OrganisationQuery(Schema):
    kind = Choice(KINDS, required=False)
    parent = fields.String()
    q = fields.String(validate=validate.Length(max=100))


class OrganisationRef(Schema):
    code = fields.String()
    name = fields.String()


class OrganisationOut(Schema):
    id = fields.String(attribute="public_id", **doc(
        "the organisation's stable id, as events name it (a UUID)", required=False))
    code = fields.String()
    kind = fields.String()
    name = fields.String()
    parent = fields.Nested(OrganisationRef, allow_none=True)
    current_parent = fields.Nested(
        OrganisationRef, **doc("a trust's ICB today (the successor of a merged ICB)",
                               required=False, allow_none=True))
    successor = fields.Nested(OrganisationRef, allow_none=True)
    succeeded_on = fields.Date(allow_none=True)
    vat_number = fields.String(allow_none=True, **doc(
        "a supplier's UK VAT registration number", required=False))
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    version = fields.Integer()


class OrganisationDetail(OrganisationOut):
    requested_code = fields.String(
        **doc("the code asked for; differs from code after a merger", required=False))
    predecessors = fields.List(fields.Nested(OrganisationRef))
