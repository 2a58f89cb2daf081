"""The Stripe gateway against a real localstripe over HTTP: customers, charges, recovery
after a crash, and webhooks delivered by localstripe itself and verified by HMAC."""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, abort, request

from marketplace.kernel.settings import Settings
from marketplace.payments.gateway import (
    BadSignature,
    ChargeResult,
    GatewayError,
    GatewayUnavailable,
    PaymentsDisabled,
    StripeGateway,
    missing_settings,
    verify_webhook,
)
from tests.stripe_support import (
    CARD_DECLINED,
    CARD_SUCCEEDS,
    PAYMENT_INTENT_EVENTS,
    TEST_API_KEY,
    TEST_WEBHOOK_SECRET,
    Delivery,
    WebhookReceiver,
    event_for,
    flush_localstripe,
    free_port,
    localstripe_get,
    localstripe_url,  # noqa: F401  (session fixture)
    serve_wsgi,
    stripe_gateway,  # noqa: F401  (fixture)
    stripe_signature,
    webhook_to,
)


def _ods() -> str:
    return "R" + uuid.uuid4().hex[:6].upper()


def _charge(gateway: StripeGateway, customer_id: str, card: str, payment_id: str) -> ChargeResult:
    return gateway.charge(
        customer_id=customer_id, amount_pence=12_345, currency="GBP", payment_method=card,
        payment_id=payment_id, invoice_id=f"inv-{payment_id}", description="Listing fee",
        idempotency_key=f"charge-{payment_id}-{uuid.uuid4()}",
    )


@pytest.fixture
def customer(stripe_gateway: StripeGateway) -> str:  # noqa: F811
    return stripe_gateway.create_customer(
        trust_ods=_ods(), name="Test NHS Trust", idempotency_key=str(uuid.uuid4())
    )


# -- settings ------------------------------------------------------------------------


def test_missing_settings_name_the_variables() -> None:
    assert missing_settings(None, None) == ["STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET"]
    assert missing_settings("sk_test_x", "  ") == ["STRIPE_WEBHOOK_SECRET"]
    assert missing_settings("sk_test_x", "whsec_x") == []
    with pytest.raises(PaymentsDisabled) as caught:
        StripeGateway.from_settings(Settings(database_url="sqlite://", secret_key="k"))
    assert caught.value.missing == ("STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET")
    assert "STRIPE_API_KEY" in str(caught.value)


# -- customers -----------------------------------------------------------------------


def test_customer_is_created_once_and_found_again(
    stripe_gateway: StripeGateway, localstripe_url: str  # noqa: F811
) -> None:
    ods = _ods()
    assert stripe_gateway.find_customer(ods) is None
    customer_id = stripe_gateway.create_customer(
        trust_ods=ods, name="Leeds Teaching Hospitals", idempotency_key="k-1"
    )
    assert customer_id.startswith("cus_")
    assert stripe_gateway.find_customer(ods) == customer_id
    assert stripe_gateway.find_customer(ods.lower()) == customer_id
    # A retry after a crash (new key, as localstripe ignores keys anyway) adopts it.
    again = stripe_gateway.create_customer(
        trust_ods=ods, name="Leeds Teaching Hospitals", idempotency_key="k-2"
    )
    assert again == customer_id
    everyone = localstripe_get(localstripe_url, "/v1/customers?limit=1000")["data"]
    mine = [c for c in everyone if c["metadata"].get("trust_ods") == ods]
    assert [c["id"] for c in mine] == [customer_id]
    assert mine[0]["name"] == "Leeds Teaching Hospitals"


def test_find_customer_and_find_charge_page_through_lists(
    stripe_gateway: StripeGateway,  # noqa: F811
) -> None:
    first = _ods()
    first_id = stripe_gateway.create_customer(trust_ods=first, name="A", idempotency_key="a")
    for _ in range(3):
        stripe_gateway.create_customer(trust_ods=_ods(), name="B", idempotency_key="b")
    paid = [_charge(stripe_gateway, first_id, CARD_SUCCEEDS, f"pay-page-{n}") for n in range(3)]
    narrow = StripeGateway(
        TEST_API_KEY, stripe_gateway.api_base, TEST_WEBHOOK_SECRET, page_size=2
    )
    try:
        assert narrow.find_customer(first) == first_id
        assert narrow.find_charge(customer_id=first_id, payment_id="pay-page-0") == paid[0]
        assert len(narrow.list_charges(first_id)) == 3
    finally:
        narrow.close()


