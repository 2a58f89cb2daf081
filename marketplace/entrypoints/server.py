"""Serving the app: gunicorn in production, Werkzeug where gunicorn cannot run."""
from __future__ import annotations

from typing import Any

from marketplace.app import create_app

#: gunicorn's request limits (its defaults, stated so they are visible and tested): past
#: them it answers 414 or 431 itself, as problem+json through ``ProblemJsonWorker``.
LIMIT_REQUEST_LINE = 4094
LIMIT_REQUEST_FIELDS = 100
LIMIT_REQUEST_FIELD_SIZE = 8190
#: The gthread worker (``threads`` > 1) with gunicorn's HTML error pages made problem+json.
WORKER_CLASS = "marketplace.entrypoints.gunicorn_errors.ProblemJsonWorker"


def gunicorn_options(host: str, port: int, workers: int) -> dict[str, Any]:
    """The gunicorn settings of ``marketplace serve``, apart so they can be read and tested."""
    return {"bind": f"{host}:{port}", "workers": workers, "threads": 4,
            "worker_class": WORKER_CLASS, "accesslog": "-", "timeout": 30,
            "limit_request_line": LIMIT_REQUEST_LINE,
            "limit_request_fields": LIMIT_REQUEST_FIELDS,
            "limit_request_field_size": LIMIT_REQUEST_FIELD_SIZE,
            # Unused, and one per user: two servers (tests, dev beside another) would share it.
            "control_socket_disable": True}


def serve(host: str, port: int, workers: int = 2) -> None:
    try:
        from gunicorn.app.base import BaseApplication
    except ImportError:  # e.g. Windows
        create_app().run(host=host, port=port)
        return

    class _Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in gunicorn_options(host, port, workers).items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return create_app()

    _Gunicorn().run()
