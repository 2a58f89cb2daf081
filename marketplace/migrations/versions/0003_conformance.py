"""Trust conformance: the latest route.applied acknowledgement per trust adapter.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 06:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('trust_conformance',
    sa.Column('trust_ods', sa.String(length=8), nullable=False),
    sa.Column('route_version', sa.String(length=20), nullable=False),
    sa.Column('last_sequence', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('state_hash', sa.String(length=64), nullable=False),
    sa.Column('applied_count', sa.BigInteger(), nullable=False),
    sa.Column('acked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ack_id', sa.String(length=100), nullable=False),
    sa.Column('ack_sequence', sa.BigInteger(), nullable=False),
    sa.Column('position_since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('acks_received', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('trust_ods', name=op.f('pk_trust_conformance'))
    )


def downgrade() -> None:
    op.drop_table('trust_conformance')
