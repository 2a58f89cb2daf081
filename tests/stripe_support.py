"""Real localstripe for tests, plus a live WSGI server so it can deliver webhooks to us.

Use from any test module (or conftest) by importing the fixtures::

    from tests.stripe_support import localstripe_url, stripe_gateway  # noqa: F401

localstripe quirks these helpers account for (localstripe 1.15.10):

* it always pickles its state to the fixed path ``/tmp/localstripe.pickle`` (TMPDIR is not
  consulted) and reloads it on start; so we start it with ``--from-scratch`` and point the
  pickle into the session's own directory, or parallel sessions would share state;
* ``pm_card_visa_chargeDeclined`` is *accepted* for charges (its card number is only on the
  attach-decline list); ``pm_card_chargeCustomerFail`` is the card it declines, with code
  ``card_declined`` (real Stripe declines that one too);
* webhooks are delivered about one second after the event, asynchronously, as JSON signed
  ``Stripe-Signature: t=<event.created>,v1=<hmac>``; registrations are process-global and
  survive ``DELETE /_config/data``, hence :func:`webhook_to`, which switches its one off.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from marketplace.payments.gateway import StripeGateway
from tests.live_server import LiveServer, serve_wsgi  # noqa: F401  (used by the payment tests)

TEST_API_KEY = "sk_test_marketplace"
TEST_WEBHOOK_SECRET = "whsec_marketplace_test"
#: A card localstripe and Stripe both charge successfully.
CARD_SUCCEEDS = "pm_card_visa"
#: A card localstripe and Stripe both decline at charge time (``card_declined``).
CARD_DECLINED = "pm_card_chargeCustomerFail"
PAYMENT_INTENT_EVENTS = ["payment_intent.succeeded", "payment_intent.payment_failed"]

# localstripe, but with its pickle in $LOCALSTRIPE_STATE_DIR rather than the shared /tmp.
_BOOTSTRAP = """
import os, pickle, sys
from localstripe import resources, server
path = os.path.join(os.environ["LOCALSTRIPE_STATE_DIR"], "localstripe.pickle")
def dump_to_disk(self):
    with open(path, "wb") as f:
        pickle.dump(self, f, protocol=pickle.HIGHEST_PROTOCOL)
resources.Store.dump_to_disk = dump_to_disk
resources.Store.try_load_from_disk = lambda self: None
sys.argv = ["localstripe", "--port", sys.argv[1], "--from-scratch"]
server.start()
"""


def free_port() -> int:
    """A port nothing listens on right now (it may be taken later: callers retry)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _request(
    method: str, url: str, body: dict[str, Any] | None = None, *, timeout: float = 5.0
) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {TEST_API_KEY}",
        "Content-Type": "application/json",
    })
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def localstripe_get(localstripe_url: str, path: str) -> dict[str, Any]:
    """GET a localstripe API path (e.g. ``/v1/customers?limit=100``) as JSON."""
    status, body = _request("GET", localstripe_url + path)
    assert status == 200, (status, body)
    return json.loads(body)


def _start_localstripe(state_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start localstripe on a free port and wait until it answers; retry if the port was taken."""
    last_error = "not started"
    for attempt in range(3):
        port = free_port()
        log = (state_dir / f"localstripe-{attempt}.log").open("wb")
        env = {**os.environ, "TMPDIR": str(state_dir), "LOCALSTRIPE_STATE_DIR": str(state_dir)}
        process = subprocess.Popen(
            [sys.executable, "-c", _BOOTSTRAP, str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=state_dir,
        )
        log.close()
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and process.poll() is None:
            try:
                status, _ = _request("GET", url + "/v1/customers?limit=1", timeout=1)
                if status == 200:
                    return process, url
            except OSError as exc:
                last_error = str(exc)
            time.sleep(0.05)
        _stop(process)
        last_error = (state_dir / f"localstripe-{attempt}.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"localstripe did not start: {last_error}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="session")
def localstripe_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a localstripe of this session's own, stopped at the end."""
    process, url = _start_localstripe(tmp_path_factory.mktemp("localstripe"))
    try:
        yield url
    finally:
        _stop(process)


def flush_localstripe(localstripe_url: str) -> None:
    """Empty localstripe's store (``DELETE /_config/data``); webhook registrations stay."""
    status, body = _request("DELETE", localstripe_url + "/_config/data")
    assert status == 200, (status, body)


@pytest.fixture
def fresh_localstripe(localstripe_url: str) -> str:
    """The session's localstripe, emptied first: for tests that count everything in it."""
    flush_localstripe(localstripe_url)
    return localstripe_url


@pytest.fixture
def stripe_gateway(localstripe_url: str) -> Iterator[StripeGateway]:
    """A gateway on the session's localstripe, with the test webhook secret."""
    gateway = StripeGateway(TEST_API_KEY, localstripe_url, TEST_WEBHOOK_SECRET)
    try:
        yield gateway
    finally:
        gateway.close()


def configure_webhook(
    localstripe_url: str,
    url: str,
    secret: str,
    events: list[str] | None = None,
    *,
    name: str = "marketplace",
) -> None:
    """Have localstripe POST events (all, or just ``events``) to ``url``, signed with ``secret``.

    A registration with the same ``name`` is replaced; ``events=[]`` switches it off.
    """
    body: dict[str, Any] = {"url": url, "secret": secret}
    if events is not None:
        body["events"] = list(events)
    status, response = _request("POST", f"{localstripe_url}/_config/webhooks/{name}", body)
    assert status == 200, (status, response)


@contextmanager
def webhook_to(
    localstripe_url: str,
    url: str,
    secret: str,
    events: list[str] | None = None,
    *,
    name: str = "marketplace",
) -> Iterator[None]:
    """``configure_webhook`` for the duration of a block, then switched off again."""
    configure_webhook(localstripe_url, url, secret, events, name=name)
    try:
        yield
    finally:
        configure_webhook(localstripe_url, url, secret, [], name=name)


@dataclass(frozen=True)
class Delivery:
    """One HTTP request as received: the raw body and the headers (lower-cased names)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


class WebhookReceiver:
    """A tiny WSGI app that records every request and answers ``status`` (200)."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.deliveries: list[Delivery] = []
        self._changed = threading.Condition()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items() if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        with self._changed:
            self.deliveries.append(
                Delivery(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), headers, body)
            )
            self._changed.notify_all()
        start_response(f"{self.status} X", [("Content-Type", "text/plain")])
        return [b"ok"]

    def wait_for(
        self, predicate: Callable[[Delivery], bool], count: int = 1, timeout: float = 10.0
    ) -> list[Delivery]:
        """The first ``count`` deliveries matching ``predicate``; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [d for d in self.deliveries if predicate(d)]
                if len(found) >= count:
                    return found[:count]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"{len(found)}/{count} matching deliveries after {timeout}s "
                        f"({len(self.deliveries)} received)"
                    )
                self._changed.wait(remaining)


def event_for(intent_ids: Iterable[str]) -> Callable[[Delivery], bool]:
    """A ``wait_for`` predicate: deliveries whose event's object is one of these intents."""
    wanted = set(intent_ids)

    def matches(delivery: Delivery) -> bool:
        try:
            return delivery.json()["data"]["object"]["id"] in wanted
        except (ValueError, KeyError, TypeError):
            return False

    return matches


def stripe_signature(body: bytes, secret: str, timestamp: int) -> str:
    """A ``Stripe-Signature`` header computed by hand: ``t=..,v1=HMAC_SHA256(secret, "t.body")``."""
    signed = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
