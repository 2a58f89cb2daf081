"""Supply for a demand signal: the published listings that clear its bar, ranked by fit.

A published listing is a *candidate* for a signal when it serves one of the signal's
categories (it is listed in the category or below it: the catalogue's category filter,
:func:`categories.under`) or one of its pathway stages. A candidate *matches* when it
clears the signal's bar:

* its NICE ESF tier is at or above the signal's minimum, in the order of
  ``schemas.events.common.ESF_TIERS``: A < B < C. Tier C covers the functions with the
  most at stake (treating, diagnosing) and asks the most evidence, so a listing
  evidenced to C clears a bar of B; the tier is the listing's, as the catalogue lists it;
* when the signal requires central approval: the listing's current product version holds
  a live approval (:func:`approvals.service.pre_approved_now`) that still stands at the
  start of the needed-by day (Europe/London) - pre-approved when the solution is needed.

Every other candidate is a *near miss*, listed apart (``?near_misses=true``) with what it
lacks. Both lists are ranked by the same fit, best first::

    4 x share of the signal's categories the listing serves
  + 2 x share of the signal's pathway stages it serves
  + 1 when it holds a live approval that outlasts the needed-by date (any live approval,
      when the signal names no date)
  + text relevance, 0 to 1: the signal's title, use cases and need searched in the
      listing's name, summary and use cases through the catalogue's full-text index
      (SQLite FTS5 bm25 with the catalogue's column weights, PostgreSQL ts_rank) with
      the catalogue's search words (``search.terms``; any of them may match), divided by
      the best in the list, so the best scores 1

then by creation order (``pk``, unique), so every page is stable. Ranking is one SQL
statement per page: the candidates computed once, with the listings whose approval lasts
found once from the live approvals (:func:`supply.from_live_approvals`), each category's
and stage's listings looked up as a set, the best relevance and the count read once. The
statement's text depends only on the signal's *shape* (how many categories and stages,
its tier and approval bar, near misses or not, words or none); it is built and compiled
once per shape and executed with the signal's values bound. The reasons are worded in
Python for the page only, from plain rows of its listings and their approvals (not ORM
objects, which cost more to load than the rest of the page).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    exists,
    false,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    table,
    true,
    union,
)
from sqlalchemy import column as sql_column
from sqlalchemy.orm import aliased
from sqlalchemy.sql.selectable import CTE, FromClause

from marketplace.approvals.models import Approval
from marketplace.approvals.rules import LONDON
from marketplace.approvals.service import pre_approved_now
from marketplace.catalogue import categories, search
from marketplace.catalogue import service as innovations
from marketplace.catalogue.lifecycle import ListingStatus
from marketplace.catalogue.models import Innovation, InnovationCategory, InnovationPathwayStage
from marketplace.demand import service as signals
from marketplace.demand import supply
from marketplace.demand.lifecycle import SignalStatus
from marketplace.demand.models import (
    DemandSignal,
    DemandSignalCategory,
    DemandSignalPathwayStage,
)
from marketplace.kernel.db import UtcDateTime
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.organisations.models import Organisation
from schemas.events.common import ESF_TIERS
from schemas.statuses import ApprovalStatus

CATEGORY_WEIGHT, STAGE_WEIGHT, APPROVAL_WEIGHT, TEXT_WEIGHT = 4.0, 2.0, 1.0, 1.0

_fts = table("innovation_fts", sql_column("rowid"))


# --- the bar ----------------------------------------------------------------------------
def tiers_at_or_above(tier: str) -> tuple[str, ...]:
    """ESF tiers that clear a minimum of ``tier``: ``B`` -> ``("B", "C")``."""
    return ESF_TIERS[ESF_TIERS.index(tier):]


def tiers_at_or_below(tier: str) -> tuple[str, ...]:
    """The minimums a listing of ``tier`` clears: ``B`` -> ``("A", "B")``."""
    return ESF_TIERS[:ESF_TIERS.index(tier) + 1]


def needed_from(signal: DemandSignal) -> datetime | None:
    """The start (Europe/London) of the needed-by day, in UTC: an approval must stand then."""
    if signal.needed_by is None:
        return None
    return datetime.combine(signal.needed_by, time(0), tzinfo=LONDON).astimezone(UTC)


def approval_horizon(signal: DemandSignal, now: datetime) -> datetime:
    """Until when an approval must stand for the signal: now, or the needed-by day."""
    needed = needed_from(signal)
    return max(now, needed) if needed is not None else now


def last_live_day(expires_at: datetime) -> date:
    """The last needed-by day an approval expiring at ``expires_at`` still covers (the
    inverse of :func:`needed_from`: a day is covered when it starts before the expiry)."""
    return (expires_at - timedelta(microseconds=1)).astimezone(LONDON).date()


# --- fit ------------------------------------------------------------------------------
def text_words(signal: DemandSignal) -> list[str]:
    """The catalogue's search words of the signal's title, use cases and need."""
    return search.terms(" ".join([signal.title, *signal.use_cases, signal.need]))


@dataclass(frozen=True)
class _Shape:
    """What the text of a ranking statement depends on. Everything else (the categories,
    stages, dates and words themselves) is a bound parameter, so the statement is built
    and compiled once per shape and only executed per request."""

    dialect: str
    near_misses: bool
    requires_approval: bool
    min_tier: str
    categories: int
    stages: int
    text: bool

    @property
    def category_names(self) -> list[ColumnElement[str]]:
        return [bindparam(f"category_{i}", type_=String) for i in range(self.categories)]

    @property
    def stage_names(self) -> list[ColumnElement[str]]:
        return [bindparam(f"stage_{i}", type_=String) for i in range(self.stages)]


_HORIZON = bindparam("horizon", type_=UtcDateTime)
_WORDS = bindparam("words", type_=String)


def _bound(signal: DemandSignal, dialect: str, words: list[str],
           horizon: datetime) -> dict[str, Any]:
    """The values of a shape's parameters for ``signal``."""
    values: dict[str, Any] = {f"category_{i}": c for i, c in enumerate(signal.categories)}
    values.update({f"stage_{i}": s for i, s in enumerate(signal.pathway_stages)})
    values["horizon"] = horizon
    if words and dialect == "postgresql":
        values["words"] = " | ".join(words)
    elif words:  # whole words, each quoted (never query syntax), any of them
        values["words"] = " OR ".join(search.fts5_query([w]).rstrip("*") for w in words)
    return values


