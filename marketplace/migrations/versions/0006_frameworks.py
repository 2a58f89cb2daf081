"""Frameworks, lots and framework awards (issue 14).

Four tables, as ``marketplace.frameworks.models`` declares them: ``framework`` (its
status CHECK, a period that ends after it starts, a unique public reference),
``framework_lot`` (lot numbers and positions unique per framework, and a unique
``(id, framework_id)`` that awards point at, so an award's lot always belongs to the
award's framework), ``framework_award`` (the central approval it rests on, so an
approval's revocation or expiry finds its awards; a partial unique index allows one
active award per lot and innovation; withdrawal codes checked) and
``framework_award_line`` (ceiling unit prices in integer pence, never negative, one per
item). Indexes on ``(status, ends_at)`` serve the expiry deadlines of ``marketplace tick``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 10:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

ACTIVE_AWARD = "status = 'active'"


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade() -> None:
    op.create_table('framework',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('reference', sa.String(length=41), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.String(length=4000), nullable=False),
    sa.Column('owner_organisation_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expired_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("status IN ('draft', 'expired', 'published')", name=op.f('ck_framework_status')),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_framework_period')),
    sa.ForeignKeyConstraint(['owner_organisation_id'], ['organisation.id'], name=op.f('fk_framework_owner_organisation_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_framework')),
    sa.UniqueConstraint('reference', name=op.f('uq_framework_reference'))
    )
    with op.batch_alter_table('framework', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_framework_owner_organisation_id'), ['owner_organisation_id'], unique=False)
        batch_op.create_index('ix_framework_status_ends_at', ['status', 'ends_at'], unique=False)

    op.create_table('framework_lot',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('framework_id', sa.String(length=36), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('lot_number', sa.String(length=4), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('categories', _json(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('position >= 1', name=op.f('ck_framework_lot_position')),
    sa.ForeignKeyConstraint(['framework_id'], ['framework.id'], name=op.f('fk_framework_lot_framework_id_framework')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_framework_lot')),
    sa.UniqueConstraint('framework_id', 'lot_number', name=op.f('uq_framework_lot_framework_id_lot_number')),
    sa.UniqueConstraint('framework_id', 'position', name=op.f('uq_framework_lot_framework_id_position')),
    sa.UniqueConstraint('id', 'framework_id', name=op.f('uq_framework_lot_id_framework_id'))
    )

    op.create_table('framework_award',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('framework_id', sa.String(length=36), nullable=False),
    sa.Column('lot_id', sa.String(length=36), nullable=False),
    sa.Column('innovation_id', sa.String(length=36), nullable=False),
    sa.Column('supplier_organisation_id', sa.Integer(), nullable=False),
    sa.Column('approval_id', sa.String(length=36), nullable=False),
    sa.Column('product_version', sa.String(length=50), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('awarded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('awarded_by', sa.String(length=64), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason_code', sa.String(length=40), nullable=True),
    sa.Column('reason', sa.String(length=1000), nullable=True),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("reason_code IS NULL OR reason_code IN ('approval_revoked', 'exclusion_ground', 'insolvency', 'other', 'performance', 'supplier_request')", name=op.f('ck_framework_award_reason_code')),
    sa.CheckConstraint("status IN ('active', 'expired', 'withdrawn')", name=op.f('ck_framework_award_status')),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_framework_award_period')),
    sa.ForeignKeyConstraint(['approval_id'], ['approval.id'], name=op.f('fk_framework_award_approval_id_approval')),
    sa.ForeignKeyConstraint(['framework_id'], ['framework.id'], name=op.f('fk_framework_award_framework_id_framework')),
    sa.ForeignKeyConstraint(['innovation_id'], ['innovation.id'], name=op.f('fk_framework_award_innovation_id_innovation')),
    # The lot and the award name the same framework.
    sa.ForeignKeyConstraint(['lot_id', 'framework_id'], ['framework_lot.id', 'framework_lot.framework_id'], name=op.f('fk_framework_award_lot_id_framework_lot')),
    sa.ForeignKeyConstraint(['supplier_organisation_id'], ['organisation.id'], name=op.f('fk_framework_award_supplier_organisation_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_framework_award'))
    )
    with op.batch_alter_table('framework_award', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_framework_award_approval_id'), ['approval_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_framework_award_framework_id'), ['framework_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_framework_award_innovation_id'), ['innovation_id'], unique=False)
        batch_op.create_index('ix_framework_award_status_ends_at', ['status', 'ends_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_framework_award_supplier_organisation_id'), ['supplier_organisation_id'], unique=False)
        # At most one active award per lot and innovation.
        batch_op.create_index('uq_framework_award_active_lot_innovation', ['lot_id', 'innovation_id'], unique=True, sqlite_where=sa.text(ACTIVE_AWARD), postgresql_where=sa.text(ACTIVE_AWARD))

    op.create_table('framework_award_line',
    sa.Column('award_id', sa.String(length=36), nullable=False),
    sa.Column('item_id', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('unit_code', sa.String(length=3), nullable=False),
    sa.Column('ceiling_unit_price_pence', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('ceiling_unit_price_pence >= 0', name=op.f('ck_framework_award_line_ceiling_not_negative')),
    sa.ForeignKeyConstraint(['award_id'], ['framework_award.id'], name=op.f('fk_framework_award_line_award_id_framework_award')),
    sa.PrimaryKeyConstraint('award_id', 'item_id', name=op.f('pk_framework_award_line')),
    sa.UniqueConstraint('award_id', 'position', name=op.f('uq_framework_award_line_award_id_position'))
    )


def downgrade() -> None:
    op.drop_table('framework_award_line')
    with op.batch_alter_table('framework_award', schema=None) as batch_op:
        batch_op.drop_index('uq_framework_award_active_lot_innovation', sqlite_where=sa.text(ACTIVE_AWARD), postgresql_where=sa.text(ACTIVE_AWARD))
        batch_op.drop_index(batch_op.f('ix_framework_award_supplier_organisation_id'))
        batch_op.drop_index('ix_framework_award_status_ends_at')
        batch_op.drop_index(batch_op.f('ix_framework_award_innovation_id'))
        batch_op.drop_index(batch_op.f('ix_framework_award_framework_id'))
        batch_op.drop_index(batch_op.f('ix_framework_award_approval_id'))

    op.drop_table('framework_award')
    op.drop_table('framework_lot')
    with op.batch_alter_table('framework', schema=None) as batch_op:
        batch_op.drop_index('ix_framework_status_ends_at')
        batch_op.drop_index(batch_op.f('ix_framework_owner_organisation_id'))

    op.drop_table('framework')
