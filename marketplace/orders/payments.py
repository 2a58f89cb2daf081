"""Paying invoices through Stripe, so that nothing is ever charged twice.

A trust pays an invoice from its one Stripe customer (created once; found again in
Stripe after a crash, since a Stripe-compatible server may ignore ``Idempotency-Key``).
Each attempt is a :class:`Payment` row committed *before* Stripe is called, with an
idempotency key derived from the invoice and the attempt. A retry of an attempt whose
outcome was never recorded (a crash or an outage between the Stripe call and our commit)
looks its charge up in Stripe by the attempt's id and adopts it, so it never makes a
second charge; a new attempt is only made after the previous one failed.

The outcome comes from the confirmation's answer or from Stripe's webhook, whichever
arrives first, through one :func:`settle` that moves a payment once: a success is final
(a late or out-of-order failure never moves a paid invoice backwards). Each webhook event
id is recorded once, so a replayed delivery has no effect. Money is integer pence.
"""
from __future__ import annotations

import functools
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from marketplace.kernel.errors import BadRequest, Conflict, Forbidden, Unavailable
from marketplace.kernel.row_lock import for_update
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.orders import events, invoices
from marketplace.orders.models import Invoice, Payment, StripeCustomer, StripeEvent
from marketplace.organisations.models import Organisation
from marketplace.payments.gateway import (
    BadSignature,
    ChargeResult,
    GatewayError,
    GatewayUnavailable,
    StripeGateway,
    missing_settings,
)
from schemas.statuses import InvoiceStatus, PaymentStatus, Role

IN_FLIGHT = (PaymentStatus.INITIATED, PaymentStatus.PENDING)
#: The webhook events that carry a PaymentIntent's outcome.
SUCCEEDED_EVENT = "payment_intent.succeeded"
FAILED_EVENT = "payment_intent.payment_failed"


def disabled_reason(settings: Any) -> str | None:
    """Why payments are off (the variables to set), or None when they are on."""
    missing = missing_settings(getattr(settings, "stripe_api_key", None),
                               getattr(settings, "stripe_webhook_secret", None))
    return f"Payments are disabled: set {', '.join(missing)}." if missing else None


@functools.lru_cache(maxsize=8)
def _gateway(api_key: str, api_base: str | None, webhook_secret: str) -> StripeGateway:
    """One gateway (and its pooled connections) per Stripe configuration."""
    return StripeGateway(api_key, api_base, webhook_secret)


def gateway_for(uow: UnitOfWork) -> StripeGateway:
    """The Stripe gateway of this marketplace; 503 naming what to set when it has none."""
    if (reason := disabled_reason(uow.settings)) is not None:
        raise Unavailable(reason)
    settings = uow.settings
    assert settings is not None and settings.stripe_api_key and settings.stripe_webhook_secret
    return _gateway(settings.stripe_api_key, settings.stripe_api_base,
                    settings.stripe_webhook_secret)


def snapshot(payment: Payment) -> dict[str, Any]:
    return {c.key: getattr(payment, c.key) for c in Payment.__table__.columns
            if c.key != "version"}


# --- the trust's customer ----------------------------------------------------------------
def _customer(uow: UnitOfWork, gateway: StripeGateway, trust: Organisation) -> str:
    """The trust's one Stripe customer: ours if recorded, else Stripe's (after a crash),
    else a new one."""
    row = uow.session.get(StripeCustomer, trust.id)
    if row is not None:
        return row.customer_id
    customer_id = gateway.find_customer(trust.code) or gateway.create_customer(
        trust_ods=trust.code, name=trust.name, idempotency_key=f"customer-{trust.public_id}")
    uow.session.add(StripeCustomer(organisation_id=trust.id, customer_id=customer_id,
                                   created_at=uow.now()))
    uow.session.flush()
    uow.audit("payment.customer_created", "organisation", trust.code,
              after={"customer_id": customer_id}, subject_organisation_id=trust.id)
    return customer_id


