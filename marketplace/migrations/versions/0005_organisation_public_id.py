"""Organisations get a stable public id (a UUID) for events and the API.

Events named an organisation by its row number (``"innovator_org_id": "14"``), which
means something else in another environment or after a restore. Existing rows get a
fresh UUID each; from now on events carry ``organisation.public_id``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:00:00
"""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('organisation') as batch:
        batch.add_column(sa.Column('public_id', sa.String(length=36), nullable=True))
    organisation = sa.table('organisation', sa.column('id', sa.Integer),
                            sa.column('public_id', sa.String))
    conn = op.get_bind()
    for (row_id,) in conn.execute(sa.select(organisation.c.id)).all():
        conn.execute(organisation.update().where(organisation.c.id == row_id)
                     .values(public_id=str(uuid.uuid4())))
    with op.batch_alter_table('organisation') as batch:
        batch.alter_column('public_id', existing_type=sa.String(length=36), nullable=False)
        batch.create_unique_constraint(op.f('uq_organisation_public_id'), ['public_id'])


def downgrade() -> None:
    with op.batch_alter_table('organisation') as batch:
        batch.drop_constraint(op.f('uq_organisation_public_id'), type_='unique')
        batch.drop_column('public_id')
