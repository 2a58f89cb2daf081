"""gunicorn's own error answers as RFC 9457 problem+json instead of its HTML page.

Errors gunicorn raises before Flask sees the request (a request line or header fields past
the limits, a malformed request) are answered by ``Worker.handle_error``, which writes an
HTML page through ``gunicorn.util.write_error``. The path may be unknown (a request line
too long is never parsed), so every such answer is problem+json, whatever the path.
"""
from __future__ import annotations

import json
import socket
from typing import Any

from gunicorn import util
from gunicorn.http.errors import LimitRequestHeaders, LimitRequestLine
from gunicorn.workers.gthread import ThreadWorker

PROBLEM_JSON = "application/problem+json"
#: Longest ``detail`` taken from gunicorn's message, which may quote the hostile input.
MAX_DETAIL = 200
INTERNAL_DETAIL = "Something went wrong on our side; it has been logged."


class _Captured:
    """Stands in for the client socket so gunicorn's HTML answer is kept, never sent.

    gunicorn's ``handle_error`` decides the status and reason and logs the warning and the
    access line; only its page is replaced. Anything but writing goes to the real socket.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.data = b""

    def gettimeout(self) -> float:
        return 0.0  # util.write_nonblock then writes without touching the blocking mode

    def sendall(self, data: bytes) -> None:
        self.data += data

    def send(self, data: bytes) -> int:
        self.data += data
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def status_line(written: bytes) -> tuple[int, str]:
    """The status and reason of the answer gunicorn wrote (500 if it wrote none)."""
    first = written.split(b"\r\n", 1)[0].decode("latin-1")
    parts = first.split(" ", 2)
    if len(parts) == 3 and parts[0].startswith("HTTP/") and parts[1].isdigit():
        return int(parts[1]), parts[2]
    return 500, "Internal Server Error"


def problem_bytes(status: int, reason: str, detail: str) -> bytes:
    """A complete HTTP/1.1 answer closing the connection, like gunicorn's own."""
    body = json.dumps({"type": "about:blank", "title": reason, "status": status,
                       "detail": detail}).encode("ascii")
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
            f"Content-Type: {PROBLEM_JSON}\r\nContent-Length: {len(body)}\r\n"
            "Cache-Control: no-store\r\n\r\n")
    return head.encode("latin-1") + body


class ProblemJsonWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's gthread worker answering its own errors as problem+json."""

    def handle_error(self, req: Any, client: socket.socket, addr: Any,
                     exc: BaseException) -> None:
        captured = _Captured(client)
        super().handle_error(req, captured, addr, exc)
        status, reason = status_line(captured.data)
        try:
            util.write_nonblock(client, problem_bytes(status, reason,
                                                      self.detail(status, reason, exc)))
        except Exception:  # the client is gone: nothing to answer, as in gunicorn
            self.log.debug("Failed to send error message.")

    def detail(self, status: int, reason: str, exc: BaseException) -> str:
        """A short explanation, stating the limit the request went past."""
        if status == 500:
            return INTERNAL_DETAIL
        if isinstance(exc, LimitRequestLine):
            return f"The request line is longer than {self.cfg.limit_request_line} bytes."
        if isinstance(exc, LimitRequestHeaders):
            return (f"At most {self.cfg.limit_request_fields} header fields of at most "
                    f"{self.cfg.limit_request_field_size} bytes each are accepted.")
        message = str(exc) or reason
        return message if len(message) <= MAX_DETAIL else message[:MAX_DETAIL - 3] + "..."
