"""Catalogue: innovation listings, evidence documents, central approvals, full-text search.

Full-text search is created by hand after the tables (models do not describe it):
SQLite gets an external-content FTS5 table ``innovation_fts`` whose rowid is
``innovation.pk``, kept in sync by triggers; PostgreSQL a generated
``innovation.search_vector`` tsvector column with a GIN index. Both index the name,
summary and use cases, weighting the name highest.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 05:38:34.257147
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

OPEN_APPROVAL = "status IN ('approved', 'conditional', 'submitted', 'suspended', 'under_review')"


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade() -> None:
    op.create_table('innovation',
    sa.Column('pk', sa.Integer(), nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('summary', sa.String(length=2000), nullable=False),
    sa.Column('product_version', sa.String(length=50), nullable=False),
    sa.Column('categories', _json(), nullable=False),
    sa.Column('pathway_stages', _json(), nullable=False),
    sa.Column('use_cases', _json(), nullable=False),
    sa.Column('esf_tier', sa.String(length=1), nullable=False),
    sa.Column('device_class', sa.String(length=16), nullable=False),
    sa.Column('device_mark', sa.String(length=8), nullable=False),
    sa.Column('pricing_model', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('withdrawal_reason', sa.String(length=1000), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("status IN ('draft', 'published', 'withdrawn')", name=op.f('ck_innovation_status')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_innovation_organisation_id_organisation')),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_innovation')),
    sa.UniqueConstraint('id', name=op.f('uq_innovation_id'))
    )
    with op.batch_alter_table('innovation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_innovation_device_class'), ['device_class'], unique=False)
        batch_op.create_index(batch_op.f('ix_innovation_esf_tier'), ['esf_tier'], unique=False)
        batch_op.create_index(batch_op.f('ix_innovation_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_index('ix_innovation_status_published_at', ['status', 'published_at', 'pk'], unique=False)

    op.create_table('evidence_document',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('innovation_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('media_type', sa.String(length=100), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('uploaded_by', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['innovation_id'], ['innovation.id'], name=op.f('fk_evidence_document_innovation_id_innovation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evidence_document'))
    )
    with op.batch_alter_table('evidence_document', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evidence_document_innovation_id'), ['innovation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_evidence_document_sha256'), ['sha256'], unique=False)

    op.create_table('innovation_category',
    sa.Column('innovation_pk', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['innovation_pk'], ['innovation.pk'], name=op.f('fk_innovation_category_innovation_pk_innovation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('innovation_pk', 'category', name=op.f('pk_innovation_category'))
    )
    with op.batch_alter_table('innovation_category', schema=None) as batch_op:
        batch_op.create_index('ix_innovation_category_category', ['category', 'innovation_pk'], unique=False)

    op.create_table('innovation_pathway_stage',
    sa.Column('innovation_pk', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['innovation_pk'], ['innovation.pk'], name=op.f('fk_innovation_pathway_stage_innovation_pk_innovation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('innovation_pk', 'stage', name=op.f('pk_innovation_pathway_stage'))
    )
    with op.batch_alter_table('innovation_pathway_stage', schema=None) as batch_op:
        batch_op.create_index('ix_innovation_pathway_stage_stage', ['stage', 'innovation_pk'], unique=False)

    op.create_table('approval',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('innovation_id', sa.String(length=36), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('product_version', sa.String(length=50), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('previous_status', sa.String(length=16), nullable=True),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('submitted_by', sa.String(length=64), nullable=False),
    sa.Column('review_started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('assessor_organisation_id', sa.Integer(), nullable=True),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason_code', sa.String(length=40), nullable=True),
    sa.Column('reason', sa.String(length=1000), nullable=True),
    sa.Column('safety_case_evidence_id', sa.String(length=36), nullable=False),
    sa.Column('hazard_log_evidence_id', sa.String(length=36), nullable=False),
    sa.Column('clinical_safety_officer', sa.String(length=200), nullable=False),
    sa.Column('clinical_safety_officer_registration', sa.String(length=50), nullable=False),
    sa.Column('ico_registration', sa.String(length=16), nullable=False),
    sa.Column('dpia_evidence_id', sa.String(length=36), nullable=False),
    sa.Column('dspt_status', sa.String(length=32), nullable=False),
    sa.Column('dspt_year', sa.String(length=7), nullable=False),
    sa.Column('cyber_essentials_level', sa.String(length=32), nullable=False),
    sa.Column('cyber_essentials_expires_on', sa.Date(), nullable=False),
    sa.Column('penetration_test_on', sa.Date(), nullable=True),
    sa.Column('penetration_test_evidence_id', sa.String(length=36), nullable=True),
    sa.Column('mfa_enabled', sa.Boolean(), nullable=False),
    sa.Column('interoperability_standards', _json(), nullable=False),
    sa.Column('interoperability_notes', sa.String(length=2000), nullable=True),
    sa.Column('wcag_level', sa.String(length=3), nullable=False),
    sa.Column('accessibility_notes', sa.String(length=2000), nullable=True),
    sa.Column('device_class', sa.String(length=16), nullable=False),
    sa.Column('device_mark', sa.String(length=8), nullable=False),
    sa.Column('device_certificate_expires_on', sa.Date(), nullable=True),
    sa.Column('device_certificate_evidence_id', sa.String(length=36), nullable=True),
    sa.Column('nice_esf_tier', sa.String(length=1), nullable=False),
    sa.Column('nice_route', sa.String(length=40), nullable=True),
    sa.Column('nice_recommendation', sa.String(length=1000), nullable=True),
    sa.Column('dtac', _json(), nullable=True),
    sa.Column('conditions', _json(), nullable=False),
    sa.Column('decision_notes', sa.String(length=2000), nullable=True),
    sa.Column('evidence_expiries', _json(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lapsed_evidence', _json(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("status IN ('approved', 'conditional', 'expired', 'rejected', 'revoked', 'submitted', 'suspended', 'under_review')", name=op.f('ck_approval_status')),
    sa.ForeignKeyConstraint(['assessor_organisation_id'], ['organisation.id'], name=op.f('fk_approval_assessor_organisation_id_organisation')),
    sa.ForeignKeyConstraint(['device_certificate_evidence_id'], ['evidence_document.id'], name=op.f('fk_approval_device_certificate_evidence_id_evidence_document')),
    sa.ForeignKeyConstraint(['dpia_evidence_id'], ['evidence_document.id'], name=op.f('fk_approval_dpia_evidence_id_evidence_document')),
    sa.ForeignKeyConstraint(['hazard_log_evidence_id'], ['evidence_document.id'], name=op.f('fk_approval_hazard_log_evidence_id_evidence_document')),
    sa.ForeignKeyConstraint(['innovation_id'], ['innovation.id'], name=op.f('fk_approval_innovation_id_innovation')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_approval_organisation_id_organisation')),
    sa.ForeignKeyConstraint(['penetration_test_evidence_id'], ['evidence_document.id'], name=op.f('fk_approval_penetration_test_evidence_id_evidence_document')),
    sa.ForeignKeyConstraint(['safety_case_evidence_id'], ['evidence_document.id'], name=op.f('fk_approval_safety_case_evidence_id_evidence_document')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_approval'))
    )
    with op.batch_alter_table('approval', schema=None) as batch_op:
        batch_op.create_index('ix_approval_innovation_version', ['innovation_id', 'product_version', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_approval_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_index('ix_approval_status_expires_at', ['status', 'expires_at'], unique=False)
        # At most one open (non-final) approval per innovation and product version.
        batch_op.create_index('uq_approval_open_version', ['innovation_id', 'product_version'], unique=True, sqlite_where=sa.text(OPEN_APPROVAL), postgresql_where=sa.text(OPEN_APPROVAL))

    _create_search()
    _create_facet_triggers()


# External content: the FTS index points at innovation rows by rowid (= pk, an INTEGER
# PRIMARY KEY, so VACUUM keeps it) and stores no copy of the text. Column order matters:
# bm25() weights follow it (catalogue_search.SQLITE_WEIGHTS).
SQLITE_FTS = (
    "CREATE VIRTUAL TABLE innovation_fts USING fts5(name, summary, use_cases, "
    "content = 'innovation', content_rowid = 'pk', "
    "tokenize = 'porter unicode61 remove_diacritics 0')"
)
_FTS_ADD = ("INSERT INTO innovation_fts (rowid, name, summary, use_cases) "
            "VALUES (new.pk, new.name, new.summary, new.use_cases);")
_FTS_REMOVE = ("INSERT INTO innovation_fts (innovation_fts, rowid, name, summary, use_cases) "
               "VALUES ('delete', old.pk, old.name, old.summary, old.use_cases);")
SQLITE_TRIGGERS = (
    f"CREATE TRIGGER innovation_fts_insert AFTER INSERT ON innovation BEGIN {_FTS_ADD} END",
    "CREATE TRIGGER innovation_fts_update AFTER UPDATE OF name, summary, use_cases "
    f"ON innovation BEGIN {_FTS_REMOVE} {_FTS_ADD} END",
    f"CREATE TRIGGER innovation_fts_delete AFTER DELETE ON innovation BEGIN {_FTS_REMOVE} END",
)
# Weights: A name, B use cases, C summary (ts_rank weighs A highest).
POSTGRES_VECTOR = (
    "ALTER TABLE innovation ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('english', name), 'A') || "
    "setweight(jsonb_to_tsvector('english', use_cases, '[\"string\"]'), 'B') || "
    "setweight(to_tsvector('english', summary), 'C')) STORED"
)


def _create_search() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(POSTGRES_VECTOR)
        op.execute("CREATE INDEX ix_innovation_search_vector ON innovation "
                   "USING gin (search_vector)")
    else:
        op.execute(SQLITE_FTS)
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)


# The facet tables mirror the listing's JSON lists, so filters are indexed lookups; the
# database keeps them in step, whoever writes the listing.
_FACETS = (("innovation_category", "category", "categories"),
           ("innovation_pathway_stage", "stage", "pathway_stages"))


def _postgres_facet_function() -> str:
    body = "".join(
        f"DELETE FROM {table} WHERE innovation_pk = NEW.pk; "
        f"INSERT INTO {table} (innovation_pk, {column}) SELECT DISTINCT NEW.pk, value "
        f"FROM jsonb_array_elements_text(NEW.{source}); "
        for table, column, source in _FACETS)
    return ("CREATE FUNCTION innovation_facets_sync() RETURNS trigger AS $$ "
            f"BEGIN {body}RETURN NULL; END; $$ LANGUAGE plpgsql")


def _sqlite_facets(delete: bool) -> str:
    return " ".join(
        (f"DELETE FROM {table} WHERE innovation_pk = old.pk; " if delete else "")
        + f"INSERT INTO {table} (innovation_pk, {column}) SELECT DISTINCT new.pk, value "
        f"FROM json_each(new.{source});"
        for table, column, source in _FACETS)


def _create_facet_triggers() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(_postgres_facet_function())
        op.execute("CREATE TRIGGER innovation_facets AFTER INSERT OR UPDATE OF categories, "
                   "pathway_stages ON innovation FOR EACH ROW "
                   "EXECUTE FUNCTION innovation_facets_sync()")
    else:
        op.execute("CREATE TRIGGER innovation_facets_insert AFTER INSERT ON innovation "
                   f"BEGIN {_sqlite_facets(delete=False)} END")
        op.execute("CREATE TRIGGER innovation_facets_update AFTER UPDATE OF categories, "
                   f"pathway_stages ON innovation BEGIN {_sqlite_facets(delete=True)} END")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS innovation_facets ON innovation")
        op.execute("DROP FUNCTION IF EXISTS innovation_facets_sync()")
        op.execute("DROP INDEX IF EXISTS ix_innovation_search_vector")
        op.execute("ALTER TABLE innovation DROP COLUMN IF EXISTS search_vector")
    else:
        for trigger in ("fts_insert", "fts_update", "fts_delete", "facets_insert",
                        "facets_update"):
            op.execute(f"DROP TRIGGER IF EXISTS innovation_{trigger}")
        op.execute("DROP TABLE IF EXISTS innovation_fts")
    with op.batch_alter_table('approval', schema=None) as batch_op:
        batch_op.drop_index('uq_approval_open_version', sqlite_where=sa.text(OPEN_APPROVAL), postgresql_where=sa.text(OPEN_APPROVAL))
        batch_op.drop_index('ix_approval_status_expires_at')
        batch_op.drop_index(batch_op.f('ix_approval_organisation_id'))
        batch_op.drop_index('ix_approval_innovation_version')

    op.drop_table('approval')
    with op.batch_alter_table('innovation_pathway_stage', schema=None) as batch_op:
        batch_op.drop_index('ix_innovation_pathway_stage_stage')

    op.drop_table('innovation_pathway_stage')
    with op.batch_alter_table('innovation_category', schema=None) as batch_op:
        batch_op.drop_index('ix_innovation_category_category')

    op.drop_table('innovation_category')
    with op.batch_alter_table('evidence_document', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evidence_document_sha256'))
        batch_op.drop_index(batch_op.f('ix_evidence_document_innovation_id'))

    op.drop_table('evidence_document')
    with op.batch_alter_table('innovation', schema=None) as batch_op:
        batch_op.drop_index('ix_innovation_status_published_at')
        batch_op.drop_index(batch_op.f('ix_innovation_organisation_id'))
        batch_op.drop_index(batch_op.f('ix_innovation_esf_tier'))
        batch_op.drop_index(batch_op.f('ix_innovation_device_class'))

    op.drop_table('innovation')
