"""API bodies for the audit trail (``/api/v1/audit``)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from schemas.fields import Instant, doc


class AuditQuery(Schema):
    object_type = fields.String(validate=validate.Length(max=64))
    object_id = fields.String(validate=validate.Length(max=64))
    action = fields.String(validate=validate.Length(max=64))
    actor_id = fields.String(data_key="actor", validate=validate.Length(max=64))
    since = Instant()
    until = Instant()


class AuditEventOut(Schema):
    id = fields.Integer()
    at = fields.AwareDateTime()
    actor_id = fields.String()
    actor_role = fields.String()
    action = fields.String()
    object_type = fields.String()
    object_id = fields.String()
    changes = fields.Dict(**doc("field: [before, after]", required=False))
    request_id = fields.String(allow_none=True)