# --- paying ------------------------------------------------------------------------------
def _payable(uow: UnitOfWork, invoice_id: str) -> Invoice:
    invoice = invoices.get_visible(uow, invoice_id, lock=True)
    if uow.actor.role != Role.TRUST_SYSTEM or \
            invoice.trust_organisation_id != uow.actor.organisation_id:
        raise Forbidden("Only the invoiced trust pays an invoice.")
    if invoice.status == InvoiceStatus.PAID:
        raise Conflict(f"Invoice {invoice.invoice_number} is paid.")
    return invoice


def _attempt(uow: UnitOfWork, invoice: Invoice, payment_method: str) -> Payment:
    """The attempt in flight (resumed), or a new one for what is left to pay."""
    payments = list(uow.session.scalars(select(Payment).where(
        Payment.invoice_id == invoice.id).order_by(Payment.attempt)))
    if payments and payments[-1].status in IN_FLIGHT:
        return payments[-1]
    attempt = len(payments) + 1
    payment = Payment(
        id=str(uuid.uuid4()), invoice_id=invoice.id, attempt=attempt,
        status=PaymentStatus.INITIATED, amount_pence=invoice.gross_pence - invoice.paid_pence,
        currency=invoice.currency, provider="stripe",
        idempotency_key=f"invoice-{invoice.id}-attempt-{attempt}",
        payment_method=payment_method, created_at=uow.now(), created_by=uow.actor.id)
    uow.session.add(payment)
    uow.session.flush()
    uow.audit("payment.initiated", "payment", payment.id, after=snapshot(payment),
              subject_organisation_id=invoice.trust_organisation_id)
    return payment


def _charge(gateway: StripeGateway, payment: Payment, invoice: Invoice, customer_id: str
            ) -> ChargeResult:
    """The attempt's charge: the gateway adopts a charge an earlier run made for this
    payment id (found in Stripe by its metadata) instead of making a second."""
    return gateway.charge(
        customer_id=customer_id, amount_pence=payment.amount_pence,
        currency=payment.currency, payment_method=payment.payment_method,
        payment_id=payment.id, invoice_id=invoice.id,
        description=f"Invoice {invoice.invoice_number} (order {invoice.order.order_number})",
        idempotency_key=payment.idempotency_key)


def pay(uow: UnitOfWork, invoice_id: str, *, payment_method: str) -> Payment:
    """Charge what is left of an invoice to the trust's Stripe customer.

    Commits the attempt before calling Stripe; the outcome is committed by the caller's
    unit of work (or by the webhook, if it comes first).
    """
    gateway = gateway_for(uow)
    invoice = _payable(uow, invoice_id)
    payment = _attempt(uow, invoice, payment_method)
    try:
        customer_id = _customer(uow, gateway, invoice.trust)
        uow.commit()  # the attempt exists before Stripe hears of it
        result = _charge(gateway, payment, invoice, customer_id)
    except GatewayUnavailable as exc:
        uow.commit()
        raise Unavailable(f"{exc} The attempt is kept: pay again to resume it (no second "
                          "charge).") from exc
    except GatewayError as exc:
        raise Conflict(f"Stripe refused the payment: {exc}") from exc
    return _record(uow, payment.id, result)


def _record(uow: UnitOfWork, payment_id: str, result: ChargeResult) -> Payment:
    payment = _locked(uow, payment_id)
    if payment.provider_reference is None:
        payment.provider_reference = result.intent_id
    if payment.status == PaymentStatus.INITIATED:
        payment.status = PaymentStatus.PENDING
    uow.session.flush()
    if result.status in ("succeeded", "failed"):
        settle(uow, payment, succeeded=result.status == "succeeded",
               failure_code=result.failure_code, failure_reason=result.failure_message)
    return payment


def _locked(uow: UnitOfWork, payment_id: str) -> Payment:
    payment = uow.session.scalar(for_update(select(Payment).where(Payment.id == payment_id),
                                            Payment).execution_options(populate_existing=True))
    assert payment is not None
    return payment


