"""Re-reading missing events from the marketplace's published-event feed.

``GET {register_url}/api/v1/events?after=CURSOR&limit=N&topic=T`` with a
``trust_system`` bearer token (``$MARKETPLACE_TOKEN``) returns published events in
publish order. When the adapter sees a gap in an aggregate's ``sequence`` it pages
through the feed for that topic until it has every missing event of that aggregate.
"""
from __future__ import annotations

import json
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from events.cloudevents import EventEnvelope
from events.consumer import ConsumedEvent
from schemas.events import registry


class FeedError(RuntimeError):
    """The feed could not supply the missing events (unreachable, or they are not there)."""


@dataclass
class FeedClient:
    register_url: str
    token: str | None
    page_size: int = 500
    timeout: float = 10.0

    def page(self, after: int, topic: str) -> dict[str, Any]:
        query = urllib.parse.urlencode({"after": after, "limit": self.page_size, "topic": topic})
        request = urllib.request.Request(
            f"{self.register_url.rstrip('/')}/api/v1/events?{query}",
            headers={"Accept": "application/json",
                     **({"Authorization": f"Bearer {self.token}"} if self.token else {})})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except (OSError, ValueError) as exc:
            raise FeedError(f"event feed at {self.register_url} failed: {exc}") from exc

    def missing(self, topic: str, stream: str, first: int, last: int) -> list[ConsumedEvent]:
        """Events of ``stream`` with sequence ``first`` to ``last`` inclusive, in order."""
        wanted = set(range(first, last + 1))
        found: dict[int, ConsumedEvent] = {}
        after = 0
        while wanted - set(found):
            page = self.page(after, topic)
            for item in page["items"]:
                event = as_consumed(item)
                if event.stream == stream and event.envelope.sequence in wanted:
                    found[event.envelope.sequence] = event
            if not page["items"] or page["next_cursor"] == after:
                break
            after = page["next_cursor"]
        if wanted - set(found):
            raise FeedError(f"the feed lacks {stream} sequence(s) "
                            f"{sorted(wanted - set(found))}")
        return [found[n] for n in sorted(found)]


def as_consumed(item: dict[str, Any]) -> ConsumedEvent:
    """A feed item as the consumer runtime's event (partition -1, offset = feed cursor)."""
    registry.get(item["type"])
    envelope = EventEnvelope(id=item["id"], source=item["source"], type=item["type"],
                             time=datetime.fromisoformat(item["time"]),
                             subject=item.get("subject"), sequence=int(item["sequence"]),
                             key=item["key"], data=json.dumps(item["data"]).encode())
    return ConsumedEvent(envelope=envelope, topic=item["topic"], partition=-1,
                         offset=int(item["cursor"]), data=item["data"])