def _row_relevance(shape: _Shape) -> ColumnElement[float]:
    """PostgreSQL: the current listing row's ts_rank for any of the words (0 without a
    match), read with the row. SQLite ranks through the FTS5 table instead
    (:func:`_fts_hits`), so 0 here."""
    if shape.dialect != "postgresql" or not shape.text:
        return literal(0.0, Float)
    query = func.to_tsquery("english", _WORDS)
    vector = literal_column("innovation.search_vector")
    return case((vector.op("@@")(query), func.ts_rank(vector, query)),
                else_=literal(0.0, Float))


def _fts_hits(candidates: CTE) -> CTE:
    """SQLite: (pk, relevance) of the candidates matching any of the words in the FTS5
    index, -bm25 with the catalogue's weights; the join makes bm25 run for candidates
    only, not for every listing."""
    weights = ", ".join(str(w) for w in search.SQLITE_WEIGHTS)
    return (select(_fts.c.rowid.label("pk"),
                   (-literal_column(f"bm25(innovation_fts, {weights})")).label("relevance"))
            .select_from(_fts.join(candidates, candidates.c.pk == _fts.c.rowid))
            .where(literal_column("innovation_fts").op("MATCH")(_WORDS))
            .cte("need_hits").prefix_with("MATERIALIZED"))


def _serves(shape: _Shape, *, few: bool) -> ColumnElement[bool]:
    """SQL: the listing row serves one of the signal's categories or pathway stages. For a
    few listings (the live approvals) a probe of each one's facet rows is cheapest; for
    many, one pass over the facet indexes for the signal's categories and stages."""
    category = or_(*(categories.under(c) for c in shape.category_names))
    stage = InnovationPathwayStage.stage.in_(shape.stage_names)
    if few:
        return or_(exists().where(InnovationCategory.innovation_pk == Innovation.pk, category),
                   exists().where(InnovationPathwayStage.innovation_pk == Innovation.pk,
                                  stage))
    return Innovation.pk.in_(union(select(InnovationCategory.innovation_pk).where(category),
                                   select(InnovationPathwayStage.innovation_pk).where(stage)))


