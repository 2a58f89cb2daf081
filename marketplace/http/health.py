"""``/healthz`` (the process answers) and ``/readyz`` (its dependencies answer)."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app
from sqlalchemy import text

from events.relay import outbox_status
from marketplace.models.events import outbox_tables

bp = Blueprint("health", __name__)

# Events waiting longer than this mean the relay or the broker is down.
STUCK_AFTER_SECONDS = 300

ReadinessCheck = Callable[[], dict[str, Any]]


def database_check() -> dict[str, Any]:
    engine = current_app.extensions["engine"]
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return {"ok": True, "dialect": engine.dialect.name}


def outbox_check() -> dict[str, Any]:
    """The relay's backlog: informative, and not ready when events are stuck for long."""
    status = outbox_status(current_app.extensions["engine"], outbox_tables,
                           current_app.extensions["clock"]())
    age = status.oldest_pending_age_seconds
    return {"ok": age is None or age < STUCK_AFTER_SECONDS, **status.as_dict()}


@bp.get("/healthz")
def healthz() -> Response:
    return Response(json.dumps({"status": "ok"}), mimetype="application/json")


@bp.get("/readyz")
def readyz() -> Response:
    checks: dict[str, ReadinessCheck] = current_app.extensions["readiness_checks"]
    results: dict[str, Any] = {}
    for name, check in checks.items():
        try:
            results[name] = check()
        except Exception as exc:
            results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    ready = all(r.get("ok") for r in results.values())
    body = {"status": "ready" if ready else "not ready", "checks": results}
    return Response(json.dumps(body, default=str), status=200 if ready else 503,
                    mimetype="application/json")
