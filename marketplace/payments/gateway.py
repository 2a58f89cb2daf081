"""A small typed wrapper round the ``stripe`` library: the only place that talks to Stripe.

Why a wrapper: the rest of the marketplace deals in integer pence, our own payment and
invoice ids, and three exceptions, never in Stripe objects or Stripe's error zoo.

Idempotency is enforced here as well as asked of Stripe: every create sends an
``Idempotency-Key``, but it also first looks for what an earlier, interrupted attempt may
already have created (a customer by ``metadata.trust_ods``, a PaymentIntent by
``metadata.payment_id``) and adopts it. localstripe ignores ``Idempotency-Key``, and even
real Stripe forgets keys after 24 hours, so a crash between the Stripe call and our commit
must be recoverable by lookup, never by charging twice.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import stripe

if TYPE_CHECKING:
    from marketplace.kernel.settings import Settings

API_KEY_VARIABLE = "STRIPE_API_KEY"
WEBHOOK_SECRET_VARIABLE = "STRIPE_WEBHOOK_SECRET"

ChargeStatus = Literal["succeeded", "failed", "processing", "requires_action"]
SignatureProblem = Literal["missing_header", "malformed_header", "mismatch", "stale", "bad_body"]

_METADATA_VALUE_MAX = 500  # Stripe's limit on one metadata value


class PaymentsDisabled(Exception):
    """Stripe is not configured: payments are switched off rather than half-working."""

    def __init__(self, missing: Sequence[str]) -> None:
        self.missing: tuple[str, ...] = tuple(missing)
        super().__init__("payments are disabled: set " + ", ".join(self.missing))


class GatewayError(Exception):
    """Stripe refused the request (bad parameters, bad key): retrying the same call won't help."""


class GatewayUnavailable(GatewayError):
    """Stripe could not be reached or failed (5xx, rate limit): the outcome is unknown.

    Retry later with the same ids; the retry adopts anything the first attempt created.
    """


class BadSignature(ValueError):
    """A webhook delivery that must not be trusted; ``reason`` says which check failed."""

    def __init__(self, reason: SignatureProblem, message: str) -> None:
        self.reason: SignatureProblem = reason
        super().__init__(message)


@dataclass(frozen=True)
class ChargeResult:
    """The outcome of one PaymentIntent, reduced to what our payment record needs."""

    intent_id: str
    status: ChargeStatus
    failure_code: str | None = None
    failure_message: str | None = None


@dataclass(frozen=True)
class StoredCharge:
    """A PaymentIntent as listed for a customer, with our ids from its metadata."""

    result: ChargeResult
    payment_id: str | None
    invoice_id: str | None
    amount_pence: int
    currency: str
    created: int


def missing_settings(api_key: str | None, webhook_secret: str | None) -> list[str]:
    """The environment variables that must still be set before payments can be enabled."""
    missing = []
    if not (api_key or "").strip():
        missing.append(API_KEY_VARIABLE)
    if not (webhook_secret or "").strip():
        missing.append(WEBHOOK_SECRET_VARIABLE)
    return missing


@contextmanager
def _translated_errors() -> Iterator[None]:
    """Turn Stripe's exceptions into ours: unavailable (retry) versus refused (don't)."""
    try:
        yield
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        raise GatewayUnavailable(f"Stripe unreachable: {exc.user_message or exc}") from exc
    except stripe.StripeError as exc:
        if (exc.http_status or 0) >= 500:
            raise GatewayUnavailable(f"Stripe failed ({exc.http_status}): {exc}") from exc
        raise GatewayError(f"Stripe refused the request ({exc.http_status}): {exc}") from exc


def _charge_result(intent: dict[str, Any]) -> ChargeResult:
    """Map a PaymentIntent's status onto ours; a declined off-session intent is 'failed'."""
    status = intent.get("status")
    error = intent.get("last_payment_error") or {}
    code = error.get("code") or error.get("decline_code")
    message = error.get("message")
    intent_id = str(intent["id"])
    if status == "succeeded":
        return ChargeResult(intent_id, "succeeded")
    if status == "processing":
        return ChargeResult(intent_id, "processing")
    if status == "requires_payment_method":
        return ChargeResult(intent_id, "failed", code, message)
    if status == "canceled":
        reason = intent.get("cancellation_reason")
        return ChargeResult(intent_id, "failed", code or "canceled", message or reason)
    # requires_action / requires_confirmation / requires_capture: someone has to act.
    return ChargeResult(intent_id, "requires_action", code, message)


