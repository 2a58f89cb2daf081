"""Serving the app: gunicorn in production, Werkzeug where gunicorn cannot run."""
from __future__ import annotations

from typing import Any

from marketplace.app import create_app


def serve(host: str, port: int, workers: int = 2) -> None:
    try:
        from gunicorn.app.base import BaseApplication
    except ImportError:  # e.g. Windows
        create_app().run(host=host, port=port)
        return

    class _Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options: dict[str, Any] = {"bind": f"{host}:{port}", "workers": workers,
                                       "threads": 4, "accesslog": "-", "timeout": 30}
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return create_app()

    _Gunicorn().run()