# -- charges -------------------------------------------------------------------------


def test_charge_succeeds(stripe_gateway: StripeGateway, customer: str) -> None:  # noqa: F811
    result = _charge(stripe_gateway, customer, CARD_SUCCEEDS, "pay-ok")
    assert result.status == "succeeded"
    assert result.intent_id.startswith("pi_")
    assert (result.failure_code, result.failure_message) == (None, None)
    [stored] = stripe_gateway.list_charges(customer)
    assert stored.result == result
    assert (stored.payment_id, stored.invoice_id) == ("pay-ok", "inv-pay-ok")
    assert (stored.amount_pence, stored.currency) == (12_345, "gbp")


def test_decline_is_a_failed_result_with_the_code(
    stripe_gateway: StripeGateway, customer: str  # noqa: F811
) -> None:
    result = _charge(stripe_gateway, customer, CARD_DECLINED, "pay-declined")
    assert result.status == "failed"
    assert result.intent_id.startswith("pi_")
    assert result.failure_code == "card_declined"
    assert result.failure_message
    [stored] = stripe_gateway.list_charges(customer)
    assert stored.result == result


def test_localstripe_accepts_pm_card_visa_charge_declined(
    stripe_gateway: StripeGateway, customer: str  # noqa: F811
) -> None:
    """Pins a localstripe 1.15.10 quirk: use CARD_DECLINED for declines, not this card."""
    result = _charge(stripe_gateway, customer, "pm_card_visa_chargeDeclined", "pay-quirk")
    assert result.status == "succeeded"


def test_retry_adopts_the_existing_intent(stripe_gateway: StripeGateway, customer: str) -> None:  # noqa: F811
    first = _charge(stripe_gateway, customer, CARD_SUCCEEDS, "pay-retry")
    declined = _charge(stripe_gateway, customer, CARD_DECLINED, "pay-retry-declined")
    assert _charge(stripe_gateway, customer, CARD_SUCCEEDS, "pay-retry") == first
    assert _charge(stripe_gateway, customer, CARD_DECLINED, "pay-retry-declined") == declined
    ids = sorted(c.result.intent_id for c in stripe_gateway.list_charges(customer))
    assert ids == sorted([first.intent_id, declined.intent_id])


def test_find_charge_recovers_by_payment_id(stripe_gateway: StripeGateway, customer: str) -> None:  # noqa: F811
    ok = _charge(stripe_gateway, customer, CARD_SUCCEEDS, "pay-a")
    failed = _charge(stripe_gateway, customer, CARD_DECLINED, "pay-b")
    # A fresh process after a crash knows only our ids.
    recovering = StripeGateway(TEST_API_KEY, stripe_gateway.api_base, TEST_WEBHOOK_SECRET)
    try:
        assert recovering.find_charge(customer_id=customer, payment_id="pay-a") == ok
        assert recovering.find_charge(customer_id=customer, payment_id="pay-b") == failed
        assert recovering.find_charge(customer_id=customer, payment_id="pay-unknown") is None
        other = recovering.create_customer(trust_ods=_ods(), name="Other", idempotency_key="o")
        assert recovering.find_charge(customer_id=other, payment_id="pay-a") is None
    finally:
        recovering.close()


def test_refused_request_is_a_gateway_error_not_unavailable(
    stripe_gateway: StripeGateway,  # noqa: F811
) -> None:
    with pytest.raises(GatewayError) as caught:
        _charge(stripe_gateway, "cus_doesnotexist", CARD_SUCCEEDS, "pay-nobody")
    assert not isinstance(caught.value, GatewayUnavailable)


@pytest.mark.parametrize("amount", [0, -1, 12.5, True])
def test_amount_must_be_positive_integer_pence(
    stripe_gateway: StripeGateway, amount: object  # noqa: F811
) -> None:
    with pytest.raises(ValueError, match="amount_pence"):
        stripe_gateway.charge(
            customer_id="cus_x", amount_pence=amount, currency="gbp",  # type: ignore[arg-type]
            payment_method=CARD_SUCCEEDS, payment_id="p", invoice_id="i", description="d",
            idempotency_key="k",
        )


