"""A WSGI app served over real HTTP in a background thread, for tests whose other party
is a real client (localstripe delivering webhooks, a browser driven by Playwright)."""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server


class LiveServer:
    """A WSGI app on 127.0.0.1 over real HTTP, in a background thread, so localstripe (or
    any client) can reach it; use as a context manager or start()/stop()."""

    def __init__(self, app: Callable[..., Any], host: str = "127.0.0.1") -> None:
        self.app = app
        self.host = host
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "server not started"
        return f"http://{self.host}:{self._server.server_port}"

    def start(self) -> LiveServer:
        self._server = make_server(self.host, 0, self.app, threaded=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name="live-wsgi", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> str:
        return self.start().base_url

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def serve_wsgi(app: Callable[..., Any]) -> Iterator[str]:
    """Serve ``app`` (e.g. a Flask app) for the block; yields its base URL."""
    with LiveServer(app) as base_url:
        yield base_url


