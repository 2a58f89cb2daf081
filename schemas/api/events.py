"""API bodies for the published-event feed (``/api/v1/events``)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate


class EventFeedQuery(Schema):
    after = fields.Integer(load_default=0, validate=validate.Range(min=0),
                           metadata={"description": "the cursor of the last event you have"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    topic = fields.String(metadata={"description": "only this topic"})


class FeedEvent(Schema):
    cursor = fields.Integer(attribute="feed_position")
    id = fields.String(attribute="event_id")
    source = fields.String(attribute="ce_source")
    type = fields.String(attribute="ce_type")
    subject = fields.String(attribute="ce_subject", allow_none=True)
    time = fields.AwareDateTime(attribute="ce_time")
    sequence = fields.Integer()
    topic = fields.String()
    key = fields.String(attribute="record_key")
    data = fields.Raw(metadata={"description": "the event's data, as on Kafka"})


class EventFeedPage(Schema):
    items = fields.List(fields.Nested(FeedEvent))
    next_cursor = fields.Integer(metadata={"description": "pass as ?after= for the next page"})
