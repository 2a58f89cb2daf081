"""Paying invoices through Stripe, against a real localstripe over HTTP (issue 16).

The marketplace is served over real HTTP so localstripe delivers its own webhooks to
``/api/v1/stripe/webhook``, signed with the real HMAC and verified on the raw body.
A succeeded and a declined payment end to end; a replayed or out-of-order webhook has no
further effect; a process killed (SIGKILL) between the Stripe call and its commit is
retried without a second charge; without Stripe's settings the payment endpoints answer
503 naming what to set.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from marketplace.kernel.settings import Settings
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.orders.models import Payment, StripeEvent
from marketplace.payments.gateway import StripeGateway
from tests.catalogue_support import outbox_events
from tests.orders_support import TRUST_A, OrderWorld, order_world_fixture  # noqa: F401
from tests.stripe_support import (
    CARD_DECLINED,
    CARD_SUCCEEDS,
    PAYMENT_INTENT_EVENTS,
    TEST_API_KEY,
    TEST_WEBHOOK_SECRET,
    configure_webhook,
    localstripe_url,  # noqa: F401
    serve_wsgi,
    stripe_signature,
)

PROBLEM_JSON = "application/problem+json"
TRUST = f"trust:{TRUST_A}"


@pytest.fixture
def settings(settings: Settings, localstripe_url: str) -> Settings:  # noqa: F811
    return settings.with_overrides(stripe_api_key=TEST_API_KEY,
                                   stripe_api_base=localstripe_url,
                                   stripe_webhook_secret=TEST_WEBHOOK_SECRET)


@pytest.fixture
def served(app: Flask, localstripe_url: str) -> Iterator[str]:  # noqa: F811
    """The app over HTTP, localstripe's webhooks pointed at it for this test only."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    with serve_wsgi(app) as base:
        configure_webhook(localstripe_url, f"{base}/api/v1/stripe/webhook",
                          TEST_WEBHOOK_SECRET, PAYMENT_INTENT_EVENTS, name=name)
        try:
            yield base
        finally:
            configure_webhook(localstripe_url, f"{base}/api/v1/stripe/webhook",
                              TEST_WEBHOOK_SECRET, [], name=name)


def _invoice(world: OrderWorld) -> dict[str, Any]:
    contract = world.signed()
    order = world.place(contract, number=f"PO-{uuid.uuid4().hex[:8]}")
    return world.invoice(order, f"INV-{uuid.uuid4().hex[:8]}")


def _pay(world: OrderWorld, invoice: dict[str, Any], method: str = CARD_SUCCEEDS,
         expect: int = 201, **headers: str) -> Any:
    return world.call("POST", f"/invoices/{invoice['id']}/payments", TRUST, expect,
                      json={"payment_method": method}, headers=headers).get_json()


def _stripe_events(world: OrderWorld, intent: str, timeout: float = 10.0
                   ) -> list[StripeEvent]:
    """The webhook deliveries about ``intent`` recorded, once one has arrived (localstripe
    sends them about a second after the charge; another test's may arrive too)."""
    deadline = time.monotonic() + timeout
    count = 1
    while True:
        with world.uow_factory() as uow:
            rows = list(uow.session.scalars(select(StripeEvent).where(
                StripeEvent.object_id == intent)))
            for row in rows:
                uow.session.expunge(row)
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def _charges(gateway: StripeGateway, world: OrderWorld, invoice_id: str) -> list[Any]:
    with world.uow_factory() as uow:
        from marketplace.orders.models import StripeCustomer
        [customer] = uow.session.scalars(select(StripeCustomer)).all()
        customer_id = customer.customer_id
    return [c for c in gateway.list_charges(customer_id) if c.invoice_id == invoice_id]


@pytest.fixture
def gateway(localstripe_url: str) -> StripeGateway:  # noqa: F811
    return StripeGateway(TEST_API_KEY, localstripe_url, TEST_WEBHOOK_SECRET)


def test_a_succeeded_payment_end_to_end(order_world: OrderWorld, served: str,
                                        gateway: StripeGateway) -> None:
    invoice = _invoice(order_world)
    payment = _pay(order_world, invoice)
    assert payment["status"] == "succeeded" and payment["amount_pence"] == \
        invoice["gross_pence"]
    assert payment["provider_reference"].startswith("pi_")
    paid = order_world.get_invoice(invoice["id"])
    assert (paid["status"], paid["paid_pence"]) == ("paid", invoice["gross_pence"])
    [event] = order_world.events("payment.received")
    assert event["record_key"] == invoice["order_id"]
    assert event["data"]["provider_reference"] == payment["provider_reference"]
    # localstripe's own webhook arrives, is verified, and changes nothing more.
    [delivery] = _stripe_events(order_world, payment["provider_reference"])
    assert delivery.type == "payment_intent.succeeded"
    assert delivery.outcome == "ignored: the payment had already succeeded"
    assert len(order_world.events("payment.")) == 1
    assert len(_charges(gateway, order_world, invoice["id"])) == 1
    # Paid is final: paying again is a conflict, no charge.
    _pay(order_world, invoice, expect=409)
    assert len(_charges(gateway, order_world, invoice["id"])) == 1


