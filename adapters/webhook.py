"""A signed webhook to the trust's own system (``--webhook URL``), optional.

Each applied event that changed something at this trust is queued in the register
in the same transaction (so it is never lost nor queued twice) and POSTed after the
commit: JSON body, ``X-Trust-Adapter-Signature: sha256=<HMAC-SHA256 of the body with
$TRUST_WEBHOOK_SECRET>``, and the event id as ``Idempotency-Key``, so the receiver
can drop repeats. Failed deliveries are retried with exponential backoff; a delivery
that keeps failing stays queued and is tried again later, never blocking consumption.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import time
import urllib.request
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, insert, select, update

from adapters import route
from adapters.register import webhook_delivery

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Trust-Adapter-Signature"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def enqueue(conn: Connection, trust: str, event_id: str, event_type: str,
            effects: route.Effects) -> None:
    """Queue a notification of what the event changed (nothing if it changed nothing)."""
    if not effects.puts and not effects.journal and not effects.documents:
        return
    body = route.canonical({
        "trust": trust, "route_version": route.ROUTE_VERSION, "event_id": event_id,
        "event_type": event_type, "outcome": effects.outcome,
        "changed": [{"table": table, "key": record[route.key_column(table)],
                     "status": record.get("status") or record.get("match_status")}
                    for table, record in effects.puts],
        "journal_ids": sorted({line.journal_id for line in effects.journal}),
        "documents": [doc.path for doc in effects.documents]})
    conn.execute(insert(webhook_delivery).values(event_id=event_id, body=body, attempts=0,
                                                 delivered=False))


@dataclass
class WebhookSender:
    url: str
    secret: str
    engine: Engine
    max_attempts_per_round: int = 4
    backoff: float = 0.5
    timeout: float = 5.0
    _retry_at: float = field(default=0.0)

    def post(self, event_id: str, body: bytes) -> None:
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json", "Idempotency-Key": event_id,
            SIGNATURE_HEADER: sign(self.secret, body)})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            if response.status >= 300:
                raise OSError(f"webhook answered {response.status}")

    def deliver_pending(self, limit: int = 100) -> int:
        """Deliver queued notifications in order; stop at the first that keeps failing."""
        if time.monotonic() < self._retry_at:
            return 0
        with self.engine.connect() as conn:
            pending = conn.execute(select(webhook_delivery.c.id, webhook_delivery.c.event_id,
                                          webhook_delivery.c.body)
                                   .where(webhook_delivery.c.delivered.is_(False))
                                   .order_by(webhook_delivery.c.id).limit(limit)).all()
        delivered = 0
        for row_id, event_id, body in pending:
            error = self._try(event_id, body.encode())
            with self.engine.begin() as conn:
                values = ({"delivered": True, "last_error": None} if error is None else
                          {"last_error": error})
                conn.execute(update(webhook_delivery).where(webhook_delivery.c.id == row_id)
                             .values(attempts=webhook_delivery.c.attempts + 1, **values))
            if error is not None:
                self._retry_at = time.monotonic() + self.backoff * 8
                log.warning("webhook %s: %s (will retry)", self.url, error)
                break
            delivered += 1
        return delivered

    def _try(self, event_id: str, body: bytes) -> str | None:
        """Post with bounded retries and exponential backoff; the last error, or None."""
        error = None
        for attempt in range(self.max_attempts_per_round):
            try:
                self.post(event_id, body)
                return None
            except OSError as exc:
                error = str(exc)
                if attempt + 1 < self.max_attempts_per_round:
                    time.sleep(self.backoff * (2 ** attempt))
        return error
