"""National demand by category and pathway stage, kept as running sums.

Summing the signals on every request would read every open signal; instead each change
of a signal adds its difference to ``demand_tally`` in the same transaction (an upsert
per touched row, never a read of other signals), so a summary reads a number of rows
bounded by ICBs x facets x periods, however many signals there are:

* grain ``all``: one row per ICB and facet, for the unfiltered national view;
* grain ``month`` and ``day``: a period filter reads whole months from the month rows
  and only its ragged ends from the day rows.

Rows are keyed by the posting ICB; the read maps each to the ICB that stands for it now,
so a merged ICB's demand counts as its successor's. Supply (how many listings are
pre-approved now in a category or stage) depends on the clock as well as on approvals,
so it is read live, from indexes alone: the live approvals, their listings and those
listings' facet rows (:mod:`.supply`), counted for the categories in demand only.
:func:`rebuild` recomputes every tally from the signals (bulk loads, repair).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, distinct, false, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from marketplace.demand import supply
from marketplace.demand.models import DemandSignal, DemandTally
from marketplace.kernel.errors import InvalidInput, NotFound
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.organisations import service as organisations
from marketplace.organisations.models import Organisation
from schemas.events.common import PATHWAY_STAGES
from schemas.statuses import OrganisationKind, SignalStatus

#: ``period_start`` of the ``all`` grain.
ALL_TIME = date(1970, 1, 1)
MEASURES = ("open_signals", "budget_pence", "signals_with_budget", "population",
            "signals_with_population")
_KEY = ("grain", "period_start", "icb_id", "facet_kind", "facet")

Key = tuple[str, date, int, str, str]
Tallies = dict[Key, dict[str, int]]


def _month(day: date) -> date:
    return day.replace(day=1)


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def counted(signal: DemandSignal) -> Tallies:
    """What ``signal`` adds to the tallies as it stands: nothing unless it is open."""
    if signal.status != SignalStatus.OPEN:
        return {}
    budget, population = signal.indicative_budget_pence, signal.population_covered
    weight = {"open_signals": 1, "budget_pence": budget or 0,
              "signals_with_budget": int(budget is not None),
              "population": population or 0,
              "signals_with_population": int(population is not None)}
    facets = [("total", ""), *(("category", c) for c in signal.categories),
              *(("stage", s) for s in signal.pathway_stages)]
    periods = [("all", ALL_TIME), ("month", _month(signal.posted_on)),
               ("day", signal.posted_on)]
    return {(grain, start, signal.icb_id, kind, facet): weight
            for grain, start in periods for kind, facet in facets}


def record(uow: UnitOfWork, before: Tallies, after: Tallies) -> None:
    """Add ``after - before`` to the tallies (in the caller's transaction)."""
    deltas: dict[Key, dict[str, int]] = defaultdict(lambda: dict.fromkeys(MEASURES, 0))
    for sign, tallies in ((-1, before), (1, after)):
        for key, weight in tallies.items():
            for name in MEASURES:
                deltas[key][name] += sign * weight[name]
    rows = [dict(zip(_KEY, key, strict=True), **delta)
            for key, delta in sorted(deltas.items()) if any(delta.values())]
    if rows:  # sorted: concurrent writers lock shared rows in the same order
        _upsert(uow.session, rows)


def _upsert(session: Session, rows: list[dict[str, Any]]) -> None:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = DemandTally.__table__
    stmt = insert(table).values(rows)
    session.execute(stmt.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={name: table.c[name] + stmt.excluded[name] for name in MEASURES}))


def rebuild(session: Session) -> int:
    """Recompute every tally from the signals; returns how many signals are open."""
    session.execute(delete(DemandTally))
    totals: Tallies = defaultdict(lambda: dict.fromkeys(MEASURES, 0))
    signals = session.scalars(select(DemandSignal).where(
        DemandSignal.status == SignalStatus.OPEN)).all()
    for signal in signals:
        for key, weight in counted(signal).items():
            for name in MEASURES:
                totals[key][name] += weight[name]
    rows = [dict(zip(_KEY, key, strict=True), **weight) for key, weight in sorted(totals.items())]
    for start in range(0, len(rows), 1000):
        _upsert(session, rows[start:start + 1000])
    return len(signals)


# --- reading ----------------------------------------------------------------------------
def _month_end(day: date) -> bool:
    return (day + timedelta(days=1)).month != day.month


#: Bounds past which no signal is posted: beyond them a bound is no bound (and the month
#: arithmetic below stays inside the calendar).
_EARLIEST, _LATEST = date(1900, 1, 1), date(9999, 11, 30)


