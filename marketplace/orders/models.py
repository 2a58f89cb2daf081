"""Call-off orders, their invoices and the payments of those invoices.

The database holds the invariants: status CHECKs; an order number used once per trust
among placed orders (a refused order keeps its number, so the trust can place it again
once it is right); one invoice number per supplier; what is invoiced never more than
what was ordered (per line and in total), what is paid never more than the invoice's
gross; money in non-negative integer pence. A refused order is kept as a record with
every failed check, so a trust, its ICB and the operator can see why.

A payment row is one attempt at the provider, written and committed *before* the
provider is called, so a crash between the call and the outcome's commit leaves a row
that the retry resumes (it looks the charge up by the attempt's id instead of charging
again). Each Stripe event id is recorded once (``stripe_event``), so a webhook delivered
twice has one effect.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.contracts.models import Contract
from marketplace.kernel.db import Base, JsonType, UtcDateTime, in_list
from marketplace.kernel.priced_line import PricedLine
from marketplace.organisations.models import Organisation
from schemas.statuses import InvoiceStatus, OrderStatus, PaymentStatus

PLACED_ORDER = f"status = '{OrderStatus.PLACED}'"


class Order(Base):
    """A trust's call-off order under a signed contract, with its lines and totals."""

    __tablename__ = "call_off_order"
    __table_args__ = (
        CheckConstraint(f"status IN ({in_list(OrderStatus)})", name="status"),
        CheckConstraint("gross_pence = net_pence + vat_pence", name="gross"),
        CheckConstraint("net_pence >= 0 AND vat_pence >= 0", name="amounts"),
        CheckConstraint("invoiced_gross_pence >= 0 AND invoiced_gross_pence <= gross_pence",
                        name="invoiced"),
        # A placed order's number is the trust's purchase order number: used once.
        Index("uq_call_off_order_placed_number", "trust_organisation_id", "order_number",
              unique=True, sqlite_where=text(PLACED_ORDER),
              postgresql_where=text(PLACED_ORDER)),
        Index("ix_call_off_order_contract_status", "contract_id", "status"),
        Index("ix_call_off_order_trust_placed", "trust_organisation_id", "placed_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    order_number: Mapped[str] = mapped_column(String(35))
    buyer_reference: Mapped[str] = mapped_column(String(100))
    contract_id: Mapped[str] = mapped_column(ForeignKey("contract.id"))
    trust_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    #: The ICB that held the contract when the order was placed.
    icb_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    supplier_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"),
                                                          index=True)
    status: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3), default="GBP")
    net_pence: Mapped[int] = mapped_column(BigInteger)
    vat_pence: Mapped[int] = mapped_column(BigInteger)
    gross_pence: Mapped[int] = mapped_column(BigInteger)
    vat_breakdown: Mapped[list[dict[str, Any]]] = mapped_column(JsonType)
    funding_allocation_id: Mapped[str | None] = mapped_column(
        ForeignKey("funding_allocation.id"), index=True)
    delivery_site_ods: Mapped[str | None] = mapped_column(String(5))
    requested_delivery_on: Mapped[date | None] = mapped_column(Date)
    #: Every failed check of a refused order: [{code, reason}] (empty when placed).
    failed_checks: Mapped[list[dict[str, str]]] = mapped_column(JsonType)
    placed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    placed_by: Mapped[str] = mapped_column(String(64))
    invoiced_gross_pence: Mapped[int] = mapped_column(BigInteger, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)

    contract: Mapped[Contract] = relationship()
    trust: Mapped[Organisation] = relationship(foreign_keys=[trust_organisation_id])
    icb: Mapped[Organisation] = relationship(foreign_keys=[icb_organisation_id])
    supplier_organisation: Mapped[Organisation] = relationship(
        foreign_keys=[supplier_organisation_id])
    lines: Mapped[list[OrderLine]] = relationship(
        order_by="OrderLine.position", cascade="all, delete-orphan", lazy="selectin")
    invoices: Mapped[list[Invoice]] = relationship(
        order_by="(Invoice.issued_at, Invoice.id)", viewonly=True)

    __mapper_args__ = {"version_id_col": version}


class OrderLine(PricedLine, Base):
    """An ordered quantity of a contract item at the contract's price and VAT."""

    __tablename__ = "call_off_order_line"
    __table_args__ = (
        CheckConstraint("quantity >= 1", name="quantity"),
        CheckConstraint("unit_price_pence >= 0", name="unit_price"),
        CheckConstraint("net_pence = quantity * unit_price_pence", name="net"),
        CheckConstraint("invoiced_quantity >= 0 AND invoiced_quantity <= quantity",
                        name="invoiced_quantity"),
        UniqueConstraint("order_id", "position"),
        UniqueConstraint("order_id", "item_id"),
    )

    order_id: Mapped[str] = mapped_column(ForeignKey("call_off_order.id"), primary_key=True)
    quantity: Mapped[int] = mapped_column(BigInteger)
    net_pence: Mapped[int] = mapped_column(BigInteger)
    invoiced_quantity: Mapped[int] = mapped_column(BigInteger, default=0)


