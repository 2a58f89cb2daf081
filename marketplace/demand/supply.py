"""The supply side of demand: the published listings that are pre-approved, read fast.

:func:`approvals.service.pre_approved_now` is the rule: the listing's current product
version holds an approved or conditional approval that has not expired. As a correlated
``EXISTS`` it is checked listing by listing, so a query filtering on it alone reads every
published listing. :func:`from_live_approvals` applies the same rule
(:func:`approvals.service.live_for_current_version`) as a join from the approvals, which
their index on (status, expiry) narrows to the live ones, so the database starts from
the few pre-approved listings instead. A listing version has at most one open approval
(a unique index of the approvals area), so the join finds each pre-approved listing once.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import func, join, literal, select, union_all
from sqlalchemy.sql.selectable import Join

from marketplace.approvals.models import Approval
from marketplace.approvals.service import live_for_current_version
from marketplace.catalogue.categories import ancestors
from marketplace.catalogue.lifecycle import ListingStatus
from marketplace.catalogue.models import Innovation
from marketplace.kernel.unit_of_work import UnitOfWork


def from_live_approvals(at: datetime) -> Join:
    """FROM approval JOIN innovation: the listings pre-approved at ``at``, each once."""
    return join(Approval, Innovation, live_for_current_version(at))


def counts(uow: UnitOfWork) -> tuple[Counter[str], Counter[str]]:
    """Published listings pre-approved now: how many are in each category or below it
    (a listing once under each ancestor, as the catalogue's categories count them), and
    how many serve each pathway stage. The database groups the listings by their lists
    (few distinct ones), so only those are decoded and rolled up here."""
    live = (select(Innovation.categories.label("names"),
                   Innovation.pathway_stages.label("stages"))
            .select_from(from_live_approvals(uow.now()))
            .where(Innovation.status == ListingStatus.PUBLISHED)
            .cte("pre_approved").prefix_with("MATERIALIZED"))
    grouped = union_all(
        select(literal("category").label("kind"), live.c.names, func.count())
        .group_by(live.c.names),
        select(literal("stage").label("kind"), live.c.stages, func.count())
        .group_by(live.c.stages))
    by_category: Counter[str] = Counter()
    by_stage: Counter[str] = Counter()
    for kind, names, listings in uow.session.execute(grouped):
        if kind == "stage":
            for stage in set(names):
                by_stage[stage] += listings
            continue
        for name in {a for category in names for a in ancestors(category)}:
            by_category[name] += listings
    return by_category, by_stage