def _candidates(shape: _Shape, relevance: ColumnElement[float]) -> CTE:
    """The published listings that serve a category or stage of the signal and clear its
    bar (or, for near misses, do not), each with 1.0 when its approval lasts (else 0.0)
    and ``relevance``: computed once per request."""
    tier = Innovation.esf_tier.in_(tiers_at_or_above(shape.min_tier))
    if shape.requires_approval and not shape.near_misses:
        # Every match holds a lasting approval: start from the (few) live approvals.
        stmt = (select(Innovation.pk.label("pk"), literal(1.0, Float).label("lasting"))
                .select_from(supply.from_live_approvals(_HORIZON))
                .where(tier, _serves(shape, few=True)))
    else:
        # The listings whose approval lasts, found once from the live approvals (rather
        # than an EXISTS per candidate, and another for the bar).
        live = (select(Innovation.pk).select_from(supply.from_live_approvals(_HORIZON))
                .cte("lasting").prefix_with("MATERIALIZED"))
        lasts = Innovation.pk.in_(select(live.c.pk))
        bar = and_(tier, lasts) if shape.requires_approval else tier
        lasting = case((lasts, literal(1.0, Float)), else_=literal(0.0, Float))
        stmt = (select(Innovation.pk.label("pk"), lasting.label("lasting"))
                .where(not_(bar) if shape.near_misses else bar, _serves(shape, few=False)))
    return (stmt.add_columns(relevance.label("relevance"))
            .where(Innovation.status == ListingStatus.PUBLISHED)
            .cte("candidates").prefix_with("MATERIALIZED"))


def _share(conditions: list[ColumnElement[bool]], weight: float) -> ColumnElement[float]:
    if not conditions:
        return literal(0.0, Float)
    each = weight / len(conditions)
    terms = [case((condition, literal(each, Float)), else_=literal(0.0, Float))
             for condition in conditions]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def _ranked(shape: _Shape, candidates: CTE, hits: CTE | None) -> Select[Any]:
    """(pk, score, text, lasting, total) of every candidate, best first: see the module.
    Text relevance is scaled by the best candidate's, so it is 0 to 1; the best and the
    number of candidates are each read once (not windows over every row)."""
    source: FromClause = candidates
    relevance: ColumnElement[float] = candidates.c.relevance
    best = select(func.max(candidates.c.relevance)).scalar_subquery()
    if hits is not None:
        source = candidates.outerjoin(hits, hits.c.pk == candidates.c.pk)
        relevance = func.coalesce(hits.c.relevance, literal(0.0, Float))
        # The best candidate's: a candidate without a hit counts 0 and every hit's -bm25
        # is above 0 (FTS5 keeps each word's IDF positive), so the best hit's, or 0.
        best = func.coalesce(select(func.max(hits.c.relevance)).scalar_subquery(),
                             literal(0.0, Float))
    text = func.coalesce(relevance / func.nullif(best, 0), literal(0.0, Float))
    total = select(func.count()).select_from(candidates).scalar_subquery()
    pk = candidates.c.pk
    # Whether each candidate serves each category and stage: a set of listings per
    # category and stage, built once and looked into (not a probe per candidate).
    serves_category = [pk.in_(select(InnovationCategory.innovation_pk)
                              .where(categories.under(c))) for c in shape.category_names]
    serves_stage = [pk.in_(select(InnovationPathwayStage.innovation_pk)
                           .where(InnovationPathwayStage.stage == s))
                    for s in shape.stage_names]
    score = (_share(serves_category, CATEGORY_WEIGHT) + _share(serves_stage, STAGE_WEIGHT)
             + APPROVAL_WEIGHT * candidates.c.lasting + TEXT_WEIGHT * text).label("score")
    return (select(pk, score, text.label("text"), candidates.c.lasting, total.label("total"))
            .select_from(source)
            .order_by(score.desc(), pk)
            .limit(bindparam("limit", type_=Integer))
            .offset(bindparam("offset", type_=Integer)))


@functools.lru_cache(maxsize=256)
def _statements(shape: _Shape) -> tuple[Select[Any], Select[Any]]:
    """The ranked page and the count of one shape, built once (bounded: a few dozen shapes
    occur, each a statement of a few kilobytes)."""
    candidates = _candidates(shape, _row_relevance(shape))
    hits = _fts_hits(candidates) if shape.dialect != "postgresql" and shape.text else None
    unranked = _candidates(shape, literal(0.0, Float))
    return _ranked(shape, candidates, hits), select(func.count()).select_from(unranked)


# --- the lists ------------------------------------------------------------------------
@dataclass(frozen=True)
class Ranking:
    """One signal's ranked matches (or near misses), read a page at a time."""

    uow: UnitOfWork
    signal: DemandSignal
    ranked: Select[Any]
    #: How many there are, for a page past the end (a page in range carries the total).
    count: Select[Any]
    params: dict[str, Any]

    def page(self, page: int, per_page: int) -> tuple[list[dict[str, Any]], int]:
        """The page's items, explained, and how many there are in all."""
        session = self.uow.session
        rows = session.execute(self.ranked, {**self.params, "limit": per_page,
                                             "offset": (page - 1) * per_page}).all()
        total = rows[0].total if rows else session.scalar(self.count, self.params)
        return _explain(self.uow, self.signal, rows), int(total or 0)


