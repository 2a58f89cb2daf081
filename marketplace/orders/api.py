"""``/api/v1/orders``, ``/invoices`` and the Stripe webhook.

A trust's system places orders for its own trust; a refused order answers 422 with
every failed check, and the refusal is stored and announced all the same (a retry with
the same ``Idempotency-Key`` gets the same answer). The supplier invoices a placed order;
the trust pays the invoice through Stripe. Without Stripe's settings the payment
endpoints answer 503 naming what to set; everything else works.
"""
from __future__ import annotations

from typing import Any

from flask import request

from marketplace.http.endpoint import PUBLIC, ApiBlueprint, Call, Created, Refused
from marketplace.http.problems import problem_response
from marketplace.orders import invoices, payments
from marketplace.orders import service as orders
from schemas.api.orders import (
    InvoiceIn,
    InvoiceOut,
    OrderIn,
    OrderOut,
    OrderQuery,
    PaymentIn,
    PaymentOut,
    WebhookOut,
)
from schemas.statuses import OrderStatus, Role, words

bp = ApiBlueprint("orders", __name__)

ANY_ROLE = words(Role)
TRUST = (Role.TRUST_SYSTEM.value,)
SUPPLIER = (Role.INNOVATOR.value,)


@bp.endpoint("POST", "/orders", roles=TRUST, body=OrderIn, response=OrderOut,
             idempotent=True, etag=True, errors=(403, 404, 409),
             summary="Place a call-off order under a signed contract (422 with every "
                     "failed check when the route refuses it; the refusal is stored)")
def place_order(call: Call) -> Any:
    order = orders.place(call.uow, **call.body)
    if order.status == OrderStatus.REJECTED:
        return Refused(problem_response(
            422, "Order refused", f"Order {order.order_number} failed "
            f"{len(order.failed_checks)} check(s) of the route; it is recorded as refused.",
            order_id=order.id, checks=order.failed_checks,
            errors={"_schema": [check["reason"] for check in order.failed_checks]}))
    return Created(order, f"/api/v1/orders/{order.id}")


@bp.endpoint("GET", "/orders", roles=ANY_ROLE, query=OrderQuery, response=OrderOut,
             paginated=True, summary="The orders you may read, newest first")
def list_orders(call: Call) -> Any:
    return orders.list_query(call.uow, **{k: v for k, v in call.query.items()
                                          if k not in ("page", "per_page")})


@bp.endpoint("GET", "/orders/<order_id>", roles=ANY_ROLE, response=OrderOut, etag=True,
             errors=(404,), summary="An order: its trust, supplier, ICB or the operator")
def get_order(call: Call, order_id: str) -> Any:
    return orders.get_visible(call.uow, order_id)


@bp.endpoint("POST", "/orders/<order_id>/invoices", roles=SUPPLIER, body=InvoiceIn,
             response=InvoiceOut, idempotent=True, etag=True, errors=(403, 404, 409),
             summary="Invoice ordered items not yet invoiced (the supplier)")
def issue_invoice(call: Call, order_id: str) -> Any:
    invoice = invoices.issue(call.uow, order_id, **call.body)
    return Created(invoice, f"/api/v1/invoices/{invoice.id}")


@bp.endpoint("GET", "/invoices/<invoice_id>", roles=ANY_ROLE, response=InvoiceOut,
             etag=True, errors=(404,),
             summary="An invoice and its payments: its supplier, trust or the operator")
def get_invoice(call: Call, invoice_id: str) -> Any:
    return invoices.get_visible(call.uow, invoice_id)


@bp.endpoint("POST", "/invoices/<invoice_id>/payments", roles=TRUST, body=PaymentIn,
             response=PaymentOut, idempotent=True, errors=(403, 404, 409, 503),
             summary="Pay what is left of an invoice through Stripe (503 when payments "
                     "are not configured)")
def pay_invoice(call: Call, invoice_id: str) -> Any:
    payment = payments.pay(call.uow, invoice_id, **call.body)
    return Created(payment, f"/api/v1/invoices/{invoice_id}")


@bp.endpoint("POST", "/stripe/webhook", roles=PUBLIC, response=WebhookOut,
             errors=(400, 503),
             summary="Stripe's webhook: payment outcomes, signed (Stripe-Signature)")
def stripe_webhook(call: Call) -> Any:
    return payments.receive_webhook(call.uow, request.get_data(cache=True),
                                    request.headers.get("Stripe-Signature"))