def periods(posted_from: date | None, posted_to: date | None) -> ColumnElement[bool]:
    """SQL: the tally rows that together cover ``posted_from`` to ``posted_to`` (inclusive,
    either open), each signal once: whole months from month rows, ragged ends from day
    rows, and the ``all`` rows when there is no bound at all."""
    grain, start = DemandTally.grain, DemandTally.period_start
    low = posted_from if posted_from and posted_from > _EARLIEST else None
    high = posted_to if posted_to and posted_to < _LATEST else None
    if (posted_from and posted_from > _LATEST) or (posted_to and posted_to < _EARLIEST) \
            or (low and high and high < low):
        return false()
    if low is None and high is None:
        return and_(grain == "all", start == ALL_TIME)
    first_full = None if low is None else low if low.day == 1 else _next_month(low)
    after_last = None if high is None else _next_month(high) if _month_end(high) \
        else _month(high)
    if first_full and after_last and first_full >= after_last:  # no whole month inside
        return and_(grain == "day", start >= low, start <= high)
    months = [grain == "month"]
    if first_full:
        months.append(start >= first_full)
    if after_last:
        months.append(start < after_last)
    parts = [and_(*months)]
    if low and first_full and low < first_full:
        parts.append(and_(grain == "day", start >= low, start < first_full))
    if high and after_last and after_last <= high:
        parts.append(and_(grain == "day", start >= after_last, start <= high))
    return or_(*parts)


def _figures(open_signals: int = 0, budget: int = 0, budgeted: int = 0, population: int = 0,
             populated: int = 0, icbs: int = 0) -> dict[str, int]:
    """Open demand under one facet, as the summary shows it."""
    return {"open_signals": open_signals, "icbs": icbs, "indicative_budget_pence": budget,
            "signals_with_budget": budgeted, "population_covered": population,
            "signals_with_population": populated}


def _owner(uow: UnitOfWork) -> ColumnElement[int]:
    """SQL: the ICB a tally row's (posting) ICB stands for now: itself, or for the few
    merged ICBs their successor."""
    merged = uow.session.scalars(select(Organisation).where(
        Organisation.kind == OrganisationKind.ICB, Organisation.successor_id.is_not(None)))
    successors = {icb.id: icb.current(organisations.MAX_SUCCESSION_DEPTH).id for icb in merged}
    if not successors:
        return DemandTally.icb_id
    return case(successors, value=DemandTally.icb_id, else_=DemandTally.icb_id)


def resolve_icb(uow: UnitOfWork, code: str, field: str = "icb") -> Organisation:
    """The ICB that stands for ``code`` now (an old code finds the merged ICB); 422 when no
    ICB has the code: a filter on nobody is a mistake, not an empty page."""
    try:
        icb = organisations.resolve(uow, code)
    except NotFound:
        icb = None
    if icb is None or icb.kind != OrganisationKind.ICB:
        raise InvalidInput("No ICB has this code.", {field: [f"unknown ICB {code!r}"]})
    return icb


def icb_and_predecessors(uow: UnitOfWork, icb: Organisation) -> list[int]:
    """Row ids of ``icb`` and of every ICB merged into it: whose signals it owns."""
    return [icb.id, *(p.id for p in organisations.predecessors(uow, icb))]


def demand(uow: UnitOfWork, *, icb: Organisation | None, posted_from: date | None,
           posted_to: date | None) -> dict[tuple[str, str], dict[str, int]]:
    """(facet kind, facet) -> open demand, summed from the tallies by the database (an
    ICB counts once however many of its periods or predecessors hold open signals)."""
    sums = [func.sum(getattr(DemandTally, name)) for name in MEASURES]
    icbs = func.count(distinct(case((DemandTally.open_signals > 0, _owner(uow)))))
    stmt = (select(DemandTally.facet_kind, DemandTally.facet, *sums, icbs)
            .where(periods(posted_from, posted_to))
            .group_by(DemandTally.facet_kind, DemandTally.facet))
    if icb is not None:
        stmt = stmt.where(DemandTally.icb_id.in_(icb_and_predecessors(uow, icb)))
    return {(kind, facet): _figures(*(int(v) for v in values))
            for kind, facet, *values in uow.session.execute(stmt) if values[0]}


def _rows(found: dict[tuple[str, str], dict[str, int]], kind: str, names: Iterable[str],
          served: Counter[str], label: str) -> Iterator[dict[str, Any]]:
    for name in names:
        figures = found.get((kind, name)) or _figures()
        yield {label: name, **figures, "pre_approved_listings": served[name],
               "supply_gap": figures["open_signals"] > 0 and served[name] == 0}


def summary(uow: UnitOfWork, *, icb: str | None = None, posted_from: date | None = None,
            posted_to: date | None = None) -> dict[str, Any]:
    """``GET /demand/summary``: open demand (optionally one ICB's, posted in a period) by
    category and by pathway stage, each against the pre-approved supply."""
    owner = resolve_icb(uow, icb) if icb else None
    found = demand(uow, icb=owner, posted_from=posted_from, posted_to=posted_to)
    demanded = sorted(facet for kind, facet in found if kind == "category")
    by_category, by_stage = supply.counts(uow, demanded)
    return {
        "as_of": uow.now(), "icb": owner, "posted_from": posted_from, "posted_to": posted_to,
        "currency": "GBP", "total": found.get(("total", "")) or _figures(),
        "by_category": list(_rows(found, "category", demanded, by_category, "category")),
        "by_pathway_stage": list(_rows(found, "stage", PATHWAY_STAGES, by_stage,
                                       "pathway_stage")),
    }
