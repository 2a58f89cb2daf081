"""Demand signals (issue 14): ICB needs, their facets, and the national demand tallies.

``demand_signal`` holds each need (categories and pathway stages as JSON lists, as a
listing holds them). As for listings (0002), triggers copy the lists into the facet
tables ``demand_signal_category`` and ``demand_signal_pathway_stage``, so filters and
the reverse match (which signals a listing serves) are indexed lookups whoever writes
the signal. ``demand_tally`` holds the running sums of open demand per ICB, facet and
period (all time, month, day) that ``GET /demand/summary`` reads instead of every
signal; the application keeps it in the same transaction as each change.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 10:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade() -> None:
    op.create_table('demand_signal',
    sa.Column('pk', sa.Integer(), nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('icb_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('need', sa.String(length=4000), nullable=False),
    sa.Column('categories', _json(), nullable=False),
    sa.Column('pathway_stages', _json(), nullable=False),
    sa.Column('use_cases', _json(), nullable=False),
    sa.Column('trusts', _json(), nullable=False),
    sa.Column('min_esf_tier', sa.String(length=1), nullable=False),
    sa.Column('requires_central_approval', sa.Boolean(), nullable=False),
    sa.Column('population_covered', sa.BigInteger(), nullable=True),
    sa.Column('indicative_budget_pence', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('needed_by', sa.Date(), nullable=True),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('posted_on', sa.Date(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=True),
    sa.Column('tender_id', sa.String(length=64), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("status IN ('closed', 'open')", name=op.f('ck_demand_signal_status')),
    sa.CheckConstraint("min_esf_tier IN ('A', 'B', 'C')", name=op.f('ck_demand_signal_min_esf_tier')),
    sa.CheckConstraint("outcome IS NULL OR outcome IN ('expired', 'met_by_existing_contract', 'tender_published', 'withdrawn')", name=op.f('ck_demand_signal_outcome')),
    sa.ForeignKeyConstraint(['icb_id'], ['organisation.id'], name=op.f('fk_demand_signal_icb_id_organisation')),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_demand_signal')),
    sa.UniqueConstraint('id', name=op.f('uq_demand_signal_id'))
    )
    with op.batch_alter_table('demand_signal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_demand_signal_icb_id'), ['icb_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_demand_signal_posted_on'), ['posted_on'], unique=False)
        batch_op.create_index('ix_demand_signal_status_posted_at', ['status', 'posted_at', 'pk'], unique=False)

    op.create_table('demand_signal_category',
    sa.Column('signal_pk', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['signal_pk'], ['demand_signal.pk'], name=op.f('fk_demand_signal_category_signal_pk_demand_signal'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('signal_pk', 'category', name=op.f('pk_demand_signal_category'))
    )
    with op.batch_alter_table('demand_signal_category', schema=None) as batch_op:
        batch_op.create_index('ix_demand_signal_category_category', ['category', 'signal_pk'], unique=False)

    op.create_table('demand_signal_pathway_stage',
    sa.Column('signal_pk', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['signal_pk'], ['demand_signal.pk'], name=op.f('fk_demand_signal_pathway_stage_signal_pk_demand_signal'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('signal_pk', 'stage', name=op.f('pk_demand_signal_pathway_stage'))
    )
    with op.batch_alter_table('demand_signal_pathway_stage', schema=None) as batch_op:
        batch_op.create_index('ix_demand_signal_pathway_stage_stage', ['stage', 'signal_pk'], unique=False)

    op.create_table('demand_tally',
    sa.Column('grain', sa.String(length=8), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('icb_id', sa.Integer(), nullable=False),
    sa.Column('facet_kind', sa.String(length=16), nullable=False),
    sa.Column('facet', sa.String(length=100), nullable=False),
    sa.Column('open_signals', sa.BigInteger(), nullable=False),
    sa.Column('budget_pence', sa.BigInteger(), nullable=False),
    sa.Column('signals_with_budget', sa.BigInteger(), nullable=False),
    sa.Column('population', sa.BigInteger(), nullable=False),
    sa.Column('signals_with_population', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['icb_id'], ['organisation.id'], name=op.f('fk_demand_tally_icb_id_organisation')),
    sa.PrimaryKeyConstraint('grain', 'period_start', 'icb_id', 'facet_kind', 'facet', name=op.f('pk_demand_tally'))
    )

    _create_facet_triggers()


# The facet tables mirror the signal's JSON lists, as innovation_category and
# innovation_pathway_stage mirror a listing's (0002).
_FACETS = (("demand_signal_category", "category", "categories"),
           ("demand_signal_pathway_stage", "stage", "pathway_stages"))


def _postgres_facet_function() -> str:
    body = "".join(
        f"DELETE FROM {table} WHERE signal_pk = NEW.pk; "
        f"INSERT INTO {table} (signal_pk, {column}) SELECT DISTINCT NEW.pk, value "
        f"FROM jsonb_array_elements_text(NEW.{source}); "
        for table, column, source in _FACETS)
    return ("CREATE FUNCTION demand_signal_facets_sync() RETURNS trigger AS $$ "
            f"BEGIN {body}RETURN NULL; END; $$ LANGUAGE plpgsql")


def _sqlite_facets(delete: bool) -> str:
    return " ".join(
        (f"DELETE FROM {table} WHERE signal_pk = old.pk; " if delete else "")
        + f"INSERT INTO {table} (signal_pk, {column}) SELECT DISTINCT new.pk, value "
        f"FROM json_each(new.{source});"
        for table, column, source in _FACETS)


def _create_facet_triggers() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(_postgres_facet_function())
        op.execute("CREATE TRIGGER demand_signal_facets AFTER INSERT OR UPDATE OF categories, "
                   "pathway_stages ON demand_signal FOR EACH ROW "
                   "EXECUTE FUNCTION demand_signal_facets_sync()")
    else:
        op.execute("CREATE TRIGGER demand_signal_facets_insert AFTER INSERT ON demand_signal "
                   f"BEGIN {_sqlite_facets(delete=False)} END")
        op.execute("CREATE TRIGGER demand_signal_facets_update AFTER UPDATE OF categories, "
                   f"pathway_stages ON demand_signal BEGIN {_sqlite_facets(delete=True)} END")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS demand_signal_facets ON demand_signal")
        op.execute("DROP FUNCTION IF EXISTS demand_signal_facets_sync()")
    else:
        for trigger in ("facets_insert", "facets_update"):
            op.execute(f"DROP TRIGGER IF EXISTS demand_signal_{trigger}")
    op.drop_table('demand_tally')
    with op.batch_alter_table('demand_signal_pathway_stage', schema=None) as batch_op:
        batch_op.drop_index('ix_demand_signal_pathway_stage_stage')

    op.drop_table('demand_signal_pathway_stage')
    with op.batch_alter_table('demand_signal_category', schema=None) as batch_op:
        batch_op.drop_index('ix_demand_signal_category_category')

    op.drop_table('demand_signal_category')
    with op.batch_alter_table('demand_signal', schema=None) as batch_op:
        batch_op.drop_index('ix_demand_signal_status_posted_at')
        batch_op.drop_index(batch_op.f('ix_demand_signal_posted_on'))
        batch_op.drop_index(batch_op.f('ix_demand_signal_icb_id'))

    op.drop_table('demand_signal')
