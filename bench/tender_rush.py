"""Tender deadline rush: 1,000 innovators submitting in the last 60 s before a deadline.

    .venv/bin/python -m bench.tender_rush --postgres postgresql://postgres@127.0.0.1:5432/test
    ... --innovators 50 --window 10                  # a quick run while developing
    ... --write BENCHMARKS.md                          # record the results

A scratch PostgreSQL database is created on the given server (dropped afterwards) and
migrated. One ICB with a trust and a buyer's token, and ``--innovators`` innovators (plus
the late and warm-up ones) with a token each, are added through the service layer in one
unit of work (``organisations.add``, ``identity.service.create``); each innovator's one
published listing, its evidence and its live central approval are bulk-inserted with
SQLAlchemy Core as ``bench.catalogue`` loads them. ``marketplace serve`` (gunicorn,
``--workers`` gthread workers of 4 threads) then runs as a subprocess on that database with
the real clock.

Over HTTP the buyer drafts and publishes an open tender whose submission deadline is
``--lead`` + ``--window`` seconds ahead (real deadlines, no sandbox). Each innovator sends
one sealed response (``POST /api/v1/tenders/{id}/responses`` with its own token and an
``Idempotency-Key``), at a start time drawn for it in the last ``--window`` seconds: the
arrival rate rises linearly to ``--peak`` times the mean at the deadline (2: from nothing
at the start of the window to twice the mean; 1: uniform). ``--late`` more innovators
submit after the deadline (spread over its first 3 s, the first 1 ms after it) and must
be refused with 409. ``--clients`` threads of the load generator send them, each on its
own keep-alive ``http.client`` connection (reopened after 1 s idle: gunicorn closes
keep-alive connections after 2 s), so a request starts late only when every thread is
busy (the start lag is reported). Before the rush, ``--warmup`` innovators respond twice to
another tender, so every worker has served the path once.

After the deadline ``marketplace tick`` (a subprocess) closes the tender; then the
database is checked: every 201 is a submitted ``tender_response`` row, the tender's
``responses_received`` equals the 201s, none was accepted late (a 201 whose request
started after the deadline, or a row submitted at or after ``submission_closes_at``),
none was lost (a 201 without its row), and every late attempt got 409. The CPU time of
the load generator, the gunicorn workers and the database's backends is read from
``/proc`` over the rush (and the machine's busy and stolen time): the load generator
shares the two cores with the server. ``--dump FILE`` keeps every attempt for analysis.
"""
from __future__ import annotations

import argparse
import http.client
import itertools
import json
import math
import os
import random
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select, text

from bench.catalogue import NOW, _approval, backend, load_average, machine, write_section
from marketplace import migrate
from marketplace.approvals.models import Approval
from marketplace.bootstrap import bootstrap
from marketplace.catalogue.models import EvidenceDocument, Innovation
from marketplace.entrypoints.command import CLI_ACTOR
from marketplace.identity import service as tokens
from marketplace.kernel.db import make_engine
from marketplace.kernel.settings import Settings
from marketplace.organisations import service as organisations
from marketplace.tenders.models import Tender, TenderResponse

SECTION = "## Tender deadline rush"
TARGET_P99_MS = 250.0
SECRET_KEY = "bench-tender-rush"
ICB, TRUST = "QRU", "RRU"
FIRST_INNOVATOR = 20_000_000
THREADS_PER_WORKER = 4  # marketplace.entrypoints.server.gunicorn_options
IDLE_REOPEN_S = 1.0     # gunicorn's keepalive is 2 s
LATE_SPREAD_S = 3.0
CRITERIA = [{"title": "Clinical quality and safety", "weight_percent": 50, "kind": "quality"},
            {"title": "Social value", "weight_percent": 10, "kind": "social_value"},
            {"title": "Price", "weight_percent": 40, "kind": "price"}]
CLI = [sys.executable, "-m", "marketplace.entrypoints.cli"]


# --- data -------------------------------------------------------------------------------
@dataclass
class Innovator:
    code: str
    token: str
    listing: str = ""


