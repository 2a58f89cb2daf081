"""``/api/v1/events``: the published event log as a feed."""
from __future__ import annotations

from typing import Any

from marketplace.event_feed import service as event_feed
from marketplace.http.endpoint import ApiBlueprint, Call
from schemas.api.events import EventFeedPage, EventFeedQuery

bp = ApiBlueprint("events", __name__)


@bp.endpoint("GET", "/events", roles=("trust_system", "admin"), query=EventFeedQuery,
             response=EventFeedPage, summary="Published events after a cursor, in publish order")
def list_events(call: Call) -> Any:
    return event_feed.page(call.uow, call.query["after"], call.query["limit"],
                           call.query.get("topic"))