def test_a_declined_payment_end_to_end_then_paid_with_another_card(
        order_world: OrderWorld, served: str, gateway: StripeGateway) -> None:
    invoice = _invoice(order_world)
    failed = _pay(order_world, invoice, CARD_DECLINED)
    assert (failed["status"], failed["failure_code"]) == ("failed", "card_declined")
    [event] = order_world.events("payment.failed")
    assert event["data"]["failure_code"] == "card_declined"
    assert order_world.get_invoice(invoice["id"])["status"] == "issued"
    [delivery] = _stripe_events(order_world, failed["provider_reference"])
    assert (delivery.type, delivery.outcome) == ("payment_intent.payment_failed",
                                                 "ignored: the failure was already recorded")
    # A new attempt (a new charge, with its own key) after the failure.
    second = _pay(order_world, invoice)
    assert (second["attempt"], second["status"]) == (2, "succeeded")
    assert order_world.get_invoice(invoice["id"])["status"] == "paid"
    assert len(_charges(gateway, order_world, invoice["id"])) == 2


def _webhook(world: OrderWorld, event: dict[str, Any], *, secret: str = TEST_WEBHOOK_SECRET,
             at: int | None = None, expect: int = 200) -> Any:
    body = json.dumps(event).encode()
    header = stripe_signature(body, secret, at if at is not None else int(time.time()))
    response = world.client.post("/api/v1/stripe/webhook", data=body, headers={
        "Stripe-Signature": header, "Content-Type": "application/json"})
    assert response.status_code == expect, response.get_data(as_text=True)
    return response


def _intent_event(payment: dict[str, Any], kind: str, event_id: str | None = None
                  ) -> dict[str, Any]:
    intent: dict[str, Any] = {"id": payment["provider_reference"], "object": "payment_intent",
                              "metadata": {"payment_id": payment["id"]}}
    if kind.endswith("failed"):
        intent["last_payment_error"] = {"code": "card_declined", "message": "Declined."}
    return {"id": event_id or f"evt_{uuid.uuid4().hex}", "object": "event", "type": kind,
            "created": int(time.time()), "data": {"object": intent}}


def test_a_replayed_or_late_webhook_never_moves_a_paid_invoice(order_world: OrderWorld,
                                                               gateway: StripeGateway) -> None:
    invoice = _invoice(order_world)
    payment = _pay(order_world, invoice)
    received = len(order_world.events("payment."))
    # A failure reported after the success (out of order), twice over: no effect.
    late = _intent_event(payment, "payment_intent.payment_failed", "evt_late_failure")
    first = _webhook(order_world, late).get_json()
    assert first["outcome"] == "ignored: the payment had already succeeded"
    assert _webhook(order_world, late).get_json()["outcome"] == "ignored: already received"
    invoice_now = order_world.get_invoice(invoice["id"])
    assert (invoice_now["status"], invoice_now["paid_pence"]) == ("paid",
                                                                  invoice["gross_pence"])
    assert len(order_world.events("payment.")) == received


def test_unsigned_forged_and_stale_webhooks_are_refused(order_world: OrderWorld) -> None:
    invoice = _invoice(order_world)
    payment = _pay(order_world, invoice, CARD_DECLINED)
    event = _intent_event(payment, "payment_intent.succeeded")
    for response in (
        _webhook(order_world, event, secret="whsec_not_ours", expect=400),
        _webhook(order_world, event, at=int(time.time()) - 301, expect=400),
        order_world.client.post("/api/v1/stripe/webhook", data=json.dumps(event),
                                headers={"Content-Type": "application/json"}),
    ):
        assert response.status_code == 400 and response.mimetype == PROBLEM_JSON
        assert "signature" in response.get_json()["detail"]
    assert order_world.get_invoice(invoice["id"])["status"] == "issued"
    with order_world.uow_factory() as uow:
        assert uow.session.scalars(select(StripeEvent)).all() == []
    # The genuine one, signed now, is applied; replayed, it has no second effect.
    assert _webhook(order_world, event).get_json()["outcome"] == "payment succeeded"
    assert _webhook(order_world, event).get_json()["outcome"] == "ignored: already received"
    assert order_world.get_invoice(invoice["id"])["status"] == "paid"
    assert len(order_world.events("payment.received")) == 1


