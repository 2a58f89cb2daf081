"""``MAX_CONTENT_LENGTH`` for bodies sent without a length (``Transfer-Encoding: chunked``).

Werkzeug refuses a declared ``Content-Length`` over the limit with 413, but silently cuts
a chunked body off at the limit, so a 3 MiB upload would be stored as its first 1 MiB.
This middleware reads such a body up to one byte past the limit first: over it, the
answer is 413 (problem+json under the API); within it, the body is handed on with its
length known, as if the client had sent ``Content-Length``.
"""
from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.exceptions import RequestEntityTooLarge

from marketplace.http.problems import problem_response

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_CHUNK = 64 * 1024


class BodyLimit:
    def __init__(self, app: WsgiApp, max_bytes: int, api_prefix: str) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.api_prefix = api_prefix

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        if environ.get("CONTENT_LENGTH") or not _has_body(environ):
            return self.app(environ, start_response)
        body = self._read(environ["wsgi.input"])
        if body is None:
            return self._too_large(environ)(environ, start_response)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ["wsgi.input_terminated"] = False
        return self.app(environ, start_response)

    def _read(self, stream: Any) -> bytes | None:
        """The whole body, or ``None`` once it passes the limit (the rest is not read)."""
        parts, size = [], 0
        while size <= self.max_bytes:
            chunk = stream.read(min(_CHUNK, self.max_bytes + 1 - size))
            if not chunk:
                return b"".join(parts)
            parts.append(chunk)
            size += len(chunk)
        return None

    def _too_large(self, environ: dict[str, Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        exc = RequestEntityTooLarge()
        if path == self.api_prefix or path.startswith(self.api_prefix + "/"):
            return problem_response(413, exc.name, f"The body is larger than "
                                    f"{self.max_bytes} bytes.", {"Connection": "close"})
        return exc


def _has_body(environ: dict[str, Any]) -> bool:
    """A body of unknown length: chunked, or a server that marks its input terminated."""
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    return chunked or bool(environ.get("wsgi.input_terminated"))