#: PostgreSQL, for the ranking's transaction only: its estimates of these nested subplans
#: made it JIT-compile the query, which takes far longer (up to a second) than running it;
#: and once psycopg prepares the statement (its fifth run) PostgreSQL may settle on a
#: generic plan, blind to the signal's categories, stages and dates, which is several
#: times slower for most signals. Plan each run for its own values. One round trip.
_PLAN_EACH_RUN = select(func.set_config("jit", "off", true()),
                        func.set_config("plan_cache_mode", "force_custom_plan", true()))


def matches(uow: UnitOfWork, signal_id: str, *, near_misses: bool = False) -> Ranking:
    """``GET /demand-signals/{id}/matches``: the listings that clear the signal's bar (or,
    with ``near_misses``, the candidates that do not), ranked by fit."""
    signal = signals.get(uow, signal_id)
    dialect, words = uow.session.get_bind().dialect.name, text_words(signal)
    if dialect == "postgresql":
        uow.session.execute(_PLAN_EACH_RUN)
    shape = _Shape(dialect, near_misses, signal.requires_central_approval,
                   signal.min_esf_tier, len(signal.categories), len(signal.pathway_stages),
                   bool(words))
    ranked, count = _statements(shape)
    return Ranking(uow, signal, ranked, count,
                   _bound(signal, dialect, words, approval_horizon(signal, uow.now())))


@dataclass(frozen=True, slots=True)
class _ApprovalFacts:
    """What a match shows of an approval (``schemas.api.innovations.ApprovalSummary``)."""

    id: str
    product_version: str
    status: str
    expires_at: datetime


@dataclass(slots=True)
class _Listing:
    """A listing as a match shows it (``schemas.api.demand.MATCHED_LISTING_FIELDS``), read
    as plain rows: the ORM's objects cost more to load than the whole page's wording."""

    pk: int
    id: str
    organisation: dict[str, str]
    name: str
    summary: str
    product_version: str
    categories: list[str]
    pathway_stages: list[str]
    use_cases: list[str]
    esf_tier: str
    device_class: str
    published_at: datetime | None
    live: bool
    #: In the catalogue's order (submission, id), as ``Innovation.approvals``.
    approvals: list[_ApprovalFacts] = field(default_factory=list)

    @property
    def current_approval(self) -> _ApprovalFacts | None:
        """The catalogue's rule (:attr:`Innovation.current_approval`) over these rows."""
        return Innovation.current_approval.fget(self)


_PAGE_LISTINGS = (Innovation.pk, Innovation.id, Innovation.name, Innovation.summary,
                  Innovation.product_version, Innovation.categories,
                  Innovation.pathway_stages, Innovation.use_cases, Innovation.esf_tier,
                  Innovation.device_class, Innovation.published_at,
                  Organisation.code.label("organisation_code"),
                  Organisation.name.label("organisation_name"))
#: The page's approvals, aliased apart from the approvals that ``live`` looks into.
_shown = aliased(Approval, name="shown")
_PAGE_APPROVALS = (_shown.id.label("approval_id"),
                   _shown.product_version.label("approval_version"),
                   _shown.status.label("approval_status"), _shown.expires_at)


def _listings(uow: UnitOfWork, pks: list[int]) -> dict[int, _Listing]:
    """The page's listings with their organisation, whether each is pre-approved now and
    its approvals (one query: a listing has few approvals)."""
    rows = uow.session.execute(
        select(*_PAGE_LISTINGS, pre_approved_now(uow.now()).label("live"), *_PAGE_APPROVALS)
        .join(Organisation, Organisation.id == Innovation.organisation_id)
        .outerjoin(_shown, _shown.innovation_id == Innovation.id)
        .where(Innovation.pk.in_(pks))
        .order_by(Innovation.pk, _shown.submitted_at, _shown.id))
    found: dict[int, _Listing] = {}
    for row in rows:
        listing = found.get(row.pk)
        if listing is None:
            listing = found[row.pk] = _Listing(
                row.pk, row.id, {"code": row.organisation_code, "name": row.organisation_name},
                row.name, row.summary, row.product_version, row.categories,
                row.pathway_stages, row.use_cases, row.esf_tier, row.device_class,
                row.published_at, bool(row.live))
        if row.approval_id is not None:
            listing.approvals.append(_ApprovalFacts(row.approval_id, row.approval_version,
                                                    row.approval_status, row.expires_at))
    return found