# --- outcomes ------------------------------------------------------------------------------
def settle(uow: UnitOfWork, payment: Payment, *, succeeded: bool,
           failure_code: str | None = None, failure_reason: str | None = None) -> str:
    """Move a payment to its outcome once, with its event; says what it did."""
    if payment.status == PaymentStatus.SUCCEEDED:
        return "ignored: the payment had already succeeded"
    if not succeeded and payment.status == PaymentStatus.FAILED:
        return "ignored: the failure was already recorded"
    before, now = snapshot(payment), uow.now()
    invoice = uow.session.scalar(for_update(select(Invoice).where(
        Invoice.id == payment.invoice_id), Invoice))
    assert invoice is not None
    if succeeded and invoice.paid_pence + payment.amount_pence > invoice.gross_pence:
        payment.status, payment.settled_at = PaymentStatus.SUCCEEDED, now
        uow.audit("payment.excess", "payment", payment.id, before=before,
                  after=snapshot(payment), subject_organisation_id=invoice.trust_organisation_id)
        return "recorded as excess: the invoice was already paid (refund it)"
    payment.settled_at = now
    if succeeded:
        payment.status, payment.failure_code, payment.failure_reason = (
            PaymentStatus.SUCCEEDED, None, None)
        invoice.paid_pence += payment.amount_pence
        if invoice.paid_pence == invoice.gross_pence:
            invoice.status, invoice.paid_at = InvoiceStatus.PAID, now
    else:
        payment.status = PaymentStatus.FAILED
        payment.failure_code = _code(failure_code)
        payment.failure_reason = (failure_reason or "The payment did not go through.")[:1000]
    uow.session.flush()
    uow.audit(f"payment.{payment.status}", "payment", payment.id, before=before,
              after=snapshot(payment), subject_organisation_id=invoice.trust_organisation_id)
    (events.payment_received if succeeded else events.payment_failed)(uow, payment)
    return f"payment {payment.status}"


def _code(code: str | None) -> str:
    """A provider's failure code as events carry it (lower case, digits, underscores)."""
    cleaned = "".join(c for c in (code or "").lower() if c.isalnum() or c == "_")[:100]
    return cleaned or "unknown"


def receive_webhook(uow: UnitOfWork, raw_body: bytes, signature: str | None) -> dict[str, str]:
    """A Stripe webhook delivery: verified on the raw body, recorded once by event id,
    and its PaymentIntent outcome settled (400 for a bad or stale signature)."""
    gateway = gateway_for(uow)
    try:
        event = gateway.verify_webhook(raw_body, signature)
    except BadSignature as exc:
        raise BadRequest(f"The webhook's signature is not valid: {exc}") from exc
    event_id, kind = str(event.get("id", "")), str(event.get("type", ""))
    if not event_id or uow.session.get(StripeEvent, event_id) is not None:
        return {"event": event_id, "outcome": "ignored: already received"}
    about = (event.get("data") or {}).get("object") or {}
    outcome = _apply(uow, kind, about)
    uow.session.add(StripeEvent(id=event_id[:255], type=kind[:100],
                                object_id=str(about.get("id") or "")[:255] or None,
                                outcome=outcome[:200], received_at=uow.now()))
    try:
        uow.session.flush()
    except IntegrityError:  # the same event delivered twice at once: the other applies it
        uow.rollback()
        return {"event": event_id, "outcome": "ignored: already received"}
    return {"event": event_id, "outcome": outcome}


def _apply(uow: UnitOfWork, kind: str, intent: dict[str, Any]) -> str:
    if kind not in (SUCCEEDED_EVENT, FAILED_EVENT):
        return f"ignored: {kind or 'untyped'} events are not used"
    payment_id = str((intent.get("metadata") or {}).get("payment_id") or "")
    payment = uow.session.scalar(for_update(select(Payment).where(
        Payment.id == payment_id), Payment)) if payment_id else None
    if payment is None and intent.get("id"):
        payment = uow.session.scalar(for_update(select(Payment).where(
            Payment.provider_reference == str(intent["id"])), Payment))
    if payment is None:
        return "ignored: no payment of ours"
    if payment.provider_reference is None:
        payment.provider_reference = str(intent.get("id"))
    error = intent.get("last_payment_error") or {}
    return settle(uow, payment, succeeded=kind == SUCCEEDED_EVENT,
                  failure_code=error.get("decline_code") or error.get("code"),
                  failure_reason=error.get("message"))
