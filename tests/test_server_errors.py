"""gunicorn's own answers (request line or headers past its limits, a malformed request)
are problem+json, never its HTML page: ``marketplace serve`` run for real, hit with raw bytes.

Flask never sees these requests, so only a real server in front of the app can show it.
"""
from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from marketplace.entrypoints.cli import main
from marketplace.entrypoints.server import (
    LIMIT_REQUEST_FIELD_SIZE,
    LIMIT_REQUEST_FIELDS,
    LIMIT_REQUEST_LINE,
    WORKER_CLASS,
    gunicorn_options,
)

PROBLEM = "application/problem+json"
START_TIMEOUT = 30.0
IO_TIMEOUT = 10.0


@dataclass(frozen=True)
class Server:
    port: int
    token: str


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def _admin_token(database_url: str) -> str:
    result = CliRunner().invoke(main, ["token", "create", "--role", "admin", "--name", "ops"],
                                env={"DATABASE_URL": database_url, "SECRET_KEY": "x"})
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Server]:
    """``marketplace serve --workers 1`` on a free port, stopped (and checked) afterwards."""
    home = tmp_path_factory.mktemp("serve")
    shutil.copy(sqlite_template, home / "marketplace.db")
    database_url = f"sqlite:///{home / 'marketplace.db'}"
    token = _admin_token(database_url)
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "test-secret",
           "MARKETPLACE_INSTANCE": str(home),
           "XDG_RUNTIME_DIR": str(home)}  # gunicorn's control socket: this server's own
    log = (home / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "marketplace.entrypoints.cli", "serve",
                             "--port", str(port), "--workers", "1"],
                            cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _healthy(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("marketplace serve did not come up:\n"
                            + (home / "server.log").read_text(errors="replace"))
            time.sleep(0.2)
        yield Server(port, token)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()
    assert proc.returncode is not None
    assert _refuses(port), "a worker outlived the server"


def _send(port: int, raw: bytes) -> Answer:
    """Send ``raw`` as is and read the answer until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as sock:
        sock.sendall(raw)
        data = b""
        deadline = time.monotonic() + IO_TIMEOUT
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:  # closed with our excess bytes unread
                break
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(status, headers, body)


def _request(target: str, headers: Sequence[tuple[str, str]] = ()) -> bytes:
    lines = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close",
             *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


HOSTILE = {
    "request line too long": (_request("/api/v1/organisations/" + "a" * 10_000), 414),
    "header value too large": (_request("/api/v1/organisations", [("X-Big", "b" * 10_000)]),
                               431),
    "too many headers": (_request("/api/v1/organisations",
                                  [(f"X-H{i}", "v") for i in range(150)]), 431),
    "request line not three parts": (b"GARBAGE\r\n\r\n", 400),
    "invalid method": (b"G(T /api/v1/organisations HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "invalid HTTP version": (b"GET /api/v1/organisations HTTP/9\r\nHost: x\r\n\r\n", 400),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_gunicorn_errors_are_problem_json(server: Server, name: str) -> None:
    raw, status = HOSTILE[name]
    answer = _send(server.port, raw)
    assert answer.status == status
    assert answer.headers["content-type"] == PROBLEM
    assert int(answer.headers["content-length"]) == len(answer.body)
    assert b"<html" not in answer.body.lower()
    problem = answer.json()
    assert problem["type"] == "about:blank" and problem["status"] == status
    assert problem["title"] and problem["detail"]
    assert len(problem["detail"]) <= 200  # never the hostile input echoed whole


def test_details_state_the_configured_limits(server: Server) -> None:
    line = _send(server.port, HOSTILE["request line too long"][0]).json()
    assert line["title"] == "URI Too Long" and str(LIMIT_REQUEST_LINE) in line["detail"]
    fields = _send(server.port, HOSTILE["too many headers"][0]).json()
    assert fields["title"] == "Request Header Fields Too Large"
    assert str(LIMIT_REQUEST_FIELDS) in fields["detail"]
    assert str(LIMIT_REQUEST_FIELD_SIZE) in fields["detail"]


def test_within_the_limits_the_app_answers(server: Server) -> None:
    auth = [("Authorization", f"Bearer {server.token}")]
    ok = _send(server.port, _request("/api/v1/organisations", auth))
    assert ok.status == 200 and ok.headers["content-type"].startswith("application/json")
    assert "items" in ok.json()
    # A path just inside the request-line limit reaches Flask: its own 404 problem.
    long_path = "/api/v1/organisations/" + "a" * (LIMIT_REQUEST_LINE - 100)
    missing = _send(server.port, _request(long_path, auth))
    assert missing.status == 404 and missing.headers["content-type"] == PROBLEM
    big_header = _send(server.port, _request(
        "/api/v1/organisations", [*auth, ("X-Big", "b" * (LIMIT_REQUEST_FIELD_SIZE - 100))]))
    assert big_header.status == 200


def test_serve_names_the_worker_and_the_limits() -> None:
    options = gunicorn_options("127.0.0.1", 5000, 2)
    assert options["worker_class"] == WORKER_CLASS and options["threads"] == 4
    assert (options["limit_request_line"], options["limit_request_fields"],
            options["limit_request_field_size"]) == (4094, 100, 8190)