def load(url: str, count: int, seed: int) -> tuple[str, list[Innovator], dict[str, int]]:
    """The ICB, its trust and buyer token, ``count`` innovators with a token each (service
    layer, one unit of work), then a published, approved listing each (Core)."""
    now = datetime.now(UTC)
    marketplace = bootstrap(Settings(database_url=url, secret_key=SECRET_KEY))
    innovators: list[Innovator] = []
    org_ids: list[int] = []
    with marketplace.committed(CLI_ACTOR) as uow:
        organisations.add(uow, code=ICB, kind="icb", name="Rush Integrated Care Board")
        organisations.add(uow, code=TRUST, kind="trust", name="Rush Hospitals NHS Trust",
                          parent=ICB)
        _, buyer = tokens.create(uow, role="icb_buyer", name="rush buyer", code=ICB)
        for n in range(count):
            org = organisations.add(uow, code=f"{FIRST_INNOVATOR + n:08d}", kind="innovator",
                                    name=f"Rush Innovator {n + 1} Ltd")
            _, plain = tokens.create(uow, role="innovator", name=f"rush innovator {n + 1}",
                                     code=org.code)
            innovators.append(Innovator(org.code, plain))
            org_ids.append(org.id)
    rng = random.Random(seed)
    rows: dict[str, list[dict[str, Any]]] = {"innovation": [], "evidence_document": [],
                                             "approval": []}
    for innovator, org_id in zip(innovators, org_ids, strict=True):
        innovator.listing = str(uuid.UUID(int=rng.getrandbits(128)))
        listing = {
            "id": innovator.listing, "organisation_id": org_id, "status": "published",
            "name": f"Rush Triage {innovator.code}",
            "summary": "Supports urgent suspected cancer referrals.", "product_version": "2.0",
            "use_cases": ["AI triage"], "categories": ["cancer.triage"],
            "pathway_stages": ["referral_triage"], "esf_tier": "C",
            "device_class": "IIa", "device_mark": "UKCA", "pricing_model": "site_licence",
            "created_at": NOW, "updated_at": NOW, "published_at": NOW, "version": 1}
        rows["innovation"].append(listing)
        _approval(rows, listing, rng)  # bench.catalogue's evidence and approval rows
        rows["approval"][-1].update(status="approved", expires_at=now + timedelta(days=365))
    engine = marketplace.engine
    with engine.begin() as conn:
        for table in (Innovation.__table__, EvidenceDocument.__table__, Approval.__table__):
            for start in range(0, len(rows[table.name]), 2000):
                conn.execute(insert(table), rows[table.name][start:start + 2000])
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
        conn.execute(text("CHECKPOINT"))
    marketplace.dispose()
    return buyer, innovators, {name: len(value) for name, value in rows.items()}


# --- the server -------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(url: str, instance: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": url, "SECRET_KEY": SECRET_KEY,
            "MARKETPLACE_INSTANCE": instance, "MARKETPLACE_SANDBOX": "false"}