def test_unreachable_stripe_raises_gateway_unavailable_quickly() -> None:
    gateway = StripeGateway(TEST_API_KEY, f"http://127.0.0.1:{free_port()}", TEST_WEBHOOK_SECRET)
    try:
        started = time.monotonic()
        with pytest.raises(GatewayUnavailable):
            gateway.create_customer(trust_ods="RXX", name="X", idempotency_key="k")
        with pytest.raises(GatewayUnavailable):
            _charge(gateway, "cus_x", CARD_SUCCEEDS, "pay-down")
        assert time.monotonic() - started < 3
    finally:
        gateway.close()


# -- webhooks ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def deliveries(localstripe_url: str) -> Iterator[dict[str, Delivery]]:  # noqa: F811
    """One real delivery per outcome, sent by localstripe to a receiver over HTTP."""
    gateway = StripeGateway(TEST_API_KEY, localstripe_url, TEST_WEBHOOK_SECRET)
    receiver = WebhookReceiver()
    try:
        with serve_wsgi(receiver) as base_url, webhook_to(
            localstripe_url, f"{base_url}/stripe/webhook", TEST_WEBHOOK_SECRET,
            PAYMENT_INTENT_EVENTS, name="gateway-tests",
        ):
            customer_id = gateway.create_customer(
                trust_ods=_ods(), name="Webhook Trust", idempotency_key="w"
            )
            ok = _charge(gateway, customer_id, CARD_SUCCEEDS, "pay-hook-ok")
            failed = _charge(gateway, customer_id, CARD_DECLINED, "pay-hook-failed")
            got = receiver.wait_for(event_for([ok.intent_id, failed.intent_id]), count=2)
        by_intent = {d.json()["data"]["object"]["id"]: d for d in got}
        yield {"succeeded": by_intent[ok.intent_id], "failed": by_intent[failed.intent_id]}
    finally:
        gateway.close()


def test_localstripe_delivers_signed_events_that_verify(deliveries: dict[str, Delivery]) -> None:
    ok = deliveries["succeeded"]
    assert ok.method == "POST" and ok.path == "/stripe/webhook"
    assert ok.headers["stripe-signature"].startswith("t=")
    event = verify_webhook(ok.body, ok.headers["stripe-signature"], TEST_WEBHOOK_SECRET)
    assert event["type"] == "payment_intent.succeeded"
    assert event["id"].startswith("evt_")
    assert isinstance(event["created"], int)
    assert event["data"]["object"]["metadata"]["payment_id"] == "pay-hook-ok"
    assert event["data"]["object"]["amount"] == 12_345

    failed = deliveries["failed"]
    event = verify_webhook(failed.body, failed.headers["stripe-signature"], TEST_WEBHOOK_SECRET)
    assert event["type"] == "payment_intent.payment_failed"
    intent = event["data"]["object"]
    assert intent["metadata"] == {
        "payment_id": "pay-hook-failed", "invoice_id": "inv-pay-hook-failed",
        "description": "Listing fee",
    }
    assert intent["last_payment_error"]["code"] == "card_declined"


def test_tampered_body_is_refused(deliveries: dict[str, Delivery]) -> None:
    ok = deliveries["succeeded"]
    tampered = ok.body.replace(b'"amount": 12345', b'"amount": 1')
    assert tampered != ok.body
    with pytest.raises(BadSignature) as caught:
        verify_webhook(tampered, ok.headers["stripe-signature"], TEST_WEBHOOK_SECRET)
    assert caught.value.reason == "mismatch"
    # Re-serialised JSON is not the raw body either.
    reserialised = json.dumps(json.loads(ok.body)).encode()
    with pytest.raises(BadSignature):
        verify_webhook(reserialised, ok.headers["stripe-signature"], TEST_WEBHOOK_SECRET)


