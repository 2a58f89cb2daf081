"""API bodies for organisations (``/api/v1/organisations``)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

KINDS = ("icb", "trust", "innovator", "assessor", "funder")


class OrganisationCreate(Schema):
    code = fields.String(required=True, validate=validate.Length(min=3, max=16),
                         metadata={"description": "ODS code, or Companies House number"})
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    parent = fields.String(load_default=None, allow_none=True,
                           metadata={"description": "ODS code of a trust's ICB"})


class OrganisationUpdate(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    parent = fields.String(metadata={"description": "move a trust to another ICB"})
    successor = fields.String(metadata={"description": "the ICB this ICB was merged into"})
    succeeded_on = fields.Date(metadata={"description": "when the merger took effect"})


class OrganisationQuery(Schema):
    kind = fields.String(validate=validate.OneOf(KINDS))
    parent = fields.String()
    q = fields.String(validate=validate.Length(max=100))


class OrganisationRef(Schema):
    code = fields.String()
    name = fields.String()


class OrganisationOut(Schema):
    code = fields.String()
    kind = fields.String()
    name = fields.String()
    parent = fields.Nested(OrganisationRef, allow_none=True)
    current_parent = fields.Nested(
        OrganisationRef, allow_none=True,
        metadata={"description": "a trust's ICB today (the successor of a merged ICB)"})
    successor = fields.Nested(OrganisationRef, allow_none=True)
    succeeded_on = fields.Date(allow_none=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    version = fields.Integer()


class OrganisationDetail(OrganisationOut):
    requested_code = fields.String(
        metadata={"description": "the code asked for; differs from code after a merger"})
    predecessors = fields.List(fields.Nested(OrganisationRef))