def _as_dict(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def _normalise_ods(trust_ods: str) -> str:
    return trust_ods.strip().upper()


class StripeGateway:
    """Customers per trust and off-session card charges, with crash-safe recovery.

    ``localstripe_compat`` (default: on whenever ``api_base`` is set) keeps to the subset of
    the API that localstripe accepts: it rejects ``description`` on PaymentIntents (so the
    description goes into metadata) and cannot filter PaymentIntent lists by customer (so we
    filter client-side). Retries default to 2 against real Stripe, which honours our
    idempotency keys, and 0 against localstripe, which does not.
    """

    def __init__(
        self,
        api_key: str | None,
        api_base: str | None = None,
        webhook_secret: str | None = None,
        *,
        max_network_retries: int | None = None,
        timeout_seconds: float = 20.0,
        localstripe_compat: bool | None = None,
        page_size: int = 100,
    ) -> None:
        missing = missing_settings(api_key, webhook_secret)
        if missing:
            raise PaymentsDisabled(missing)
        self.api_base = api_base.rstrip("/") if api_base else None
        self.webhook_secret: str = webhook_secret or ""
        self.page_size = page_size
        self.localstripe_compat = (
            self.api_base is not None if localstripe_compat is None else localstripe_compat
        )
        if max_network_retries is None:
            max_network_retries = 0 if self.localstripe_compat else 2
        self._http = stripe.RequestsClient(timeout=(min(5.0, timeout_seconds), timeout_seconds))
        self._client = stripe.StripeClient(
            api_key or "",
            base_addresses={"api": self.api_base} if self.api_base else None,
            max_network_retries=max_network_retries,
            http_client=self._http,
        )

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> StripeGateway:
        """The gateway for these settings; raises PaymentsDisabled naming what is missing."""
        return cls(
            settings.stripe_api_key,
            settings.stripe_api_base,
            settings.stripe_webhook_secret,
            **options,
        )

    def close(self) -> None:
        """Release pooled HTTP connections."""
        self._http.close()

    # -- customers -------------------------------------------------------------------

    def find_customer(self, trust_ods: str) -> str | None:
        """The trust's existing customer id, if any (the oldest, should a crash have made two)."""
        wanted = _normalise_ods(trust_ods)
        matches: list[tuple[int, str]] = []
        with _translated_errors():
            page = self._client.v1.customers.list(params={"limit": self.page_size})
            for customer in page.auto_paging_iter():
                metadata = _as_dict(customer.metadata or {})
                if _normalise_ods(str(metadata.get("trust_ods", ""))) == wanted:
                    matches.append((int(customer.created or 0), customer.id))
        return min(matches)[1] if matches else None

    def create_customer(self, *, trust_ods: str, name: str, idempotency_key: str) -> str:
        """The trust's customer id, created only if no customer carries this ODS code yet."""
        existing = self.find_customer(trust_ods)
        if existing is not None:
            return existing
        with _translated_errors():
            customer = self._client.v1.customers.create(
                params={"name": name, "metadata": {"trust_ods": _normalise_ods(trust_ods)}},
                options={"idempotency_key": idempotency_key},
            )
        return customer.id

    # -- charges ---------------------------------------------------------------------

    def charge(
        self,
        *,
        customer_id: str,
        amount_pence: int,
        currency: str,
        payment_method: str,
        payment_id: str,
        invoice_id: str,
        description: str,
        idempotency_key: str,
    ) -> ChargeResult:
        """Create and confirm an off-session PaymentIntent, or adopt the one already made.

        A decline is a result (status 'failed' with Stripe's code), not an exception;
        GatewayUnavailable means the outcome is unknown and the call may simply be repeated.
        """
        if type(amount_pence) is not int or amount_pence <= 0:
            raise ValueError(f"amount_pence must be a positive int, got {amount_pence!r}")
        existing = self.find_charge(customer_id=customer_id, payment_id=payment_id)
        if existing is not None:
            return existing
        metadata = {"payment_id": payment_id, "invoice_id": invoice_id}
        params: dict[str, Any] = {
            "amount": amount_pence,
            "currency": currency.lower(),
            "customer": customer_id,
            "payment_method": payment_method,
            "payment_method_types": ["card"],
            "confirm": True,
            "off_session": True,
            "metadata": metadata,
        }
        if self.localstripe_compat:
            metadata["description"] = description[:_METADATA_VALUE_MAX]
        else:
            params["description"] = description
        declined: stripe.CardError | None = None
        with _translated_errors():
            try:
                intent = self._client.v1.payment_intents.create(
                    params=params,
                    options={"idempotency_key": idempotency_key},
                )
            except stripe.CardError as exc:
                declined = exc
        if declined is None:
            return _charge_result(_as_dict(intent))
        return self._declined(declined, customer_id=customer_id, payment_id=payment_id)

    def _declined(
        self, exc: stripe.CardError, *, customer_id: str, payment_id: str
    ) -> ChargeResult:
        """A decline as a result; localstripe omits the intent from the error, so look it up."""
        code = exc.code or (exc.error.decline_code if exc.error else None)
        message = exc.user_message or (exc.error.message if exc.error else None) or str(exc)
        attached = exc.error.payment_intent if exc.error else None
        if attached is not None:
            result = _charge_result(_as_dict(attached))
        else:
            found = self.find_charge(customer_id=customer_id, payment_id=payment_id)
            if found is None:
                raise GatewayError(f"card declined ({code}) but no PaymentIntent was recorded")
            result = found
        return ChargeResult(
            result.intent_id, "failed", result.failure_code or code,
            result.failure_message or message,
        )

    def list_charges(self, customer_id: str) -> list[StoredCharge]:
        """Every PaymentIntent of this customer, oldest first."""
        params: dict[str, Any] = {"limit": self.page_size}
        if not self.localstripe_compat:
            params["customer"] = customer_id
        charges = []
        with _translated_errors():
            page = self._client.v1.payment_intents.list(params=params)
            for intent in page.auto_paging_iter():
                data = _as_dict(intent)
                if data.get("customer") != customer_id:
                    continue
                metadata = data.get("metadata") or {}
                charges.append(StoredCharge(
                    result=_charge_result(data),
                    payment_id=metadata.get("payment_id"),
                    invoice_id=metadata.get("invoice_id"),
                    amount_pence=int(data["amount"]),
                    currency=str(data["currency"]),
                    created=int(data.get("created") or 0),
                ))
        charges.sort(key=lambda c: (c.created, c.result.intent_id))
        return charges

    def find_charge(self, *, customer_id: str, payment_id: str) -> ChargeResult | None:
        """The intent an earlier attempt made for ``payment_id``: the crash-recovery path.

        Should there somehow be several, a succeeded one wins, then one in flight, then the
        latest, so we never report a failure for a payment that was in fact taken.
        """
        mine = [c for c in self.list_charges(customer_id) if c.payment_id == payment_id]
        if not mine:
            return None
        rank = {"succeeded": 0, "processing": 1, "requires_action": 2, "failed": 3}
        return min(mine, key=lambda c: (rank[c.result.status], -c.created)).result

    # -- webhooks --------------------------------------------------------------------

    def verify_webhook(self, raw_body: bytes, signature_header: str | None) -> dict[str, Any]:
        """``verify_webhook`` with this gateway's secret."""
        return verify_webhook(raw_body, signature_header, self.webhook_secret)


def verify_webhook(
    raw_body: bytes,
    signature_header: str | None,
    secret: str,
    *,
    tolerance_seconds: int = 300,
) -> dict[str, Any]:
    """The event in a webhook delivery, once its ``Stripe-Signature`` proves it came from Stripe.

    Verification is over the raw bytes exactly as received (re-serialised JSON would not
    match the HMAC); a signature older than ``tolerance_seconds`` is refused as a replay.
    """
    if not signature_header or not signature_header.strip():
        raise BadSignature("missing_header", "missing Stripe-Signature header")
    try:
        stripe.Webhook.construct_event(
            raw_body, signature_header, secret, tolerance=tolerance_seconds
        )
    except stripe.SignatureVerificationError as exc:
        text = str(exc)
        if "tolerance" in text:
            raise BadSignature(
                "stale", f"stale Stripe-Signature timestamp (older than {tolerance_seconds}s)"
            ) from exc
        if "matching the expected signature" in text:
            raise BadSignature(
                "mismatch", "Stripe-Signature does not match the body (wrong secret or altered)"
            ) from exc
        raise BadSignature("malformed_header", f"unusable Stripe-Signature: {text}") from exc
    except (ValueError, TypeError, AttributeError) as exc:  # bad UTF-8/JSON, not an object
        raise BadSignature("bad_body", f"webhook body is not a JSON event: {exc}") from exc
    event = json.loads(raw_body)
    if not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise BadSignature("bad_body", "webhook body is not a Stripe event (no id or type)")
    return event
