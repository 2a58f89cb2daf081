"""Tenders, contracts and open contracting releases (issue 15).

``tender`` (status and procedure CHECKs; a framework competition names a framework and a
lot of it, through a composite foreign key, an open procedure names neither; the
clarification deadline before the submission deadline; one award per tender),
``tender_criterion`` (weights 1-100), ``tender_question``, ``tender_response`` (one per
tender and listing; the price and answers only as AES-GCM ciphertext), ``tender_score``
(0-100, one per response and criterion), ``contract`` (one per tender), ``contract_line``,
``contract_variation`` (numbered from 1, unique per contract), ``ocds_release`` and its
one-row position counter ``ocds_position``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 11:31:51.274053
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ocds_position',
    sa.Column('name', sa.String(length=16), nullable=False),
    sa.Column('last', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_ocds_position'))
    )
    op.execute("INSERT INTO ocds_position (name, last) VALUES ('releases', 0)")
    op.create_table('tender',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('reference', sa.String(length=41), nullable=False),
    sa.Column('icb_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('procedure', sa.String(length=32), nullable=False),
    sa.Column('framework_id', sa.String(length=36), nullable=True),
    sa.Column('lot_id', sa.String(length=36), nullable=True),
    sa.Column('signal_id', sa.String(length=36), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.String(length=8000), nullable=False),
    sa.Column('categories', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('pathway_stages', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('lines', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('estimated_value_pence', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('contract_term_months', sa.Integer(), nullable=False),
    sa.Column('min_esf_tier', sa.String(length=1), nullable=False),
    sa.Column('accelerator', sa.Integer(), nullable=False),
    sa.Column('clarification_deadline', sa.DateTime(timezone=True), nullable=False),
    sa.Column('submission_deadline', sa.DateTime(timezone=True), nullable=False),
    sa.Column('clarification_closes_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('submission_closes_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('evaluated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('responses_received', sa.Integer(), nullable=True),
    sa.Column('award_id', sa.String(length=36), nullable=True),
    sa.Column('awarded_response_id', sa.String(length=36), nullable=True),
    sa.Column('awarded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('standstill_ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason_code', sa.String(length=40), nullable=True),
    sa.Column('reason', sa.String(length=1000), nullable=True),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("(procedure = 'framework_competition') = (framework_id IS NOT NULL AND lot_id IS NOT NULL)", name=op.f('ck_tender_framework_competition')),
    sa.CheckConstraint("min_esf_tier IN ('A', 'B', 'C')", name=op.f('ck_tender_min_esf_tier')),
    sa.CheckConstraint("procedure IN ('framework_competition', 'open')", name=op.f('ck_tender_procedure')),
    sa.CheckConstraint("reason_code IS NULL OR reason_code IN ('budget_withdrawn', 'need_changed', 'no_responses', 'no_suitable_responses', 'other', 'procedural_error')", name=op.f('ck_tender_reason_code')),
    sa.CheckConstraint("status IN ('awarded', 'cancelled', 'closed', 'draft', 'evaluated', 'published', 'unsuccessful')", name=op.f('ck_tender_status')),
    sa.CheckConstraint('accelerator BETWEEN 1 AND 14400', name=op.f('ck_tender_accelerator')),
    sa.CheckConstraint('contract_term_months >= 1', name=op.f('ck_tender_contract_term')),
    sa.CheckConstraint('estimated_value_pence >= 0', name=op.f('ck_tender_estimated_value')),
    sa.CheckConstraint('submission_deadline > clarification_deadline', name=op.f('ck_tender_deadlines')),
    sa.ForeignKeyConstraint(['framework_id'], ['framework.id'], name=op.f('fk_tender_framework_id_framework')),
    sa.ForeignKeyConstraint(['icb_id'], ['organisation.id'], name=op.f('fk_tender_icb_id_organisation')),
    sa.ForeignKeyConstraint(['lot_id', 'framework_id'], ['framework_lot.id', 'framework_lot.framework_id'], name=op.f('fk_tender_lot_id_framework_lot')),
    sa.ForeignKeyConstraint(['signal_id'], ['demand_signal.id'], name=op.f('fk_tender_signal_id_demand_signal')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tender')),
    sa.UniqueConstraint('award_id', name=op.f('uq_tender_award_id')),
    sa.UniqueConstraint('reference', name=op.f('uq_tender_reference'))
    )
    with op.batch_alter_table('tender', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tender_framework_id'), ['framework_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tender_icb_id'), ['icb_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tender_signal_id'), ['signal_id'], unique=False)
        batch_op.create_index('ix_tender_status_published_at', ['status', 'published_at'], unique=False)
        batch_op.create_index('ix_tender_status_submission_closes_at', ['status', 'submission_closes_at'], unique=False)

    op.create_table('contract',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('reference', sa.String(length=41), nullable=False),
    sa.Column('tender_id', sa.String(length=36), nullable=True),
    sa.Column('award_id', sa.String(length=36), nullable=True),
    sa.Column('framework_id', sa.String(length=36), nullable=True),
    sa.Column('buyer_icb_id', sa.Integer(), nullable=False),
    sa.Column('supplier_organisation_id', sa.Integer(), nullable=False),
    sa.Column('innovation_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('value_pence', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('term_months', sa.Integer(), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('eligible_trusts', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('payment_terms_days', sa.Integer(), nullable=False),
    sa.Column('standstill_ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('signed_by', sa.String(length=64), nullable=True),
    sa.Column('variation_number', sa.Integer(), nullable=False),
    sa.Column('terminated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('effective_on', sa.Date(), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason_code', sa.String(length=40), nullable=True),
    sa.Column('reason', sa.String(length=1000), nullable=True),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("reason_code IS NULL OR reason_code IN ('approval_revoked', 'breach', 'convenience', 'mutual_agreement', 'other', 'supplier_insolvency')", name=op.f('ck_contract_reason_code')),
    sa.CheckConstraint("status IN ('active', 'cancelled', 'pending', 'terminated')", name=op.f('ck_contract_status')),
    sa.CheckConstraint('ends_on >= starts_on', name=op.f('ck_contract_period')),
    sa.CheckConstraint('value_pence >= 0', name=op.f('ck_contract_value')),
    sa.CheckConstraint('variation_number >= 0', name=op.f('ck_contract_variation_number')),
    sa.ForeignKeyConstraint(['buyer_icb_id'], ['organisation.id'], name=op.f('fk_contract_buyer_icb_id_organisation')),
    sa.ForeignKeyConstraint(['framework_id'], ['framework.id'], name=op.f('fk_contract_framework_id_framework')),
    sa.ForeignKeyConstraint(['innovation_id'], ['innovation.id'], name=op.f('fk_contract_innovation_id_innovation')),
    sa.ForeignKeyConstraint(['supplier_organisation_id'], ['organisation.id'], name=op.f('fk_contract_supplier_organisation_id_organisation')),
    sa.ForeignKeyConstraint(['tender_id'], ['tender.id'], name=op.f('fk_contract_tender_id_tender')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contract')),
    sa.UniqueConstraint('reference', name=op.f('uq_contract_reference')),
    sa.UniqueConstraint('tender_id', name=op.f('uq_contract_tender_id'))
    )
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contract_buyer_icb_id'), ['buyer_icb_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_contract_innovation_id'), ['innovation_id'], unique=False)
        batch_op.create_index('ix_contract_status', ['status', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_contract_supplier_organisation_id'), ['supplier_organisation_id'], unique=False)

    op.create_table('ocds_release',
    sa.Column('position', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('ocid', sa.String(length=80), nullable=False),
    sa.Column('release_id', sa.String(length=120), nullable=False),
    sa.Column('tender_id', sa.String(length=36), nullable=False),
    sa.Column('tags', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('date', sa.DateTime(timezone=True), nullable=False),
    sa.Column('release', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['tender_id'], ['tender.id'], name=op.f('fk_ocds_release_tender_id_tender')),
    sa.PrimaryKeyConstraint('position', name=op.f('pk_ocds_release')),
    sa.UniqueConstraint('ocid', 'release_id', name=op.f('uq_ocds_release_ocid_release_id'))
    )
    with op.batch_alter_table('ocds_release', schema=None) as batch_op:
        batch_op.create_index('ix_ocds_release_ocid_position', ['ocid', 'position'], unique=False)
        batch_op.create_index(batch_op.f('ix_ocds_release_tender_id'), ['tender_id'], unique=False)

    op.create_table('tender_criterion',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tender_id', sa.String(length=36), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('weight_percent', sa.Integer(), nullable=False),
    sa.CheckConstraint("kind IN ('price', 'quality', 'social_value')", name=op.f('ck_tender_criterion_kind')),
    sa.CheckConstraint('weight_percent BETWEEN 1 AND 100', name=op.f('ck_tender_criterion_weight')),
    sa.ForeignKeyConstraint(['tender_id'], ['tender.id'], name=op.f('fk_tender_criterion_tender_id_tender')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tender_criterion')),
    sa.UniqueConstraint('tender_id', 'position', name=op.f('uq_tender_criterion_tender_id_position'))
    )
    with op.batch_alter_table('tender_criterion', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tender_criterion_tender_id'), ['tender_id'], unique=False)

    op.create_table('tender_question',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tender_id', sa.String(length=36), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('asker_organisation_id', sa.Integer(), nullable=False),
    sa.Column('question', sa.String(length=4000), nullable=False),
    sa.Column('asked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answer', sa.String(length=8000), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answered_by', sa.String(length=64), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['asker_organisation_id'], ['organisation.id'], name=op.f('fk_tender_question_asker_organisation_id_organisation')),
    sa.ForeignKeyConstraint(['tender_id'], ['tender.id'], name=op.f('fk_tender_question_tender_id_tender')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tender_question')),
    sa.UniqueConstraint('tender_id', 'number', name=op.f('uq_tender_question_tender_id_number'))
    )
    with op.batch_alter_table('tender_question', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tender_question_asker_organisation_id'), ['asker_organisation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tender_question_tender_id'), ['tender_id'], unique=False)

    op.create_table('contract_line',
    sa.Column('contract_id', sa.String(length=36), nullable=False),
    sa.Column('line_id', sa.String(length=36), nullable=False),
    sa.Column('item_id', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('unit_code', sa.String(length=3), nullable=False),
    sa.Column('unit_price_pence', sa.BigInteger(), nullable=False),
    sa.Column('vat_category', sa.String(length=2), nullable=False),
    sa.Column('vat_rate', sa.String(length=8), nullable=False),
    sa.Column('max_quantity', sa.BigInteger(), nullable=True),
    sa.CheckConstraint('max_quantity IS NULL OR max_quantity >= 1', name=op.f('ck_contract_line_max_quantity')),
    sa.CheckConstraint('unit_price_pence >= 0', name=op.f('ck_contract_line_unit_price')),
    sa.ForeignKeyConstraint(['contract_id'], ['contract.id'], name=op.f('fk_contract_line_contract_id_contract')),
    sa.PrimaryKeyConstraint('contract_id', 'line_id', name=op.f('pk_contract_line')),
    sa.UniqueConstraint('contract_id', 'item_id', name=op.f('uq_contract_line_contract_id_item_id')),
    sa.UniqueConstraint('contract_id', 'position', name=op.f('uq_contract_line_contract_id_position'))
    )
    op.create_table('contract_variation',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('contract_id', sa.String(length=36), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('previous_value_pence', sa.BigInteger(), nullable=False),
    sa.Column('value_pence', sa.BigInteger(), nullable=False),
    sa.Column('changed_fields', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('before', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('after', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('reason', sa.String(length=1000), nullable=False),
    sa.Column('varied_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('varied_by', sa.String(length=64), nullable=False),
    sa.CheckConstraint('number >= 1', name=op.f('ck_contract_variation_number')),
    sa.ForeignKeyConstraint(['contract_id'], ['contract.id'], name=op.f('fk_contract_variation_contract_id_contract')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contract_variation')),
    sa.UniqueConstraint('contract_id', 'number', name=op.f('uq_contract_variation_contract_id_number'))
    )
    with op.batch_alter_table('contract_variation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contract_variation_contract_id'), ['contract_id'], unique=False)

    op.create_table('tender_response',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tender_id', sa.String(length=36), nullable=False),
    sa.Column('innovation_id', sa.String(length=36), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('approval_id', sa.String(length=36), nullable=True),
    sa.Column('framework_award_id', sa.String(length=36), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('sealed', sa.LargeBinary(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('replaced_count', sa.Integer(), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("status IN ('submitted', 'withdrawn')", name=op.f('ck_tender_response_status')),
    sa.ForeignKeyConstraint(['approval_id'], ['approval.id'], name=op.f('fk_tender_response_approval_id_approval')),
    sa.ForeignKeyConstraint(['framework_award_id'], ['framework_award.id'], name=op.f('fk_tender_response_framework_award_id_framework_award')),
    sa.ForeignKeyConstraint(['innovation_id'], ['innovation.id'], name=op.f('fk_tender_response_innovation_id_innovation')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_tender_response_organisation_id_organisation')),
    sa.ForeignKeyConstraint(['tender_id'], ['tender.id'], name=op.f('fk_tender_response_tender_id_tender')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tender_response')),
    sa.UniqueConstraint('tender_id', 'innovation_id', name=op.f('uq_tender_response_tender_id_innovation_id'))
    )
    with op.batch_alter_table('tender_response', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tender_response_innovation_id'), ['innovation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tender_response_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_index('ix_tender_response_tender_status', ['tender_id', 'status'], unique=False)

    op.create_table('tender_score',
    sa.Column('response_id', sa.String(length=36), nullable=False),
    sa.Column('criterion_id', sa.String(length=36), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('rationale', sa.String(length=4000), nullable=False),
    sa.Column('scored_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('scored_by', sa.String(length=64), nullable=False),
    sa.CheckConstraint('score BETWEEN 0 AND 100', name=op.f('ck_tender_score_score')),
    sa.ForeignKeyConstraint(['criterion_id'], ['tender_criterion.id'], name=op.f('fk_tender_score_criterion_id_tender_criterion')),
    sa.ForeignKeyConstraint(['response_id'], ['tender_response.id'], name=op.f('fk_tender_score_response_id_tender_response')),
    sa.PrimaryKeyConstraint('response_id', 'criterion_id', name=op.f('pk_tender_score'))
    )


def downgrade() -> None:
    op.drop_table('tender_score')
    with op.batch_alter_table('tender_response', schema=None) as batch_op:
        batch_op.drop_index('ix_tender_response_tender_status')
        batch_op.drop_index(batch_op.f('ix_tender_response_organisation_id'))
        batch_op.drop_index(batch_op.f('ix_tender_response_innovation_id'))

    op.drop_table('tender_response')
    with op.batch_alter_table('contract_variation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contract_variation_contract_id'))

    op.drop_table('contract_variation')
    op.drop_table('contract_line')
    with op.batch_alter_table('tender_question', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tender_question_tender_id'))
        batch_op.drop_index(batch_op.f('ix_tender_question_asker_organisation_id'))

    op.drop_table('tender_question')
    with op.batch_alter_table('tender_criterion', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tender_criterion_tender_id'))

    op.drop_table('tender_criterion')
    with op.batch_alter_table('ocds_release', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ocds_release_tender_id'))
        batch_op.drop_index('ix_ocds_release_ocid_position')

    op.drop_table('ocds_release')
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contract_supplier_organisation_id'))
        batch_op.drop_index('ix_contract_status')
        batch_op.drop_index(batch_op.f('ix_contract_innovation_id'))
        batch_op.drop_index(batch_op.f('ix_contract_buyer_icb_id'))

    op.drop_table('contract')
    with op.batch_alter_table('tender', schema=None) as batch_op:
        batch_op.drop_index('ix_tender_status_submission_closes_at')
        batch_op.drop_index('ix_tender_status_published_at')
        batch_op.drop_index(batch_op.f('ix_tender_signal_id'))
        batch_op.drop_index(batch_op.f('ix_tender_icb_id'))
        batch_op.drop_index(batch_op.f('ix_tender_framework_id'))

    op.drop_table('tender')
    op.drop_table('ocds_position')
