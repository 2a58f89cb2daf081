"""``trust-adapter status`` and the signed webhook to the trust's own system."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from adapters import register, route
from adapters.cli import main
from adapters.webhook import SIGNATURE_HEADER
from tests.adapter_support import TRUST_A, Stream, apply_all, direct_adapter


def test_status_reports_route_version_counts_offsets_and_hashes(tmp_path: Path) -> None:
    adapter = direct_adapter(tmp_path)
    stream = Stream().reference_data().purchase_to_pay(TRUST_A)
    apply_all(adapter, stream)
    with adapter.engine.connect() as conn:
        shared, everything = register.hashes(conn)
    adapter.engine.dispose()
    result = CliRunner().invoke(main, ["status", "--out", str(tmp_path / TRUST_A)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["route_version"] == route.ROUTE_VERSION
    assert report["trust"] == TRUST_A and report["consumer_group"] == f"trust.{TRUST_A}"
    assert report["events_applied"] == len(stream.events)
    assert report["applied_by_type"]["uk.nhs.marketplace.order.placed.v1"] == 1
    assert report["last_offsets"] == {"marketplace.approvals:0": 0,
                                      "marketplace.frameworks:0": 2,
                                      "marketplace.tenders:0": 3,
                                      "marketplace.funding:0": 4,
                                      "marketplace.orders:0": 7}
    assert (report["state_hash"], report["register_hash"]) == (shared, everything)
    assert report["records"]["purchase_order"] == 1


def test_status_and_run_refuse_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["status", "--out", str(tmp_path)]).exit_code != 0
    bad = runner.invoke(main, ["run", "--trust", "QOP", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "trust ODS" in bad.output
    unset = runner.invoke(main, ["run", "--trust", TRUST_A, "--out", str(tmp_path)],
                          env={"KAFKA_BOOTSTRAP_SERVERS": ""})
    assert unset.exit_code == 1 and "KAFKA_BOOTSTRAP_SERVERS" in unset.output


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []
    failures_left = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if _Receiver.failures_left > 0:
            _Receiver.failures_left -= 1
            self.send_response(503)
        else:
            _Receiver.received.append((dict(self.headers), body))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.received, _Receiver.failures_left = [], 2
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/finance/events"
    server.shutdown()
    thread.join()


def test_webhook_is_signed_idempotent_and_retried(tmp_path: Path, receiver: str) -> None:
    adapter = direct_adapter(tmp_path, webhook_url=receiver, webhook_secret="s3cret")
    adapter.webhook.backoff = 0.01  # type: ignore[union-attr]
    stream = Stream().reference_data().purchase_to_pay(TRUST_A)
    apply_all(adapter, stream)
    assert adapter.webhook.deliver_pending() == len(stream.events)  # type: ignore[union-attr]
    assert adapter.webhook.deliver_pending() == 0  # type: ignore[union-attr]
    ids = [env.id for env, _ in stream.events]
    assert [h["Idempotency-Key"] for h, _ in _Receiver.received] == ids
    for headers, body in _Receiver.received:
        expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        assert headers[SIGNATURE_HEADER] == f"sha256={expected}"
        assert json.loads(body)["trust"] == TRUST_A
    order = json.loads(_Receiver.received[5][1])
    assert order["outcome"] == "purchase order raised"
    assert order["documents"] == ["peppol/orders/ord-R0A-0.xml"]
