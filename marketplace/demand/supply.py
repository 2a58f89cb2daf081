"""The supply side of demand: the published listings that are pre-approved, read fast.

:func:`approvals.service.pre_approved_now` is the rule: the listing's current product
version holds an approved or conditional approval that has not expired. As a correlated
``EXISTS`` it is checked listing by listing, so a query filtering on it alone reads every
published listing. :func:`from_live_approvals` applies the same rule
(:func:`approvals.service.live_for_current_version`) as a join from the approvals, which
their index on (status, expiry, listing, version) narrows to the live ones, and joins each
to its listing through the listing's index on (id, version, status, pk): neither wide row
is read, and the database starts from the few pre-approved listings instead. A listing
version has at most one open approval (a unique index of the approvals area), so the join
finds each pre-approved listing once.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import case, distinct, func, join, literal, select, union_all
from sqlalchemy.sql.selectable import CTE, Join

from marketplace.approvals.models import Approval
from marketplace.approvals.service import live_for_current_version
from marketplace.catalogue.categories import ancestors, under
from marketplace.catalogue.lifecycle import ListingStatus
from marketplace.catalogue.models import Innovation, InnovationCategory, InnovationPathwayStage
from marketplace.kernel.unit_of_work import UnitOfWork


def from_live_approvals(at: datetime) -> Join:
    """FROM approval JOIN innovation: the listings pre-approved at ``at``, each once."""
    return join(Approval, Innovation, live_for_current_version(at))


def _pre_approved(at: datetime) -> CTE:
    """The keys of the published listings pre-approved at ``at``."""
    return (select(Innovation.pk).select_from(from_live_approvals(at))
            .where(Innovation.status == ListingStatus.PUBLISHED)
            .cte("pre_approved").prefix_with("MATERIALIZED"))


def counts(uow: UnitOfWork, categories: Iterable[str]) -> tuple[Counter[str], Counter[str]]:
    """Published listings pre-approved now: how many are in each of ``categories`` or
    below it (a listing once, however many of its categories lie below), and how many
    serve each pathway stage.

    The database counts the pre-approved listings per category and per stage from the
    facet tables (a few dozen rows). A category's count is the sum of its own and the
    ones below it, unless two or more of those hold pre-approved listings: a listing may
    be in both, so those categories alone are counted again, each listing once."""
    live = _pre_approved(uow.now())
    # ``pk + 0``: each listing's facet rows are looked up by its key (SQLite would rather
    # scan a whole facet index and look each row up among the listings).
    listing = live.c.pk + 0
    grouped = union_all(
        select(literal("category").label("kind"), InnovationCategory.category, func.count())
        .select_from(live.join(InnovationCategory, InnovationCategory.innovation_pk == listing))
        .group_by(InnovationCategory.category),
        select(literal("stage").label("kind"), InnovationPathwayStage.stage, func.count())
        .select_from(live.join(InnovationPathwayStage,
                               InnovationPathwayStage.innovation_pk == listing))
        .group_by(InnovationPathwayStage.stage))
    own: Counter[str] = Counter()
    by_stage: Counter[str] = Counter()
    for kind, name, listings in uow.session.execute(grouped):
        (own if kind == "category" else by_stage)[name] += listings
    by_category: Counter[str] = Counter()
    overlapping = []
    for name in dict.fromkeys(categories):
        below = [leaf for leaf in own if name in ancestors(leaf)]
        if len(below) > 1:
            overlapping.append(name)
        elif below:
            by_category[name] = own[below[0]]
    if overlapping:
        live = _pre_approved(uow.now())
        distinct_listings = [
            func.count(distinct(case((under(name), InnovationCategory.innovation_pk))))
            for name in overlapping]
        row = uow.session.execute(select(*distinct_listings).where(
            InnovationCategory.innovation_pk.in_(select(live.c.pk)))).one()
        by_category.update(dict(zip(overlapping, row, strict=True)))
    return by_category, by_stage