_KILLED_AFTER_CHARGE = """
import os, signal, sys
from marketplace.app import create_app
from marketplace.kernel.settings import Settings
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.payments.gateway import StripeGateway

real_charge = StripeGateway.charge

def charge_then_die(self, **kwargs):
    result = real_charge(self, **kwargs)
    print("charged", result.intent_id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # before the outcome is committed

StripeGateway.charge = charge_then_die
settings = Settings(database_url=os.environ["DATABASE_URL"], secret_key="test-secret",
                    stripe_api_key=os.environ["STRIPE_API_KEY"],
                    stripe_api_base=os.environ["STRIPE_API_BASE"],
                    stripe_webhook_secret=os.environ["STRIPE_WEBHOOK_SECRET"],
                    evidence_dir=os.environ["EVIDENCE_DIR"])
client = create_app(settings).test_client()
client.post(f"/api/v1/invoices/{sys.argv[1]}/payments", json={"payment_method": "pm_card_visa"},
            headers={"Authorization": f"Bearer {os.environ['TOKEN']}"})
print("survived", flush=True)
"""


def _pay_and_die(world: OrderWorld, settings: Settings, invoice: dict[str, Any],
                 tmp_path: Path) -> str:
    """Pay in another process that is killed (-9) after Stripe charged, before commit."""
    env = {**os.environ, "DATABASE_URL": settings.database_url,
           "STRIPE_API_KEY": TEST_API_KEY, "STRIPE_API_BASE": str(settings.stripe_api_base),
           "STRIPE_WEBHOOK_SECRET": TEST_WEBHOOK_SECRET, "EVIDENCE_DIR": str(tmp_path),
           "TOKEN": world.token(TRUST)}
    done = subprocess.run([sys.executable, "-c", _KILLED_AFTER_CHARGE, invoice["id"]],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == -9, done.stdout + done.stderr
    assert "charged pi_" in done.stdout and "survived" not in done.stdout
    return done.stdout.split()[1]


def _payments(world: OrderWorld) -> list[Payment]:
    with world.uow_factory() as uow:
        rows = list(uow.session.scalars(select(Payment).order_by(Payment.attempt)))
        for row in rows:
            uow.session.expunge(row)
    return rows


def test_a_crash_between_the_charge_and_the_commit_is_retried_without_a_second_charge(
        order_world: OrderWorld, settings: Settings, gateway: StripeGateway,
        tmp_path: Path) -> None:
    invoice = _invoice(order_world)
    intent = _pay_and_die(order_world, settings, invoice, tmp_path)
    [attempt] = _payments(order_world)
    assert (attempt.status, attempt.provider_reference) == ("initiated", None)
    assert order_world.events("payment.") == []
    # The retry resumes the attempt, finds its charge in Stripe and adopts it.
    payment = _pay(order_world, invoice)
    assert (payment["id"], payment["provider_reference"], payment["status"]) == (
        attempt.id, intent, "succeeded")
    assert len(_charges(gateway, order_world, invoice["id"])) == 1
    assert len(order_world.events("payment.received")) == 1
    assert order_world.get_invoice(invoice["id"])["status"] == "paid"


def test_after_a_crash_the_webhook_settles_the_attempt(order_world: OrderWorld,
                                                       settings: Settings, served: str,
                                                       gateway: StripeGateway,
                                                       tmp_path: Path) -> None:
    invoice = _invoice(order_world)
    intent = _pay_and_die(order_world, settings, invoice, tmp_path)
    [delivery] = _stripe_events(order_world, intent)
    assert (delivery.type, delivery.outcome) == ("payment_intent.succeeded",
                                                 "payment succeeded")
    [payment] = _payments(order_world)
    assert (payment.status, payment.provider_reference) == ("succeeded", intent)
    assert order_world.get_invoice(invoice["id"])["status"] == "paid"
    _pay(order_world, invoice, expect=409)
    assert len(_charges(gateway, order_world, invoice["id"])) == 1
    assert len(order_world.events("payment.received")) == 1


def test_the_demo_pays_its_invoice_when_stripe_is_configured(
        uow_factory: Callable[..., UnitOfWork], tmp_path: Path) -> None:
    from marketplace.demo import seed
    runs = []
    for _ in range(2):
        with uow_factory() as uow:
            runs.append([line for line in seed(uow, tmp_path) if line.startswith("payment")])
            uow.commit()
    assert runs == [["payment of invoice CNS-INV-2026-0031 (succeeded)"], []]
    [received] = outbox_events(uow_factory, "payment.received")
    assert received["data"]["trust_ods"] == "RAL"