def test_wrong_secret_is_refused(deliveries: dict[str, Delivery]) -> None:
    ok = deliveries["failed"]
    with pytest.raises(BadSignature, match="does not match") as caught:
        verify_webhook(ok.body, ok.headers["stripe-signature"], "whsec_someone_else")
    assert caught.value.reason == "mismatch"


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing_header_is_refused(deliveries: dict[str, Delivery], header: str | None) -> None:
    with pytest.raises(BadSignature, match="missing Stripe-Signature") as caught:
        verify_webhook(deliveries["succeeded"].body, header, TEST_WEBHOOK_SECRET)
    assert caught.value.reason == "missing_header"


def test_malformed_header_is_refused(deliveries: dict[str, Delivery]) -> None:
    body = deliveries["succeeded"].body
    for header in ("garbage", "t=notanumber,v1=abc", f"t={int(time.time())}"):
        with pytest.raises(BadSignature) as caught:
            verify_webhook(body, header, TEST_WEBHOOK_SECRET)
        assert caught.value.reason == "malformed_header"


def test_stale_timestamp_is_refused_but_a_recent_one_passes(
    deliveries: dict[str, Delivery],
) -> None:
    body = deliveries["succeeded"].body
    now = int(time.time())
    recent = stripe_signature(body, TEST_WEBHOOK_SECRET, now - 200)
    assert verify_webhook(body, recent, TEST_WEBHOOK_SECRET)["type"] == "payment_intent.succeeded"
    stale = stripe_signature(body, TEST_WEBHOOK_SECRET, now - 301)
    with pytest.raises(BadSignature, match="stale") as caught:
        verify_webhook(body, stale, TEST_WEBHOOK_SECRET)
    assert caught.value.reason == "stale"
    assert verify_webhook(body, stale, TEST_WEBHOOK_SECRET, tolerance_seconds=600)


@pytest.mark.parametrize("body", [b"not json", b"\xff\xfe", b"[1, 2]", b'{"object": "event"}'])
def test_unparseable_body_is_refused_even_when_signed(body: bytes) -> None:
    header = stripe_signature(body, TEST_WEBHOOK_SECRET, int(time.time()))
    with pytest.raises(BadSignature) as caught:
        verify_webhook(body, header, TEST_WEBHOOK_SECRET)
    assert caught.value.reason == "bad_body"


def test_gateway_verifies_with_its_own_secret(
    deliveries: dict[str, Delivery], stripe_gateway: StripeGateway  # noqa: F811
) -> None:
    ok = deliveries["succeeded"]
    assert stripe_gateway.verify_webhook(ok.body, ok.headers["stripe-signature"])["id"]


def test_flask_app_served_live_receives_and_verifies_webhooks(
    localstripe_url: str, stripe_gateway: StripeGateway  # noqa: F811
) -> None:
    """The shape the marketplace's own endpoint will have: raw body, header, 400 if forged."""
    app = Flask("webhook-test")
    verified: list[dict[str, Any]] = []

    @app.post("/stripe/webhook")
    def webhook() -> tuple[str, int]:
        try:
            event = stripe_gateway.verify_webhook(
                request.get_data(), request.headers.get("Stripe-Signature")
            )
        except BadSignature:
            abort(400)
        verified.append(event)
        return "", 204

    with serve_wsgi(app) as base_url, webhook_to(
        localstripe_url, f"{base_url}/stripe/webhook", TEST_WEBHOOK_SECRET,
        ["payment_intent.succeeded"], name="flask-test",
    ):
        customer_id = stripe_gateway.create_customer(
            trust_ods=_ods(), name="Flask Trust", idempotency_key="f"
        )
        ok = _charge(stripe_gateway, customer_id, CARD_SUCCEEDS, "pay-flask")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
            e["data"]["object"]["id"] == ok.intent_id for e in verified
        ):
            time.sleep(0.05)
        client = app.test_client()
        assert client.post("/stripe/webhook", data=b"{}").status_code == 400
    mine = [e for e in verified if e["data"]["object"]["id"] == ok.intent_id]
    assert [e["type"] for e in mine] == ["payment_intent.succeeded"]


def test_flush_empties_localstripe(
    localstripe_url: str, stripe_gateway: StripeGateway  # noqa: F811
) -> None:
    stripe_gateway.create_customer(trust_ods=_ods(), name="Gone", idempotency_key="g")
    flush_localstripe(localstripe_url)
    assert localstripe_get(localstripe_url, "/v1/customers?limit=10")["data"] == []
