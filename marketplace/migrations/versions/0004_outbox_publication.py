"""Outbox publication state in two narrow tables; the outbox itself becomes append-only.

Publishing used to update each outbox row (``published_at``, ``feed_position``):
a copy of the whole row, payload included, and an entry in every one of its
indexes, per event. Now the relay deletes the event's row from ``outbox_pending``
(its work queue, holding only the backlog) and appends one to ``event_feed``
(position, outbox id, published at). Existing rows move across: published rows
keep their feed positions, unpublished ones become pending.

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

_BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_UNPUBLISHED = sa.text('published_at IS NULL')


def upgrade() -> None:
    op.create_table('event_feed',
    sa.Column('position', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('outbox_id', _BigId, nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('position', name=op.f('pk_event_feed')),
    sa.UniqueConstraint('outbox_id', name=op.f('uq_event_feed_outbox_id'))
    )
    op.execute("INSERT INTO event_feed (position, outbox_id, published_at)"
               " SELECT feed_position, id, published_at FROM outbox"
               " WHERE published_at IS NOT NULL")
    # Before anything references outbox: SQLite's batch mode recreates the table.
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_unpublished', postgresql_where=_UNPUBLISHED,
                            sqlite_where=_UNPUBLISHED)
        batch_op.drop_constraint(batch_op.f('uq_outbox_feed_position'), type_='unique')
        batch_op.drop_column('published_at')
        batch_op.drop_column('feed_position')
        batch_op.drop_column('attempts')
        batch_op.drop_column('last_error')
    op.create_table('outbox_pending',
    sa.Column('outbox_id', _BigId, autoincrement=False, nullable=False),
    sa.Column('aggregate_key', sa.String(length=100), nullable=False),
    sa.Column('sequence', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'],
                            name=op.f('fk_outbox_pending_outbox_id_outbox')),
    sa.PrimaryKeyConstraint('outbox_id', name=op.f('pk_outbox_pending')),
    sa.UniqueConstraint('aggregate_key', 'sequence',
                        name=op.f('uq_outbox_pending_aggregate_key_sequence'))
    )
    op.execute("INSERT INTO outbox_pending (outbox_id, aggregate_key, sequence)"
               " SELECT id, aggregate_key, sequence FROM outbox o WHERE NOT EXISTS"
               " (SELECT 1 FROM event_feed f WHERE f.outbox_id = o.id)")


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('published_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('feed_position', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default=sa.text('0'),
                                      nullable=False))
        batch_op.add_column(sa.Column('last_error', sa.Text(), nullable=True))
    op.execute("UPDATE outbox SET"
               " published_at = (SELECT published_at FROM event_feed f WHERE f.outbox_id = outbox.id),"
               " feed_position = (SELECT position FROM event_feed f WHERE f.outbox_id = outbox.id)")
    op.drop_table('outbox_pending')
    op.drop_table('event_feed')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f('uq_outbox_feed_position'), ['feed_position'])
        batch_op.create_index('ix_outbox_unpublished', ['id'], unique=False,
                              postgresql_where=_UNPUBLISHED, sqlite_where=_UNPUBLISHED)
