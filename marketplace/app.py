"""The application factory."""
from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Flask

from marketplace.config import Settings
from marketplace.db import make_engine, make_session_factory, utcnow
from marketplace.http.problems import register_error_handlers

API_PREFIX = "/api/v1"


def broker_check(bootstrap_servers: str) -> Callable[[], dict[str, Any]]:
    """Ready when at least one bootstrap server accepts a TCP connection."""

    def check() -> dict[str, Any]:
        errors = []
        for server in bootstrap_servers.split(","):
            host, _, port = server.strip().rpartition(":")
            try:
                with socket.create_connection((host, int(port)), timeout=1.0):
                    return {"ok": True, "bootstrap_servers": bootstrap_servers}
            except OSError as exc:
                errors.append(f"{server}: {exc}")
        return {"ok": False, "bootstrap_servers": bootstrap_servers, "errors": errors}

    return check


def create_app(settings: Settings | None = None, *,
               clock: Callable[[], datetime] = utcnow) -> Flask:
    from marketplace.api import (
        approvals,
        audit,
        conformance,
        events,
        health,
        innovations,
        openapi,
        organisations,
    )

    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config.update(SECRET_KEY=settings.secret_key,
                      MAX_CONTENT_LENGTH=settings.max_content_length,
                      JSON_SORT_KEYS=False)
    engine = make_engine(settings.database_url)
    app.extensions["settings"] = settings
    app.extensions["engine"] = engine
    app.extensions["session_factory"] = make_session_factory(engine)
    app.extensions["clock"] = clock
    app.extensions["readiness_checks"] = {"database": health.database_check,
                                          "outbox": health.outbox_check}
    if settings.kafka_bootstrap_servers:
        app.extensions["readiness_checks"]["broker"] = broker_check(
            settings.kafka_bootstrap_servers)

    register_error_handlers(app)
    app.register_blueprint(health.bp)
    for blueprint in (openapi.bp, organisations.bp, audit.bp, events.bp, innovations.bp,
                      approvals.bp, conformance.bp):
        app.register_blueprint(blueprint, url_prefix=API_PREFIX)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return app
