"""Web sign-in (issue 17): a lockout and a rate limit on repeated failures.

``web_user`` gains ``failed_attempts`` (wrong passwords in a row), ``locked_until`` (set
by the fifth), ``last_signed_in_at`` and ``session_generation`` (moved on by signing
out, so earlier session cookies stop working); ``sign_in_failure`` keeps each failed
sign-in's client address and time, for the per-address rate limit's window only.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 15:49:41.405487
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sign_in_failure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client', sa.String(length=64), nullable=False),
    sa.Column('failed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_failure'))
    )
    with op.batch_alter_table('sign_in_failure', schema=None) as batch_op:
        batch_op.create_index('ix_sign_in_failure_client_at', ['client', 'failed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sign_in_failure_failed_at'), ['failed_at'], unique=False)

    with op.batch_alter_table('web_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_signed_in_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('session_generation', sa.Integer(), server_default='0', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('web_user', schema=None) as batch_op:
        batch_op.drop_column('session_generation')
        batch_op.drop_column('last_signed_in_at')
        batch_op.drop_column('locked_until')
        batch_op.drop_column('failed_attempts')

    with op.batch_alter_table('sign_in_failure', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sign_in_failure_failed_at'))
        batch_op.drop_index('ix_sign_in_failure_client_at')

    op.drop_table('sign_in_failure')
