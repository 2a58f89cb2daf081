"""Covering indexes for the rule of "pre-approved", read by demand's supply and matches.

``ix_approval_live_version`` (status, expiry, listing, version) finds the live approvals
with the listing version each covers from the index alone (the approval rows are wide);
``ix_innovation_id_version_status`` (id, version, status, pk) joins each to its listing's
current version and publication without reading the listing row either.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 12:00:00
"""
from __future__ import annotations

from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('approval', schema=None) as batch_op:
        batch_op.create_index('ix_approval_live_version', ['status', 'expires_at', 'innovation_id', 'product_version'], unique=False)
    with op.batch_alter_table('innovation', schema=None) as batch_op:
        batch_op.create_index('ix_innovation_id_version_status', ['id', 'product_version', 'status', 'pk'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('innovation', schema=None) as batch_op:
        batch_op.drop_index('ix_innovation_id_version_status')
    with op.batch_alter_table('approval', schema=None) as batch_op:
        batch_op.drop_index('ix_approval_live_version')
