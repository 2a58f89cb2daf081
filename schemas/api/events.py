"""API bodies for the published-event feed (``/api/v1/events``)."""
from __future__ import annotations

from marshmallow import Schema, fields

from schemas.fields import QueryInteger, doc


class EventFeedQuery(Schema):
    # QueryInteger, not Count: query strings carry numbers as text.
    after = QueryInteger(**doc("the cursor of the last event you have", required=False,
                               load_default=0))
    limit = QueryInteger(minimum=1, maximum=1000, load_default=100)
    topic = fields.String(**doc("only this topic", required=False))


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
    data = fields.Raw(**doc("the event's data, as on Kafka", required=False))


class EventFeedPage(Schema):
    items = fields.List(fields.Nested(FeedEvent))
    next_cursor = fields.Integer(**doc("pass as ?after= for the next page", required=False))
