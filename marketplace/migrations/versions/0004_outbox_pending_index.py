"""Outbox: a partial index of the pending rows per aggregate, for the relay's order check.

Before sending an aggregate's rows the relay looks up that aggregate's oldest
unpublished sequence. Through the (aggregate_key, sequence) unique index that
lookup walked the aggregate's whole published history; this index holds only
pending rows, so the lookup costs one probe however long the history grows.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 08:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_pending_by_aggregate', ['aggregate_key', 'sequence'],
                              unique=False, postgresql_where=sa.text('published_at IS NULL'),
                              sqlite_where=sa.text('published_at IS NULL'))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_pending_by_aggregate',
                            postgresql_where=sa.text('published_at IS NULL'),
                            sqlite_where=sa.text('published_at IS NULL'))