def start_server(env: dict[str, str], port: int, workers: int, logs: Path
                 ) -> subprocess.Popen[bytes]:
    """``marketplace serve`` (gunicorn), its access log and errors in ``logs``."""
    server = subprocess.Popen(
        [*CLI, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        env=env, stdout=(logs / "access.log").open("wb"),
        stderr=(logs / "server.log").open("wb"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("marketplace serve exited:\n" +
                               (logs / "server.log").read_text()[-3000:])
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200 and len(worker_pids(server.pid)) >= workers:
                conn.close()
                return server
            conn.close()
        except OSError:
            pass
        time.sleep(0.2)
    server.terminate()
    raise RuntimeError("marketplace serve did not answer /healthz within 60 s")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# --- CPU from /proc ---------------------------------------------------------------------
TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()  # fields from the state on (comm may hold spaces)


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` (``None`` if it cannot be read)."""
    fields_ = _stat(pid)
    return None if fields_ is None else (int(fields_[11]) + int(fields_[12])) / TICK


def worker_pids(master: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (f := _stat(int(entry.name))) and int(f[1]) == master:
            pids.append(int(entry.name))
    return sorted(pids)


def machine_cpu() -> tuple[float, float, float]:
    """(busy, stolen, total) CPU seconds of the whole machine since boot, from /proc/stat:
    busy leaves out idle, I/O wait and the time the hypervisor gave to other guests."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
    idle, steal = values[3] + values[4], values[7]
    return (sum(values) - idle - steal) / TICK, steal / TICK, sum(values) / TICK


@dataclass
class CpuProbe:
    """CPU seconds of the load generator, the server's processes, the database's backends
    and the whole machine, between :meth:`start` and :meth:`stop`."""

    server: int
    engine: Engine
    before: dict[str, Any] = field(default_factory=dict)
    used: dict[str, float | None] = field(default_factory=dict)

    def _backends(self) -> dict[int, float | None]:
        with self.engine.connect() as conn:
            pids = conn.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()")).scalars().all()
        return {pid: process_cpu(pid) for pid in pids}

    def _sample(self) -> dict[str, Any]:
        return {"wall": time.monotonic(), "self": time.process_time(),
                "server": {pid: process_cpu(pid)
                           for pid in [self.server, *worker_pids(self.server)]},
                "backends": self._backends(), "machine": machine_cpu()}

    def start(self) -> None:
        self.before = self._sample()

    def stop(self) -> None:
        after, before = self._sample(), self.before

        def spent(name: str) -> float | None:
            total = 0.0
            for pid, cpu in after[name].items():
                if cpu is None:
                    return None
                total += cpu - (before[name].get(pid) or 0.0)
            return total

        busy, stolen, _ = (a - b for a, b in zip(after["machine"], before["machine"],
                                                 strict=True))
        workers = [(cpu or 0.0) - (before["server"].get(pid) or 0.0)
                   for pid, cpu in after["server"].items() if pid != self.server]
        self.used = {"wall": after["wall"] - before["wall"],
                     "load_generator": after["self"] - before["self"],
                     "server": spent("server"), "workers": workers,
                     "postgres": spent("backends"),
                     "machine_busy": busy, "stolen": stolen}


# --- the load generator -----------------------------------------------------------------
@dataclass
class Attempt:
    innovator: Innovator
    kind: str              # "on_time", "late" or "warmup"
    at: float              # scheduled start, wall-clock seconds (time.time())
    started: float = 0.0   # actual start, wall clock
    latency_ms: float = 0.0
    status: int | None = None
    body: dict[str, Any] = field(default_factory=dict)
    error: str = ""


class Client:
    """One keep-alive connection, reopened after :data:`IDLE_REOPEN_S` idle."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None
        self.last = 0.0

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def send(self, attempt: Attempt, path: str, payload: bytes) -> None:
        headers = {"Authorization": f"Bearer {attempt.innovator.token}",
                   "Content-Type": "application/json", "Accept": "application/json",
                   "Idempotency-Key": f"rush-{attempt.kind}-{attempt.innovator.code}"}
        if self.conn is not None and time.monotonic() - self.last > IDLE_REOPEN_S:
            self.close()
        attempt.started = time.time()
        started = time.perf_counter()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.conn.request("POST", path, payload, headers)
            response = self.conn.getresponse()
            data = response.read()
            attempt.latency_ms = (time.perf_counter() - started) * 1000
            attempt.status = response.status
            if response.will_close:
                self.close()
            try:
                attempt.body = json.loads(data)
            except ValueError:
                attempt.body = {"raw": data[:200].decode(errors="replace")}
        except (OSError, http.client.HTTPException) as exc:
            attempt.latency_ms = (time.perf_counter() - started) * 1000
            attempt.error = f"{type(exc).__name__}: {exc}"
            self.close()
        self.last = time.monotonic()


def run_attempts(clients: list[Client], attempts: list[Attempt],
                 paths: dict[str, tuple[str, dict[str, Any]]]) -> None:
    """Send ``attempts`` in order of their start times, one thread per client: a thread
    takes the next attempt, sleeps until its start and sends it."""
    queue = iter(sorted(attempts, key=lambda a: a.at))
    lock = threading.Lock()

    def loop(client: Client) -> None:
        while True:
            with lock:
                attempt = next(queue, None)
            if attempt is None:
                return
            path, tender = paths[attempt.kind]
            payload = json.dumps({
                "innovation_id": attempt.innovator.listing,
                "price_pence": 10_000_000 + int(attempt.innovator.code) % 1_000_000,
                "answers": [{"criterion_id": c["criterion_id"],
                             "text": f"We meet it in full ({c['title']})."}
                            for c in tender["criteria"] if c["kind"] != "price"]}).encode()
            delay = attempt.at - time.time()
            if delay > 0:
                time.sleep(delay)
            client.send(attempt, path, payload)

    threads = [threading.Thread(target=loop, args=(c,), daemon=True) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def ramp(n: int, window: float, peak: float, rng: random.Random) -> list[float]:
    """``n`` times before the deadline, in seconds (0 < t <= ``window``), whose rate rises
    linearly over the window to ``peak`` times its mean at the deadline: jittered strata
    of the inverse of F(x) = (2 - peak) x + (peak - 1) x^2, x the fraction elapsed."""
    if not 1 <= peak <= 2:
        raise ValueError("--peak is between 1 (uniform) and 2 (from nothing to twice)")
    out = []
    for i in range(n):
        u = (i + rng.random()) / n
        if peak == 1:
            x = u
        else:
            a, b = peak - 1, 2 - peak
            x = (-b + math.sqrt(b * b + 4 * a * u)) / (2 * a)
        out.append(max(window * (1 - x), 1e-3))
    return out


# --- HTTP as the buyer ------------------------------------------------------------------
def call(port: int, method: str, path: str, token: str, body: Any = None,
         expect: int = 200) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request(method, f"/api/v1{path}", json.dumps(body) if body is not None else None,
                 {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    if response.status != expect:
        raise RuntimeError(f"{method} {path}: {response.status} {data[:500]!r}")
    return json.loads(data)


def published_tender(port: int, buyer: str, title: str, clarify: datetime,
                     deadline: datetime) -> dict[str, Any]:
    body = {"title": title,
            "description": "Triage of suspected cancer referrals at the ICB's trust.",
            "categories": ["cancer.triage"], "pathway_stages": ["referral_triage"],
            "procedure": "open", "estimated_value_pence": 25_000_000,
            "contract_term_months": 24, "clarification_deadline": clarify.isoformat(),
            "submission_deadline": deadline.isoformat(), "min_esf_tier": "B",
            "criteria": CRITERIA}
    draft = call(port, "POST", "/tenders", buyer, body, expect=201)
    return call(port, "POST", f"/tenders/{draft['id']}/publish", buyer, {})


# --- checks -----------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def latency_row(label: str, attempts: list[Attempt]) -> dict[str, Any]:
    values = [a.latency_ms for a in attempts]
    if not values:
        return {"label": label, "count": 0}
    return {"label": label, "count": len(values), "p50": statistics.median(values),
            "p95": percentile(values, 0.95), "p99": percentile(values, 0.99),
            "max": max(values)}


def by_segment(accepted: list[Attempt], end: float, window: float) -> list[dict[str, Any]]:
    """Accepted latencies by when the request started: the window cut at 1/2, 1/6 and 1/30
    of it before the deadline (60 s: 60-30, 30-10, 10-2 and the final 2 s)."""
    bounds = [window, window / 2, window / 6, window / 30, 0.0]
    out = []
    for high, low in itertools.pairwise(bounds):
        inside = [a for a in accepted if low < end - a.started <= high]
        row = latency_row(f"{high:.3g}-{low:.3g} s before", inside)
        row["rate"] = len(inside) / (high - low)
        out.append(row)
    return out


def verify(engine: Engine, tender_id: str, attempts: list[Attempt]) -> dict[str, Any]:
    """What the database holds against what the clients were told."""
    with engine.connect() as conn:
        tender = conn.execute(select(Tender.status, Tender.submission_closes_at,
                                     Tender.responses_received)
                              .where(Tender.id == tender_id)).one()
        rows = {r.id: r for r in conn.execute(select(
            TenderResponse.id, TenderResponse.innovation_id, TenderResponse.status,
            TenderResponse.submitted_at).where(TenderResponse.tender_id == tender_id))}
    closes = tender.submission_closes_at.timestamp()
    accepted = [a for a in attempts if a.status == 201]
    told = {a.body.get("id") for a in accepted}
    lost = [a for a in accepted
            if (row := rows.get(a.body.get("id"))) is None or row.status != "submitted"
            or row.innovation_id != a.innovator.listing]
    late_accepted = [a for a in accepted if a.started >= closes]
    late_rows = [r for r in rows.values() if r.submitted_at.timestamp() >= closes]
    late = [a for a in attempts if a.kind == "late"]
    refused_on_time = [a for a in attempts if a.kind == "on_time" and a.status == 409]
    refused_in_flight = [a for a in refused_on_time if a.started < closes]
    refused = [a for a in attempts if a.status == 409]
    by_listing = {r.innovation_id for r in rows.values()}
    return {
        "tender_status": tender.status, "responses_received": tender.responses_received,
        "rows": len(rows), "accepted": len(accepted), "lost": len(lost),
        "late_accepted": len(late_accepted), "late_rows": len(late_rows),
        "unacknowledged_rows": len(set(rows) - told),
        "late_attempts": len(late), "late_refused": sum(a.status == 409 for a in late),
        "refused_in_flight": len(refused_in_flight),
        "started_late_by_lag": len(refused_on_time) - len(refused_in_flight),
        "refused_with_row": sum(a.innovator.listing in by_listing for a in refused),
        "refusals_about_deadline": sum("deadline" in str(a.body.get("detail", ""))
                                       for a in refused),
        "statuses": dict(sorted(Counter(str(a.status or a.error.split(":")[0])
                                        for a in attempts).items())),
        "errors": [f"{a.innovator.code} {a.status} {a.error or a.body}"
                   for a in attempts if a.status not in (201, 409)][:10],
    }


def passed(result: dict[str, Any]) -> bool:
    checks = result["checks"]
    accepted = result["latency"][0]
    return (checks["lost"] == 0 and checks["late_accepted"] == 0 and checks["late_rows"] == 0
            and checks["unacknowledged_rows"] == 0
            and checks["late_refused"] == checks["late_attempts"]
            and checks["refused_with_row"] == 0
            and checks["responses_received"] == checks["accepted"] == checks["rows"]
            and checks["tender_status"] == "closed"
            and set(checks["statuses"]) <= {"201", "409"}
            and accepted["count"] > 0 and accepted["p99"] <= TARGET_P99_MS)


# --- the run ----------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    with backend("postgresql", args.postgres) as url, \
            tempfile.TemporaryDirectory(prefix="tender_rush_") as tmp:
        engine = make_engine(url)
        migrate.upgrade(engine)
        with engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar()
        started = time.perf_counter()
        total = args.innovators + args.late + args.warmup
        buyer, innovators, counts = load(url, total, args.seed)
        load_seconds = time.perf_counter() - started
        rushing = innovators[:args.innovators]
        late = innovators[args.innovators:args.innovators + args.late]
        warming = innovators[args.innovators + args.late:]
        port, env = free_port(), server_env(url, tmp)
        server = start_server(env, port, args.workers, Path(tmp))
        try:
            clients = [Client(port) for _ in range(args.clients)]
            now = datetime.now(UTC)
            warm = published_tender(port, buyer, "Warm-up tender", now + timedelta(hours=1),
                                    now + timedelta(hours=2))
            warm_path = f"/api/v1/tenders/{warm['id']}/responses"
            warmups = [Attempt(i, "warmup", time.time()) for _ in range(2) for i in warming]
            run_attempts(clients, warmups, {"warmup": (warm_path, warm)})

            # The rush tender: deadline --lead + --window ahead, on a whole second.
            start = datetime.now(UTC)
            deadline = (start + timedelta(seconds=args.lead + args.window + 1)).replace(
                microsecond=0)
            tender = published_tender(port, buyer, "AI triage for urgent suspected cancer "
                                      "referrals", deadline - timedelta(seconds=args.window),
                                      deadline)
            closes = datetime.fromisoformat(tender["submission_closes_at"])
            assert closes == deadline, (closes, deadline)
            end = closes.timestamp()
            path = f"/api/v1/tenders/{tender['id']}/responses"
            shuffled = rushing[:]
            rng.shuffle(shuffled)
            attempts = [Attempt(i, "on_time", end - before) for i, before in
                        zip(shuffled, ramp(len(shuffled), args.window, args.peak, rng),
                            strict=True)]
            attempts += [Attempt(i, "late", end + max(0.001, LATE_SPREAD_S * n / len(late)))
                         for n, i in enumerate(late)]
            lead_left = end - args.window - time.time()
            if lead_left < 1:
                raise RuntimeError(f"setup ran into the window ({lead_left:.1f} s left)")
            time.sleep(lead_left - 1)  # the probe starts a second before the window
            probe = CpuProbe(server.pid, engine)
            probe.start()
            run_attempts(clients, attempts, {"on_time": (path, tender), "late": (path, tender)})
            probe.stop()
            for client in clients:
                client.close()
            tick = subprocess.run([*CLI, "tick"], env=env, capture_output=True, text=True,
                                  check=True)
            checks = verify(engine, tender["id"], attempts)
        finally:
            stop_server(server)
            engine.dispose()
    on_time = [a for a in attempts if a.kind == "on_time"]
    accepted = [a for a in on_time if a.status == 201]
    before_deadline = [end - a.started for a in on_time if a.started < end]
    lags = [(a.started - a.at) * 1000 for a in attempts]
    return {
        "version": version, "counts": counts, "load_seconds": load_seconds,
        "deadline": closes.isoformat(), "tick": tick.stdout.strip().splitlines(),
        "latency": [latency_row("accepted (201)", accepted),
                    latency_row("every on-time attempt", on_time),
                    latency_row("late attempts (409)", [a for a in attempts
                                                        if a.kind == "late"])],
        "segments": by_segment(accepted, end, args.window),
        "final_2s": sum(t <= 2 for t in before_deadline),
        "final_500ms": sum(t <= 0.5 for t in before_deadline),
        "attempts": [{"innovator": a.innovator.code, "kind": a.kind, "at": a.at,
                      "started": a.started, "latency_ms": a.latency_ms, "status": a.status,
                      "error": a.error} for a in attempts],
        "max_start_lag_ms": max(lags), "p99_start_lag_ms": percentile(lags, 0.99),
        "checks": checks, "cpu": probe.used,
    }


#: Where a submission's time goes, profiled in-process (Flask test client, one thread, 300
#: submissions on this data after a warm-up; thread CPU clock and cProfile), and how the
#: machine's scheduler shares it out (a 300-innovator run over 6 s, 50/s on average).
LIMITS = [
    "What limits it: the server's Python CPU per submission, on two cores shared with "
    "PostgreSQL, the load generator and whatever else runs. Profiled in-process (Flask test "
    "client, one thread, on this data) before two changes, a submission took 22 ms of wall "
    "time on PostgreSQL and 16 ms of CPU: 11 SQL statements plus `BEGIN`, `SAVEPOINT`, "
    "`RELEASE`, `COMMIT` and the pool's pre-ping, 16 round trips. By cProfile the time was "
    "SQLAlchemy's ORM (45%: executing statements, loading wide rows with their joined "
    "organisations) and psycopg's Python side (28%: sending, reading, a column object for "
    "each of ~180 result columns), Flask and Werkzeug 6%, marshmallow 2%, the "
    "marketplace's own code 3%, sealing (AES-GCM) under 1%; by step, the tender's `FOR "
    "SHARE` read (every column, the ICB joined, then the criteria) 6.6 ms, the commit 6.4 "
    "ms, the idempotency lookup with the autoflushed `last_used_at` of each token's first "
    "use 5.3 ms, the token lookup 4.4 ms, the listing and its approvals 5.4 ms. The "
    "savepoint went (a concurrent first submission for the same listing is the "
    "endpoint's 409 on the unique index) and the tender's lock no longer joins its ICB: "
    "18 ms of wall time and 15 ms of CPU per submission in-process since.",
    "",
    "On two free cores the two workers would serve roughly 80 submissions/s (two cores over "
    "about 21 + 4 ms of CPU each, this run's figures: an estimate, not measured), more than "
    "twice the rate at the deadline. "
    "This machine is shared, and its kernel schedules by autogroup "
    "(`/proc/sys/kernel/sched_autogroup_enabled` is 1): each session gets a fair share, "
    "and the server's workers share one session with the load generator, while every "
    "PostgreSQL backend and every other engineer's test run is a session of its own. In "
    "a 300-innovator run over 6 s (50/s on average) with other tests running, each worker "
    "got 0.29 of a core while requests queued for over a second. Once the arrival rate "
    "passes what the server's share serves, the queue grows until the deadline, and "
    "submissions sent before it that reach the tender's lock after it are refused with 409: "
    "the deadline is the server's clock when a submission is processed, not when it "
    "arrived.",
    "",
]


def _ms(value: float) -> str:
    return f"{value:.1f}"


def _cpu(seconds: float | None, wall: float) -> str:
    if seconds is None:
        return "unreadable"
    return f"{seconds:.1f} s ({seconds / wall:.0%} of a core)"


def _others(cpu: dict[str, Any]) -> str:
    ours = [cpu[k] for k in ("load_generator", "server", "postgres")]
    if any(v is None for v in ours):
        return ""
    return (f", {(cpu['machine_busy'] - sum(ours)) / cpu['wall']:.2f} of them by other work "
            "(the kernel, other processes on the machine)")


def _stolen(cpu: dict[str, Any]) -> str:
    return (f"; {cpu['stolen'] / cpu['wall']:.2f} cores' worth of time stolen by the "
            "hypervisor")


def report(result: dict[str, Any], command: str, args: argparse.Namespace,
           loads: tuple[str, str]) -> str:
    checks, cpu = result["checks"], result["cpu"]
    accepted = result["latency"][0]
    met = accepted.get("p99", math.inf) <= TARGET_P99_MS
    lines = [
        SECTION, "",
        f"The deadline rush: {args.innovators:,} innovators each submit one sealed response "
        f"(`POST /api/v1/tenders/{{id}}/responses`, own token, an `Idempotency-Key`) in the "
        f"last {args.window:g} s before an open tender's submission deadline, through "
        f"`marketplace serve` (gunicorn, {args.workers} gthread workers x "
        f"{THREADS_PER_WORKER} threads) on PostgreSQL with the real clock, and "
        f"{args.late} more submit after the deadline. Timed end to end at the client "
        "(connection, request, response read) on localhost. Each innovator has one "
        "published listing (ESF tier C, the tender asks for B) with a live central approval, "
        "bulk-loaded; the buyer drafts and publishes the tender over HTTP with its deadline "
        f"about {args.lead + args.window:g} s ahead. Target: p99 of accepted submissions <= "
        f"{TARGET_P99_MS:.0f} ms, and no response lost or accepted late.",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {machine()}; PostgreSQL {result['version']}. Load average (1 min) at "
        f"start {loads[0]}, at end {loads[1]}.",
        "",
        f"Shape of the rush: start times drawn for the innovators (jittered strata) so that "
        f"the arrival rate rises linearly over the window to {args.peak:g} times its mean "
        f"at the deadline (mean {args.innovators / args.window:.1f}/s, at the deadline "
        f"{args.peak * args.innovators / args.window:.1f}/s); "
        f"{result['final_2s']} were sent in the final 2 s and {result['final_500ms']} in "
        f"the final 0.5 s. The {args.late} late attempts start from 1 ms to "
        f"{LATE_SPREAD_S:g} s after the deadline. The load generator sends from "
        f"{args.clients} threads, each on its own keep-alive `http.client` connection; "
        f"start lag behind the schedule p99 {result['p99_start_lag_ms']:.1f} ms, max "
        f"{result['max_start_lag_ms']:.1f} ms. Before the rush {args.warmup} other "
        "innovators respond twice to another tender (warm-up). Setup (migrations aside): "
        f"{result['load_seconds']:.1f} s for {result['counts']['innovation']:,} "
        "innovators with tokens, listings and approvals.",
        "",
        "| submissions | count | p50 ms | p95 ms | p99 ms | max ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["latency"]:
        if row["count"]:
            lines.append(f"| {row['label']} | {row['count']:,} | {_ms(row['p50'])} | "
                         f"{_ms(row['p95'])} | **{_ms(row['p99'])}** | {_ms(row['max'])} |"
                         if row is accepted else
                         f"| {row['label']} | {row['count']:,} | {_ms(row['p50'])} | "
                         f"{_ms(row['p95'])} | {_ms(row['p99'])} | {_ms(row['max'])} |")
    lines += [
        "",
        "Accepted submissions by when they started (the rate is of those accepted):",
        "",
        "| started | accepted | rate /s | p50 ms | p95 ms | p99 ms | max ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [f"| {r['label']} | {r['count']:,} | {r['rate']:.1f} | {_ms(r['p50'])} | "
              f"{_ms(r['p95'])} | {_ms(r['p99'])} | {_ms(r['max'])} |"
              for r in result["segments"] if r["count"]]
    statuses = ", ".join(f"{k}: {v:,}" for k, v in checks["statuses"].items())
    lines += [
        "",
        "Checked from the database after `marketplace tick` closed the tender "
        f"(tender {checks['tender_status']}, `responses_received` "
        f"{checks['responses_received']}):",
        "",
        "| check | count | must be |",
        "| --- | ---: | --- |",
        f"| answers by status | {statuses} | 201 or 409 only |",
        f"| accepted (201) | {checks['accepted']:,} | = `tender_response` rows "
        f"({checks['rows']:,}) = `responses_received` ({checks['responses_received']}) |",
        f"| lost (a 201 without its submitted row) | {checks['lost']} | 0 |",
        f"| accepted late (a 201 whose request started after the deadline) | "
        f"{checks['late_accepted']} | 0 |",
        f"| rows with `submitted_at` >= `submission_closes_at` | {checks['late_rows']} | 0 |",
        f"| rows no client was told of (no 201) | {checks['unacknowledged_rows']} | 0 |",
        f"| late attempts refused with 409 | {checks['late_refused']} of "
        f"{checks['late_attempts']} | all |",
        f"| on-time attempts refused: sent before the deadline, reached the tender after "
        f"it | {checks['refused_in_flight']} | (the server's clock decides) |",
        f"| on-time attempts refused: the load generator sent them after the deadline "
        f"(start lag) | {checks['started_late_by_lag']} | (not the server's doing) |",
        f"| refused attempts with a row | {checks['refused_with_row']} | 0 |",
        "",
        f"CPU over the rush ({cpu['wall']:.1f} s, from a second before the window to the "
        "last answer; two cores shared by all of it): load generator "
        f"{_cpu(cpu['load_generator'], cpu['wall'])}, gunicorn (master and workers) "
        f"{_cpu(cpu['server'], cpu['wall'])}, of which the workers "
        f"{', '.join(f'{w:.1f} s' for w in cpu['workers'])}, the database's PostgreSQL backends "
        f"{_cpu(cpu['postgres'], cpu['wall'])}; the whole machine "
        f"{cpu['machine_busy'] / cpu['wall']:.2f} of its {os.cpu_count()} cores busy"
        f"{_others(cpu)}{_stolen(cpu)}. The load generator runs on the same two cores as "
        "the server and the database, so its CPU is taken from them.",
        "",
        f"p99 of accepted submissions: {_ms(accepted['p99'])} ms "
        f"({'meets' if met else 'MISSES'} the {TARGET_P99_MS:.0f} ms target); "
        f"{checks['lost']} lost, {checks['late_accepted'] + checks['late_rows']} accepted "
        "late.",
        "",
        *LIMITS,
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--innovators", type=int, default=1_000)
    parser.add_argument("--window", type=float, default=60.0,
                        help="seconds before the deadline the on-time submissions start in")
    parser.add_argument("--peak", type=float, default=2.0,
                        help="arrival rate at the deadline / mean rate (1 to 2)")
    parser.add_argument("--late", type=int, default=20,
                        help="innovators submitting after the deadline")
    parser.add_argument("--warmup", type=int, default=16,
                        help="innovators responding twice to another tender first")
    parser.add_argument("--lead", type=float, default=15.0,
                        help="seconds from publishing the tender to the window")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--clients", type=int, default=64,
                        help="load generator threads (one connection each)")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--postgres", metavar="SERVER_URL",
                        default=os.environ.get("TEST_DATABASE_URL"),
                        help="PostgreSQL server for a scratch database (default: "
                             "TEST_DATABASE_URL)")
    parser.add_argument("--dump", metavar="FILE", type=Path,
                        help="write every attempt (times, latency, status) as JSON")
    parser.add_argument("--write", metavar="FILE", type=Path,
                        help="replace (or append at the end) the Tender deadline rush section")
    args = parser.parse_args(argv)
    if not args.postgres:
        parser.error("--postgres (or TEST_DATABASE_URL) is required")
    started_load = load_average()
    result = run(args)
    python = os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd()) \
        else "python"
    command = f"{python} -m bench.tender_rush " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    section = report(result, command.strip(), args, (started_load, load_average()))
    print(section)
    print(json.dumps({k: v for k, v in result.items()
                      if k not in ("latency", "segments", "attempts")}, default=str),
          file=sys.stderr)
    if args.dump:
        args.dump.write_text(json.dumps(result, default=str, indent=1))
    if args.write:
        write_section(args.write, section, SECTION)
    return 0 if passed(result) else 1


if __name__ == "__main__":
    sys.exit(main())
