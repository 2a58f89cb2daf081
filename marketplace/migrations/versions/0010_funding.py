"""Funding pots, allocations and their revision chains, drawdowns (issue 16).

``funding_pot`` (funder type CHECK; ``allocated_pence`` never above ``amount_pence``,
updated under the pot's row lock; a pharma joint-working pot, and only one, carries its
agreement summary and transfer of value; period end on or after its start),
``funding_allocation`` (the head of an allocation: current amount, period, status and
``drawn_pence``, never above the amount), ``funding_allocation_revision`` (the immutable
chain: number 1 allocates, each later revision supersedes exactly one, unique per
allocation), ``funding_drawdown`` (one per order; the order's own table comes later, so
``order_id`` has no foreign key here).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 15:00:57.775787
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('funding_pot',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('owner_organisation_id', sa.Integer(), nullable=False),
    sa.Column('funder_type', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('amount_pence', sa.BigInteger(), nullable=False),
    sa.Column('allocated_pence', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('financial_year', sa.String(length=7), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('recurrent', sa.Boolean(), nullable=False),
    sa.Column('conditions', sa.String(length=4000), nullable=False),
    sa.Column('agreement_summary', sa.String(length=4000), nullable=True),
    sa.Column('transfer_of_value_pence', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("(funder_type = 'pharma_joint_working') = (agreement_summary IS NOT NULL AND transfer_of_value_pence IS NOT NULL)", name=op.f('ck_funding_pot_pharma_transparency')),
    sa.CheckConstraint("funder_type IN ('charity', 'icb', 'nhs_england', 'other', 'pharma_joint_working', 'sbri')", name=op.f('ck_funding_pot_funder_type')),
    sa.CheckConstraint('allocated_pence >= 0 AND allocated_pence <= amount_pence', name=op.f('ck_funding_pot_not_over_allocated')),
    sa.CheckConstraint('amount_pence > 0', name=op.f('ck_funding_pot_amount')),
    sa.CheckConstraint('period_end >= period_start', name=op.f('ck_funding_pot_period')),
    sa.CheckConstraint('transfer_of_value_pence IS NULL OR transfer_of_value_pence >= 0', name=op.f('ck_funding_pot_transfer_of_value')),
    sa.ForeignKeyConstraint(['owner_organisation_id'], ['organisation.id'], name=op.f('fk_funding_pot_owner_organisation_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_funding_pot'))
    )
    with op.batch_alter_table('funding_pot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_funding_pot_owner_organisation_id'), ['owner_organisation_id'], unique=False)
        batch_op.create_index('ix_funding_pot_year_type', ['financial_year', 'funder_type'], unique=False)

    op.create_table('funding_allocation',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('pot_id', sa.String(length=36), nullable=False),
    sa.Column('recipient_organisation_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=1000), nullable=False),
    sa.Column('innovation_id', sa.String(length=36), nullable=True),
    sa.Column('contract_id', sa.String(length=36), nullable=True),
    sa.Column('signal_id', sa.String(length=36), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('amount_pence', sa.BigInteger(), nullable=False),
    sa.Column('drawn_pence', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('revision_number', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("status IN ('active', 'withdrawn')", name=op.f('ck_funding_allocation_status')),
    sa.CheckConstraint('amount_pence >= 0', name=op.f('ck_funding_allocation_amount')),
    sa.CheckConstraint('drawn_pence >= 0 AND drawn_pence <= amount_pence', name=op.f('ck_funding_allocation_not_overdrawn')),
    sa.CheckConstraint('period_end >= period_start', name=op.f('ck_funding_allocation_period')),
    sa.CheckConstraint('revision_number >= 1', name=op.f('ck_funding_allocation_revision_number')),
    sa.ForeignKeyConstraint(['contract_id'], ['contract.id'], name=op.f('fk_funding_allocation_contract_id_contract')),
    sa.ForeignKeyConstraint(['innovation_id'], ['innovation.id'], name=op.f('fk_funding_allocation_innovation_id_innovation')),
    sa.ForeignKeyConstraint(['pot_id'], ['funding_pot.id'], name=op.f('fk_funding_allocation_pot_id_funding_pot')),
    sa.ForeignKeyConstraint(['recipient_organisation_id'], ['organisation.id'], name=op.f('fk_funding_allocation_recipient_organisation_id_organisation')),
    sa.ForeignKeyConstraint(['signal_id'], ['demand_signal.id'], name=op.f('fk_funding_allocation_signal_id_demand_signal')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_funding_allocation'))
    )
    with op.batch_alter_table('funding_allocation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_funding_allocation_pot_id'), ['pot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_funding_allocation_recipient_organisation_id'), ['recipient_organisation_id'], unique=False)

    op.create_table('funding_allocation_revision',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('allocation_id', sa.String(length=36), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('supersedes_id', sa.String(length=36), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('previous_amount_pence', sa.BigInteger(), nullable=True),
    sa.Column('amount_pence', sa.BigInteger(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('reason_code', sa.String(length=40), nullable=True),
    sa.Column('reason', sa.String(length=1000), nullable=True),
    sa.Column('made_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('made_by', sa.String(length=64), nullable=False),
    sa.CheckConstraint("(number = 1) = (kind = 'allocate')", name=op.f('ck_funding_allocation_revision_first_allocates')),
    sa.CheckConstraint("kind IN ('allocate', 'increase', 'reduce', 'reprofile', 'withdraw')", name=op.f('ck_funding_allocation_revision_kind')),
    sa.CheckConstraint("reason_code IS NULL OR reason_code IN ('additional_funding', 'correction', 'other', 'reprofiled', 'scope_change', 'underspend')", name=op.f('ck_funding_allocation_revision_reason_code')),
    sa.CheckConstraint("status IN ('active', 'withdrawn')", name=op.f('ck_funding_allocation_revision_status')),
    sa.CheckConstraint('(number = 1) = (supersedes_id IS NULL)', name=op.f('ck_funding_allocation_revision_chain')),
    sa.CheckConstraint('amount_pence >= 0', name=op.f('ck_funding_allocation_revision_amount')),
    sa.CheckConstraint('number >= 1', name=op.f('ck_funding_allocation_revision_number')),
    sa.ForeignKeyConstraint(['allocation_id'], ['funding_allocation.id'], name=op.f('fk_funding_allocation_revision_allocation_id_funding_allocation')),
    sa.ForeignKeyConstraint(['supersedes_id'], ['funding_allocation_revision.id'], name=op.f('fk_funding_allocation_revision_supersedes_id_funding_allocation_revision')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_funding_allocation_revision')),
    sa.UniqueConstraint('allocation_id', 'number', name=op.f('uq_funding_allocation_revision_allocation_id_number')),
    sa.UniqueConstraint('supersedes_id', name=op.f('uq_funding_allocation_revision_supersedes_id'))
    )
    with op.batch_alter_table('funding_allocation_revision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_funding_allocation_revision_allocation_id'), ['allocation_id'], unique=False)

    op.create_table('funding_drawdown',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('allocation_id', sa.String(length=36), nullable=False),
    sa.Column('order_id', sa.String(length=36), nullable=False),
    sa.Column('amount_pence', sa.BigInteger(), nullable=False),
    sa.Column('drawn_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('drawn_by', sa.String(length=64), nullable=False),
    sa.CheckConstraint('amount_pence > 0', name=op.f('ck_funding_drawdown_amount')),
    sa.ForeignKeyConstraint(['allocation_id'], ['funding_allocation.id'], name=op.f('fk_funding_drawdown_allocation_id_funding_allocation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_funding_drawdown')),
    sa.UniqueConstraint('order_id', name=op.f('uq_funding_drawdown_order_id'))
    )
    with op.batch_alter_table('funding_drawdown', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_funding_drawdown_allocation_id'), ['allocation_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('funding_drawdown', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_funding_drawdown_allocation_id'))

    op.drop_table('funding_drawdown')
    with op.batch_alter_table('funding_allocation_revision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_funding_allocation_revision_allocation_id'))

    op.drop_table('funding_allocation_revision')
    with op.batch_alter_table('funding_allocation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_funding_allocation_recipient_organisation_id'))
        batch_op.drop_index(batch_op.f('ix_funding_allocation_pot_id'))

    op.drop_table('funding_allocation')
    with op.batch_alter_table('funding_pot', schema=None) as batch_op:
        batch_op.drop_index('ix_funding_pot_year_type')
        batch_op.drop_index(batch_op.f('ix_funding_pot_owner_organisation_id'))

    op.drop_table('funding_pot')
