"""``Idempotency-Key`` on creating POSTs.

The record is written in the same transaction as the change it answers for, so a
crash can never leave a change without its record (which would let a retry
repeat it) or a record without its change. A unique constraint settles two
concurrent requests with one key: the loser rolls back and replays the winner.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Response, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from marketplace.http.idempotency_record import IdempotencyRecord
from marketplace.http.problems import Problem

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
REPLAYED_HEADERS = ("Location", "ETag", "Content-Type")


def request_key() -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise Problem(400, "Bad Request", f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters.")
    return key


def request_fingerprint(body: Any) -> str:
    canonical = json.dumps([request.method, request.path, body], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def find(session: Session, principal_id: str, key: str) -> IdempotencyRecord | None:
    return session.scalar(select(IdempotencyRecord).where(
        IdempotencyRecord.principal_id == principal_id, IdempotencyRecord.key == key))


def replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    """The stored response again, or 422 when the key is reused for another request."""
    if record.request_hash != fingerprint:
        raise Problem(422, "Idempotency key reused",
                      f"This {HEADER} was used for a different request; use a new key.",
                      errors={HEADER: ["already used with a different request body or path"]})
    response = Response(json.dumps(record.response_body), status=record.status_code)
    for name, value in record.response_headers.items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response


def record(session: Session, principal_id: str, key: str, fingerprint: str,
           response: Response) -> None:
    session.add(IdempotencyRecord(
        principal_id=principal_id, key=key, method=request.method, path=request.path,
        request_hash=fingerprint, status_code=response.status_code,
        response_body=response.get_json(),
        response_headers={h: v for h in REPLAYED_HEADERS if (v := response.headers.get(h))},
    ))
