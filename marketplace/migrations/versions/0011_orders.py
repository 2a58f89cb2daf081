"""Call-off orders, invoices and payments (issue 16).

``call_off_order`` (status CHECK; a placed order's number used once per trust, a partial
unique index; gross = net + VAT; never invoiced beyond its gross; every failed check of a
refused order), ``call_off_order_line`` (net = quantity x unit price, invoiced quantity
within the ordered), ``invoice`` (one number per supplier; paid within its gross; due on
or after issue), ``invoice_line``, ``payment`` (one row per attempt, unique per invoice
and attempt, one provider reference, one idempotency key), ``stripe_customer`` (one per
trust), ``stripe_event`` (each webhook event id once), and ``organisation.vat_number``
(a supplier's VAT registration, which invoices that charge VAT need) and
``framework.direct_award`` (its terms let a trust call off an award without a further
competition).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 15:05:03.645459
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('stripe_event',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('object_id', sa.String(length=255), nullable=True),
    sa.Column('outcome', sa.String(length=200), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stripe_event'))
    )
    op.create_table('stripe_customer',
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_stripe_customer_organisation_id_organisation')),
    sa.PrimaryKeyConstraint('organisation_id', name=op.f('pk_stripe_customer')),
    sa.UniqueConstraint('customer_id', name=op.f('uq_stripe_customer_customer_id'))
    )
    op.create_table('call_off_order',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('order_number', sa.String(length=35), nullable=False),
    sa.Column('buyer_reference', sa.String(length=100), nullable=False),
    sa.Column('contract_id', sa.String(length=36), nullable=False),
    sa.Column('trust_organisation_id', sa.Integer(), nullable=False),
    sa.Column('icb_organisation_id', sa.Integer(), nullable=False),
    sa.Column('supplier_organisation_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('net_pence', sa.BigInteger(), nullable=False),
    sa.Column('vat_pence', sa.BigInteger(), nullable=False),
    sa.Column('gross_pence', sa.BigInteger(), nullable=False),
    sa.Column('vat_breakdown', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('funding_allocation_id', sa.String(length=36), nullable=True),
    sa.Column('delivery_site_ods', sa.String(length=5), nullable=True),
    sa.Column('requested_delivery_on', sa.Date(), nullable=True),
    sa.Column('failed_checks', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('placed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('placed_by', sa.String(length=64), nullable=False),
    sa.Column('invoiced_gross_pence', sa.BigInteger(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("status IN ('placed', 'rejected')", name=op.f('ck_call_off_order_status')),
    sa.CheckConstraint('gross_pence = net_pence + vat_pence', name=op.f('ck_call_off_order_gross')),
    sa.CheckConstraint('invoiced_gross_pence >= 0 AND invoiced_gross_pence <= gross_pence', name=op.f('ck_call_off_order_invoiced')),
    sa.CheckConstraint('net_pence >= 0 AND vat_pence >= 0', name=op.f('ck_call_off_order_amounts')),
    sa.ForeignKeyConstraint(['contract_id'], ['contract.id'], name=op.f('fk_call_off_order_contract_id_contract')),
    sa.ForeignKeyConstraint(['funding_allocation_id'], ['funding_allocation.id'], name=op.f('fk_call_off_order_funding_allocation_id_funding_allocation')),
    sa.ForeignKeyConstraint(['icb_organisation_id'], ['organisation.id'], name=op.f('fk_call_off_order_icb_organisation_id_organisation')),
    sa.ForeignKeyConstraint(['supplier_organisation_id'], ['organisation.id'], name=op.f('fk_call_off_order_supplier_organisation_id_organisation')),
    sa.ForeignKeyConstraint(['trust_organisation_id'], ['organisation.id'], name=op.f('fk_call_off_order_trust_organisation_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_off_order'))
    )
    with op.batch_alter_table('call_off_order', schema=None) as batch_op:
        batch_op.create_index('ix_call_off_order_contract_status', ['contract_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_off_order_funding_allocation_id'), ['funding_allocation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_off_order_supplier_organisation_id'), ['supplier_organisation_id'], unique=False)
        batch_op.create_index('ix_call_off_order_trust_placed', ['trust_organisation_id', 'placed_at'], unique=False)
        batch_op.create_index('uq_call_off_order_placed_number', ['trust_organisation_id', 'order_number'], unique=True, sqlite_where=sa.text("status = 'placed'"), postgresql_where=sa.text("status = 'placed'"))

    op.create_table('call_off_order_line',
    sa.Column('order_id', sa.String(length=36), nullable=False),
    sa.Column('line_id', sa.String(length=36), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.String(length=64), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('unit_code', sa.String(length=3), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('unit_price_pence', sa.BigInteger(), nullable=False),
    sa.Column('vat_category', sa.String(length=2), nullable=False),
    sa.Column('vat_rate', sa.String(length=8), nullable=False),
    sa.Column('net_pence', sa.BigInteger(), nullable=False),
    sa.Column('invoiced_quantity', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('invoiced_quantity >= 0 AND invoiced_quantity <= quantity', name=op.f('ck_call_off_order_line_invoiced_quantity')),
    sa.CheckConstraint('net_pence = quantity * unit_price_pence', name=op.f('ck_call_off_order_line_net')),
    sa.CheckConstraint('quantity >= 1', name=op.f('ck_call_off_order_line_quantity')),
    sa.CheckConstraint('unit_price_pence >= 0', name=op.f('ck_call_off_order_line_unit_price')),
    sa.ForeignKeyConstraint(['order_id'], ['call_off_order.id'], name=op.f('fk_call_off_order_line_order_id_call_off_order')),
    sa.PrimaryKeyConstraint('order_id', 'line_id', name=op.f('pk_call_off_order_line')),
    sa.UniqueConstraint('order_id', 'item_id', name=op.f('uq_call_off_order_line_order_id_item_id')),
    sa.UniqueConstraint('order_id', 'position', name=op.f('uq_call_off_order_line_order_id_position'))
    )
    op.create_table('invoice',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('invoice_number', sa.String(length=35), nullable=False),
    sa.Column('order_id', sa.String(length=36), nullable=False),
    sa.Column('supplier_organisation_id', sa.Integer(), nullable=False),
    sa.Column('trust_organisation_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('net_pence', sa.BigInteger(), nullable=False),
    sa.Column('vat_pence', sa.BigInteger(), nullable=False),
    sa.Column('gross_pence', sa.BigInteger(), nullable=False),
    sa.Column('vat_breakdown', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('paid_pence', sa.BigInteger(), nullable=False),
    sa.Column('issue_date', sa.Date(), nullable=False),
    sa.Column('tax_point_date', sa.Date(), nullable=True),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('issued_by', sa.String(length=64), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("status IN ('issued', 'paid')", name=op.f('ck_invoice_status')),
    sa.CheckConstraint('due_date >= issue_date', name=op.f('ck_invoice_due_date')),
    sa.CheckConstraint('gross_pence = net_pence + vat_pence', name=op.f('ck_invoice_gross')),
    sa.CheckConstraint('net_pence >= 0 AND vat_pence >= 0', name=op.f('ck_invoice_amounts')),
    sa.CheckConstraint('paid_pence >= 0 AND paid_pence <= gross_pence', name=op.f('ck_invoice_paid')),
    sa.ForeignKeyConstraint(['order_id'], ['call_off_order.id'], name=op.f('fk_invoice_order_id_call_off_order')),
    sa.ForeignKeyConstraint(['supplier_organisation_id'], ['organisation.id'], name=op.f('fk_invoice_supplier_organisation_id_organisation')),
    sa.ForeignKeyConstraint(['trust_organisation_id'], ['organisation.id'], name=op.f('fk_invoice_trust_organisation_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoice')),
    sa.UniqueConstraint('supplier_organisation_id', 'invoice_number', name=op.f('uq_invoice_supplier_organisation_id_invoice_number'))
    )
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invoice_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invoice_trust_organisation_id'), ['trust_organisation_id'], unique=False)

    op.create_table('invoice_line',
    sa.Column('invoice_id', sa.String(length=36), nullable=False),
    sa.Column('line_id', sa.String(length=36), nullable=False),
    sa.Column('order_line_id', sa.String(length=36), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.String(length=64), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('unit_code', sa.String(length=3), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('unit_price_pence', sa.BigInteger(), nullable=False),
    sa.Column('vat_category', sa.String(length=2), nullable=False),
    sa.Column('vat_rate', sa.String(length=8), nullable=False),
    sa.Column('net_pence', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('net_pence = quantity * unit_price_pence', name=op.f('ck_invoice_line_net')),
    sa.CheckConstraint('quantity >= 1', name=op.f('ck_invoice_line_quantity')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], name=op.f('fk_invoice_line_invoice_id_invoice')),
    sa.PrimaryKeyConstraint('invoice_id', 'line_id', name=op.f('pk_invoice_line')),
    sa.UniqueConstraint('invoice_id', 'position', name=op.f('uq_invoice_line_invoice_id_position'))
    )
    op.create_table('payment',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('invoice_id', sa.String(length=36), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('amount_pence', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('idempotency_key', sa.String(length=100), nullable=False),
    sa.Column('payment_method', sa.String(length=255), nullable=False),
    sa.Column('provider_reference', sa.String(length=255), nullable=True),
    sa.Column('failure_code', sa.String(length=100), nullable=True),
    sa.Column('failure_reason', sa.String(length=1000), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("status IN ('failed', 'initiated', 'pending', 'succeeded')", name=op.f('ck_payment_status')),
    sa.CheckConstraint('amount_pence >= 1', name=op.f('ck_payment_amount')),
    sa.CheckConstraint('attempt >= 1', name=op.f('ck_payment_attempt')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], name=op.f('fk_payment_invoice_id_invoice')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_payment_idempotency_key')),
    sa.UniqueConstraint('invoice_id', 'attempt', name=op.f('uq_payment_invoice_id_attempt')),
    sa.UniqueConstraint('provider_reference', name=op.f('uq_payment_provider_reference'))
    )
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_invoice_id'), ['invoice_id'], unique=False)

    with op.batch_alter_table('organisation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('vat_number', sa.String(length=14), nullable=True))
    with op.batch_alter_table('framework', schema=None) as batch_op:
        batch_op.add_column(sa.Column('direct_award', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('framework', schema=None) as batch_op:
        batch_op.drop_column('direct_award')
    with op.batch_alter_table('organisation', schema=None) as batch_op:
        batch_op.drop_column('vat_number')

    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_invoice_id'))

    op.drop_table('payment')
    op.drop_table('invoice_line')
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invoice_trust_organisation_id'))
        batch_op.drop_index(batch_op.f('ix_invoice_order_id'))

    op.drop_table('invoice')
    op.drop_table('call_off_order_line')
    with op.batch_alter_table('call_off_order', schema=None) as batch_op:
        batch_op.drop_index('uq_call_off_order_placed_number', sqlite_where=sa.text("status = 'placed'"), postgresql_where=sa.text("status = 'placed'"))
        batch_op.drop_index('ix_call_off_order_trust_placed')
        batch_op.drop_index(batch_op.f('ix_call_off_order_supplier_organisation_id'))
        batch_op.drop_index(batch_op.f('ix_call_off_order_funding_allocation_id'))
        batch_op.drop_index('ix_call_off_order_contract_status')

    op.drop_table('call_off_order')
    op.drop_table('stripe_customer')
    op.drop_table('stripe_event')
