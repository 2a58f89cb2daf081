"""``/healthz`` (the process answers) and ``/readyz`` (its dependencies answer)."""
from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response
from sqlalchemy import text

from events.relay import outbox_status
from marketplace.bootstrap import Marketplace
from marketplace.http.wiring import marketplace_of
from marketplace.kernel.outbox import outbox_tables
from marketplace.orders import payments

bp = Blueprint("health", __name__)

# Events waiting longer than this mean the relay or the broker is down.
STUCK_AFTER_SECONDS = 300

ReadinessCheck = Callable[[Marketplace], dict[str, Any]]


def database_check(marketplace: Marketplace) -> dict[str, Any]:
    with marketplace.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return {"ok": True, "dialect": marketplace.engine.dialect.name}


def outbox_check(marketplace: Marketplace) -> dict[str, Any]:
    """The relay's backlog: informative, and not ready when events are stuck for long."""
    status = outbox_status(marketplace.engine, outbox_tables, marketplace.clock())
    age = status.oldest_pending_age_seconds
    return {"ok": age is None or age < STUCK_AFTER_SECONDS, **status.as_dict()}


def broker_check(marketplace: Marketplace) -> dict[str, Any]:
    """Ready when at least one bootstrap server accepts a TCP connection."""
    bootstrap_servers = marketplace.settings.kafka_bootstrap_servers or ""
    errors = []
    for server in bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=1.0):
                return {"ok": True, "bootstrap_servers": bootstrap_servers}
        except OSError as exc:
            errors.append(f"{server}: {exc}")
    return {"ok": False, "bootstrap_servers": bootstrap_servers, "errors": errors}


def no_broker(marketplace: Marketplace) -> dict[str, Any]:
    """``marketplace serve`` alone: the API answers, but no event reaches a trust until a
    relay publishes to a broker. Said, so that "ready" is not read as "events flow"."""
    return {"ok": True, "configured": False,
            "detail": "KAFKA_BOOTSTRAP_SERVERS is not set: events wait in the outbox until "
                      "a relay publishes them (marketplace dev starts a broker and a relay)."}


def payments_check(marketplace: Marketplace) -> dict[str, Any]:
    """Whether Stripe is configured: without it the payment endpoints answer 503 and
    everything else works, so the service is ready either way (Stripe is not called)."""
    reason = payments.disabled_reason(marketplace.settings)
    if reason is not None:
        return {"ok": True, "enabled": False, "detail": reason}
    return {"ok": True, "enabled": True}


def readiness_checks(marketplace: Marketplace) -> dict[str, ReadinessCheck]:
    """What ``/readyz`` asks: the database, the outbox, the broker (or that none is set)
    and whether payments are enabled."""
    broker = broker_check if marketplace.settings.kafka_bootstrap_servers else no_broker
    return {"database": database_check, "outbox": outbox_check, "broker": broker,
            "payments": payments_check}


@bp.get("/healthz")
def healthz() -> Response:
    return Response(json.dumps({"status": "ok"}), mimetype="application/json")


@bp.get("/readyz")
def readyz() -> Response:
    marketplace = marketplace_of()
    results: dict[str, Any] = {}
    for name, check in readiness_checks(marketplace).items():
        try:
            results[name] = check(marketplace)
        except Exception as exc:
            results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    ready = all(r.get("ok") for r in results.values())
    status = "ready" if ready else "not ready"
    if ready and results["broker"].get("configured") is False:
        status = "ready (no broker configured)"
    body = {"status": status, "checks": results}
    return Response(json.dumps(body, default=str), status=200 if ready else 503,
                    mimetype="application/json")
