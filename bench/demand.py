"""Demand benchmark: 5,000 signals from 42 ICBs over 10,000 listings; matches and summary.

    .venv/bin/python -m bench.demand                        # SQLite only
    .venv/bin/python -m bench.demand --postgres postgresql://postgres@127.0.0.1:5432/test
    ... --write BENCHMARKS.md                                # record the results

Each backend gets a fresh migrated database (a temporary SQLite file; a scratch
PostgreSQL database on the given server, dropped afterwards). The listings, their
facets, search index and approvals are bulk-loaded as ``bench.catalogue`` loads them;
the signals are bulk-inserted with SQLAlchemy Core (their facet tables fill themselves
through the migration's triggers) and the summary's tallies are then built once with
``marketplace.demand.summary.rebuild``, as a bulk load must. Every request is timed end
to end through the real endpoint (Flask test client: parsing, the SQL, serialisation),
after a warm-up; the match timings cycle through 50 different signals.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select, text
from sqlalchemy.orm import Session

from bench.catalogue import (
    CATEGORIES,
    NOW,
    SUMMARY_PHRASES,
    USE_CASES,
    backend,
    load_average,
    machine,
    write_section,
)
from bench.catalogue import load as load_listings
from marketplace import migrate
from marketplace.app import create_app
from marketplace.approvals.rules import LONDON
from marketplace.demand import summary
from marketplace.demand.models import DemandSignal
from marketplace.http.wiring import marketplace_of
from marketplace.kernel.db import make_engine
from marketplace.kernel.settings import Settings
from marketplace.organisations.models import Organisation
from schemas.events.common import PATHWAY_STAGES
from schemas.events.demand import CLOSE_OUTCOMES

TARGETS_MS = {"matches": 50.0, "summary": 25.0}
ICBS, MERGED = 42, 2  # the last two ICBs were merged into the first two
FIRST_ICB_ID = 1001
SECTION = "## Demand signals"
TITLES = ("Faster diagnosis of suspected cancer", "Remote monitoring after treatment",
          "Patient education in many languages", "Triage of urgent referrals",
          "Lung nodule detection", "Pre-filled consent for chemotherapy",
          "Clinical trial matching", "Prehabilitation before surgery",
          "Digital pathology review", "Survivorship care planning")

#: (label, kind, query): ``{signal}`` is replaced by a signal id, cycling through a sample.
QUERIES: tuple[tuple[str, str, str], ...] = (
    ("matches, page 1", "matches", "/demand-signals/{signal}/matches"),
    ("matches, page 5", "matches", "/demand-signals/{signal}/matches?page=5"),
    ("near misses, page 1", "matches", "/demand-signals/{signal}/matches?near_misses=true"),
    ("matches, 100 per page", "matches", "/demand-signals/{signal}/matches?per_page=100"),
    ("national summary", "summary", "/demand/summary"),
    ("one ICB (with predecessors)", "summary", "/demand/summary?icb=Q01"),
    ("a ragged period", "summary",
     "/demand/summary?posted_from=2025-03-17&posted_to=2026-02-11"),
    ("ICB and a ragged period", "summary",
     "/demand/summary?icb=Q02&posted_from=2025-06-05&posted_to=2026-10-20"),
)


def _icbs() -> list[dict[str, Any]]:
    rows = [{"id": FIRST_ICB_ID + i, "public_id": str(uuid.UUID(int=FIRST_ICB_ID + i)),
             "code": f"Q{i + 1:02d}", "kind": "icb", "name": f"Bench ICB {i + 1}",
             "created_at": NOW, "updated_at": NOW, "version": 1,
             "successor_id": None} for i in range(ICBS)]
    for n in range(MERGED):
        rows[ICBS - MERGED + n]["successor_id"] = FIRST_ICB_ID + n
    return rows


def _in_pathway_order(stages: list[str]) -> list[str]:
    return [stage for stage in PATHWAY_STAGES if stage in stages]


def _signals(n: int, rng: random.Random) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        posted = NOW - timedelta(minutes=rng.randint(60, 2 * 365 * 24 * 60))
        status = "open" if rng.random() < 0.8 else "closed"
        outcome = rng.choice(CLOSE_OUTCOMES[1:]) if status == "closed" else None
        budget = rng.randrange(10_000, 2_000_000) * 100 if rng.random() < 0.7 else None
        out.append({
            "pk": i + 1, "id": str(uuid.UUID(int=rng.getrandbits(128))),
            "icb_id": FIRST_ICB_ID + rng.randrange(ICBS), "status": status,
            "title": f"{rng.choice(TITLES)} ({i})",
            "need": ". ".join(p.capitalize() for p in rng.sample(SUMMARY_PHRASES, 3)) + ".",
            "categories": sorted(rng.sample(CATEGORIES, rng.randint(1, 2))),
            "pathway_stages": _in_pathway_order(rng.sample(PATHWAY_STAGES, rng.randint(1, 2))),
            "use_cases": rng.sample(USE_CASES, rng.randint(1, 2)), "trusts": [],
            "min_esf_tier": rng.choices("ABC", (2, 5, 3))[0],
            "requires_central_approval": rng.random() < 0.8,
            "population_covered": rng.randrange(200_000, 3_000_000)
            if rng.random() < 0.8 else None,
            "indicative_budget_pence": budget, "currency": "GBP",
            "needed_by": (NOW + timedelta(days=rng.randint(30, 400))).date()
            if rng.random() < 0.7 else None,
            "posted_at": posted, "posted_on": posted.astimezone(LONDON).date(),
            "updated_at": posted, "closed_at": NOW if status == "closed" else None,
            "outcome": outcome, "tender_id": None, "version": 1})
    return out


def load(engine: Engine, listings: int, signals: int, seed: int) -> dict[str, int]:
    """The catalogue's bulk load, then ICBs and signals (Core executemany; the facet
    tables fill themselves), then the tallies, built once from the signals."""
    counts = load_listings(engine, listings, seed)
    rows = _signals(signals, random.Random(seed + 1))
    with engine.begin() as conn:
        conn.execute(insert(Organisation.__table__), _icbs())
        for start in range(0, len(rows), 2000):
            conn.execute(insert(DemandSignal.__table__), rows[start:start + 2000])
    with Session(engine) as session:
        counts["open_signals"] = summary.rebuild(session)
        session.commit()
    # Fresh planner statistics (and on PostgreSQL a vacuumed visibility map and the bulk
    # load's writes checkpointed), as a live system has them: not the load's aftermath.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("VACUUM ANALYZE"))
            conn.execute(text("CHECKPOINT"))
        else:
            conn.execute(text("ANALYZE"))
    return {**counts, "demand_signal": len(rows), "icb": ICBS}


def measure(url: str, runs: int, warmup: int, seed: int) -> list[dict[str, Any]]:
    app = create_app(Settings(database_url=url, secret_key="bench"), clock=lambda: NOW)
    client = app.test_client()
    engine = marketplace_of(app).engine
    with engine.connect() as conn:
        ids = conn.execute(select(DemandSignal.id).where(DemandSignal.status == "open")
                           .order_by(DemandSignal.pk)).scalars().all()
    sample = random.Random(seed).sample(list(ids), 50)
    results = []
    for label, kind, query in QUERIES:
        paths = [f"/api/v1{query.format(signal=s)}" for s in sample]
        for n in range(warmup):
            assert client.get(paths[n % len(paths)]).status_code == 200
        timings, totals = [], []
        for n in range(runs):
            path = paths[n % len(paths)]
            started = time.perf_counter()
            response = client.get(path)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.get_data(as_text=True)
            body = response.get_json()
            totals.append(body["total"] if kind == "matches" else
                          body["total"]["open_signals"])
        timings.sort()
        results.append({"label": label, "kind": kind, "query": query,
                        "total": statistics.median(totals),
                        "p50": statistics.median(timings),
                        "p95": timings[int(0.95 * len(timings)) - 1], "max": timings[-1]})
    marketplace_of(app).dispose()
    return results


def run(name: str, server: str | None, listings: int, signals: int, runs: int, warmup: int,
        seed: int) -> dict[str, Any]:
    with backend(name, server) as url:
        engine = make_engine(url)
        migrate.upgrade(engine)
        started = time.perf_counter()
        counts = load(engine, listings, signals, seed)
        loaded = time.perf_counter() - started
        with engine.connect() as conn:
            version = conn.execute(text(
                "SELECT sqlite_version()" if name == "sqlite" else "SHOW server_version"
            )).scalar()
        engine.dispose()
        return {"backend": name, "version": version, "counts": counts,
                "load_seconds": loaded, "results": measure(url, runs, warmup, seed)}


def python_speed() -> float:
    """Seconds of CPU time for a 10-million-step Python loop: a rough gauge of how fast
    this shared virtual machine runs right now (it varies from hour to hour)."""
    started = time.process_time()
    total = 0
    for step in range(10_000_000):
        total += step
    return time.process_time() - started


def _verdict(result: dict[str, Any], kind: str) -> str:
    worst = max(r["p95"] for r in result["results"] if r["kind"] == kind)
    met = "meets" if worst <= TARGETS_MS[kind] else "MISSES"
    return f"worst {kind} p95 {worst:.1f} ms ({met} the {TARGETS_MS[kind]:.0f} ms target)"


def report(results: list[dict[str, Any]], command: str, args: argparse.Namespace,
           loads: tuple[str, str], speeds: tuple[float, float]) -> str:
    lines = [
        SECTION, "",
        f"`GET /api/v1/demand-signals/{{id}}/matches` and `GET /api/v1/demand/summary` over "
        f"{args.signals:,} demand signals (80% open) from {ICBS} ICBs ({MERGED} merged into "
        f"others) and {args.listings:,} listings (95% published, 40% with an approval), "
        "timed end to end through the Flask test client (query parsing, the SQL, "
        f"serialisation; no network), {args.runs} runs per query after a warm-up, the "
        "match queries cycling through 50 open signals. Targets: matches p95 <= "
        f"{TARGETS_MS['matches']:.0f} ms, summary p95 <= {TARGETS_MS['summary']:.0f} ms. "
        "`matches` is the median number of matches (or near misses) per signal, "
        "`open signals` the signals the summary counts.",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {machine()}. Load average (1 min) at start {loads[0]}, at end "
        f"{loads[1]} (other work on the machine inflates the tails); a 10-million-step "
        f"Python loop took {speeds[0]:.2f} s of CPU at the start, {speeds[1]:.2f} s at the "
        "end (a rough gauge of how fast this shared machine ran that day).",
        "",
    ]
    for result in results:
        counts = result["counts"]
        lines += [f"### {result['backend']} {result['version']}", "",
                  f"Bulk load of {counts['innovation']:,} listings, {counts['approval']:,} "
                  f"approvals, {counts['demand_signal']:,} signals and their tallies: "
                  f"{result['load_seconds']:.1f} s. {_verdict(result, 'matches')}; "
                  f"{_verdict(result, 'summary')}.", "",
                  "| request | path | matches / open signals | p50 ms | p95 ms | max ms |",
                  "| --- | --- | ---: | ---: | ---: | ---: |"]
        lines += [f"| {r['label']} | `{r['query']}` | {r['total']:,.0f} | {r['p50']:.1f} | "
                  f"{r['p95']:.1f} | {r['max']:.1f} |" for r in result["results"]]
        lines.append("")
    lines += [
        "Where the time goes (profiled on this data): a match page is one SQL statement, "
        "built and compiled once per shape of signal (how many categories and stages, its "
        "bar, near misses or not) and executed with the signal's values bound, plus 5-8 ms "
        "of Python (the signal, the page's listings and approvals read as plain rows, "
        "the wording, serialising; 15-25 ms for 100 items, half of it marshmallow). The "
        "largest part of the statement is text relevance, a third to a half of it: FTS5 "
        "walks every listing that has any of the signal's words (nine in ten here) and "
        "runs bm25 for each candidate, PostgreSQL runs ts_rank for each candidate. Signals "
        "that require an approval start from the live approvals (about 1,200 matches "
        "each); the others, and every near-miss list, start from the facet indexes (3,000 "
        "to 7,000 candidates each), with the listings whose approval lasts found once from "
        "the live approvals and each category's and stage's listings looked up as a set. "
        "The live approvals and their listings are read from covering indexes alone "
        "(migration 0009). A summary reads a few hundred to a few thousand tally rows "
        "(2-9 ms) and the live supply (the live approvals, their listings and those "
        "listings' facet rows, counted by category and stage: 10-15 ms on SQLite, 15-25 "
        "ms on PostgreSQL), so the signals' number does not enter it. For the match "
        "query's transaction PostgreSQL's JIT is switched off (its estimates made it "
        "compile for up to a second) and every run gets a custom plan (generic plans, "
        "once psycopg prepared the statement, made runs three to eight times slower).",
        ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listings", type=int, default=10_000)
    parser.add_argument("--signals", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--postgres", metavar="SERVER_URL",
                        default=os.environ.get("TEST_DATABASE_URL"),
                        help="PostgreSQL server for a scratch database (default: "
                             "TEST_DATABASE_URL); omit to run SQLite only")
    parser.add_argument("--write", metavar="FILE", type=Path,
                        help="replace (or append at the end) the Demand signals section")
    args = parser.parse_args(argv)
    backends = ["sqlite"] + (["postgresql"] if args.postgres else [])
    started_load, speed = load_average(), python_speed()
    results = [run(name, args.postgres, args.listings, args.signals, args.runs, args.warmup,
                   args.seed) for name in backends]
    python = os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd()) \
        else "python"
    command = f"{python} -m bench.demand " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    ended_load, ended_speed = load_average(), python_speed()
    section = report(results, command.strip(), args, (started_load, ended_load),
                     (speed, ended_speed))
    print(section)
    print(json.dumps([{k: v for k, v in r.items() if k != "results"} for r in results],
                     default=str), file=sys.stderr)
    if args.write:
        write_section(args.write, section, SECTION)
    met = all(r["p95"] <= TARGETS_MS[r["kind"]] for result in results
              for r in result["results"])
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