def _explain(uow: UnitOfWork, signal: DemandSignal, rows: list[Any]) -> list[dict[str, Any]]:
    """A page of ranked rows as listings with their score and reasons (one query)."""
    if not rows:
        return []
    found = _listings(uow, [row.pk for row in rows])
    now = uow.now()
    return [_worded(signal, row, found[row.pk], now) for row in rows]


def _day(moment: datetime) -> str:
    return moment.astimezone(LONDON).date().isoformat()


def _approval_lack(listing: _Listing, signal: DemandSignal, now: datetime) -> str:
    """Why the listing's approval does not meet a signal that requires one."""
    approval = listing.current_approval
    if listing.live and approval is not None:
        return (f"approval expires {_day(approval.expires_at)}, before the needed-by date "
                f"{signal.needed_by}")
    if approval is None:
        older = any(a.product_version != listing.product_version for a in listing.approvals)
        return (f"no central approval of the current version {listing.product_version}"
                if older else "no central approval")
    status = approval.status
    if status in (ApprovalStatus.SUBMITTED, ApprovalStatus.UNDER_REVIEW):
        return "central approval under review"
    if status == ApprovalStatus.EXPIRED or approval.expires_at <= now:
        return f"approval expired {_day(approval.expires_at)}"
    return f"approval {status}"


def _worded(signal: DemandSignal, row: Any, listing: _Listing,
            now: datetime) -> dict[str, Any]:
    lasting = bool(row.lasting)
    served = {c: [mine for mine in listing.categories if c in categories.ancestors(mine)]
              for c in signal.categories}
    matched_categories = [c for c, mine in served.items() if mine]
    matched_stages = [s for s in signal.pathway_stages if s in listing.pathway_stages]
    reasons = [f"category {c}" if c in mine else f"category {', '.join(mine)} (under {c})"
               for c, mine in served.items() if mine]
    reasons += [f"pathway stage {s}" for s in matched_stages]
    lacks = []
    if listing.esf_tier in tiers_at_or_above(signal.min_esf_tier):
        reasons.append(f"ESF tier {listing.esf_tier}, the signal needs "
                       f"{signal.min_esf_tier} or above")
    else:
        lacks.append(f"ESF tier {listing.esf_tier}, the signal needs {signal.min_esf_tier}")
    approval = listing.current_approval
    if listing.live and approval is not None:
        until = f"centrally approved until {_day(approval.expires_at)}"
        if signal.needed_by is not None:
            until += (", beyond the needed-by date" if lasting
                      else ", before the needed-by date")
        reasons.append(until)
    if signal.requires_central_approval and not lasting:
        lacks.append(_approval_lack(listing, signal, now))
    text = round(float(row.text or 0.0), 2)
    if text > 0:
        reasons.append(f"its description matches the need (text relevance {text:.2f})")
    return {"innovation": listing, "score": round(float(row.score), 4),
            "text_relevance": text, "matched_categories": matched_categories,
            "matched_pathway_stages": matched_stages, "reasons": reasons, "lacks": lacks}


# --- the reverse: a listing's demand -----------------------------------------------------
def demand_for(uow: UnitOfWork, innovation_id: str) -> Select[tuple[DemandSignal]]:
    """``GET /innovations/{id}/demand``: the open signals the listing matches (the same
    rules, seen from the listing), newest first."""
    listing = innovations.get_visible(uow, innovation_id)
    stmt = select(DemandSignal).where(DemandSignal.status == SignalStatus.OPEN)
    if listing.status != ListingStatus.PUBLISHED:
        return stmt.where(false()).order_by(DemandSignal.pk)
    own_categories = {name for c in listing.categories for name in categories.ancestors(c)}
    serves = or_(
        DemandSignal.pk.in_(select(DemandSignalCategory.signal_pk).where(
            DemandSignalCategory.category.in_(sorted(own_categories)))),
        DemandSignal.pk.in_(select(DemandSignalPathwayStage.signal_pk).where(
            DemandSignalPathwayStage.stage.in_(listing.pathway_stages))))
    approval_ok: ColumnElement[bool] = DemandSignal.requires_central_approval.is_(False)
    live = uow.session.scalar(select(Innovation.pk).where(
        Innovation.pk == listing.pk, pre_approved_now(uow.now()))) is not None
    if live and listing.current_approval is not None:
        approval_ok = or_(approval_ok, DemandSignal.needed_by.is_(None),
                          DemandSignal.needed_by <= last_live_day(
                              listing.current_approval.expires_at))
    return stmt.where(serves, approval_ok, DemandSignal.min_esf_tier.in_(
        tiers_at_or_below(listing.esf_tier))).order_by(DemandSignal.posted_at.desc(),
                                                        DemandSignal.pk.desc())