class Invoice(Base):
    """The supplier's invoice against a placed order; paid through the provider."""

    __tablename__ = "invoice"
    __table_args__ = (
        CheckConstraint(f"status IN ({in_list(InvoiceStatus)})", name="status"),
        CheckConstraint("gross_pence = net_pence + vat_pence", name="gross"),
        CheckConstraint("net_pence >= 0 AND vat_pence >= 0", name="amounts"),
        CheckConstraint("paid_pence >= 0 AND paid_pence <= gross_pence", name="paid"),
        CheckConstraint("due_date >= issue_date", name="due_date"),
        UniqueConstraint("supplier_organisation_id", "invoice_number"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    invoice_number: Mapped[str] = mapped_column(String(35))
    order_id: Mapped[str] = mapped_column(ForeignKey("call_off_order.id"), index=True)
    supplier_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    trust_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"),
                                                       index=True)
    status: Mapped[str] = mapped_column(String(16), default=InvoiceStatus.ISSUED)
    currency: Mapped[str] = mapped_column(String(3), default="GBP")
    net_pence: Mapped[int] = mapped_column(BigInteger)
    vat_pence: Mapped[int] = mapped_column(BigInteger)
    gross_pence: Mapped[int] = mapped_column(BigInteger)
    vat_breakdown: Mapped[list[dict[str, Any]]] = mapped_column(JsonType)
    paid_pence: Mapped[int] = mapped_column(BigInteger, default=0)
    issue_date: Mapped[date] = mapped_column(Date)
    tax_point_date: Mapped[date | None] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    issued_by: Mapped[str] = mapped_column(String(64))
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    order: Mapped[Order] = relationship()
    supplier_organisation: Mapped[Organisation] = relationship(
        foreign_keys=[supplier_organisation_id])
    trust: Mapped[Organisation] = relationship(foreign_keys=[trust_organisation_id])
    lines: Mapped[list[InvoiceLine]] = relationship(
        order_by="InvoiceLine.position", cascade="all, delete-orphan", lazy="selectin")
    payments: Mapped[list[Payment]] = relationship(
        order_by="Payment.attempt", viewonly=True)

    __mapper_args__ = {"version_id_col": version}


class InvoiceLine(PricedLine, Base):
    """An invoiced quantity of an order line, at the order's price and VAT."""

    __tablename__ = "invoice_line"
    __table_args__ = (
        CheckConstraint("quantity >= 1", name="quantity"),
        CheckConstraint("net_pence = quantity * unit_price_pence", name="net"),
        UniqueConstraint("invoice_id", "position"),
    )

    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoice.id"), primary_key=True)
    order_line_id: Mapped[str] = mapped_column(String(36))
    quantity: Mapped[int] = mapped_column(BigInteger)
    net_pence: Mapped[int] = mapped_column(BigInteger)


class Payment(Base):
    """One attempt to pay an invoice through the provider (its charge is keyed by this
    row's id, so a retried attempt finds its charge instead of making a second)."""

    __tablename__ = "payment"
    __table_args__ = (
        CheckConstraint(f"status IN ({in_list(PaymentStatus)})", name="status"),
        CheckConstraint("amount_pence >= 1", name="amount"),
        CheckConstraint("attempt >= 1", name="attempt"),
        UniqueConstraint("invoice_id", "attempt"),
        UniqueConstraint("provider_reference"),
        UniqueConstraint("idempotency_key"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoice.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    amount_pence: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="GBP")
    provider: Mapped[str] = mapped_column(String(16), default="stripe")
    idempotency_key: Mapped[str] = mapped_column(String(100))
    payment_method: Mapped[str] = mapped_column(String(255))
    provider_reference: Mapped[str | None] = mapped_column(String(255))
    failure_code: Mapped[str | None] = mapped_column(String(100))
    failure_reason: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    settled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    invoice: Mapped[Invoice] = relationship()

    __mapper_args__ = {"version_id_col": version}


class StripeCustomer(Base):
    """The one Stripe customer of a trust (created once, found again after a crash)."""

    __tablename__ = "stripe_customer"

    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"),
                                                 primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class StripeEvent(Base):
    """A Stripe event id seen at the webhook: recorded once, so a replay has no effect."""

    __tablename__ = "stripe_event"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    #: The Stripe object the event is about (a PaymentIntent's ``pi_...``), if any.
    object_id: Mapped[str | None] = mapped_column(String(255))
    #: What the delivery did: applied, ignored (and why), for the operator.
    outcome: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
