"""``marketplace dev``: the whole system on one machine, on the embedded defaults.

Each component runs as its own process, exactly as in production (compose.yaml),
so what works here works there. Each one's output goes in full to
``instance/logs/<component>.log``; the console shows only this supervisor's lines and
the components' warnings and errors, and ends with the banner (URLs and demo tokens),
printed once the web app answers, so nothing scrolls it away.
"""
from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import click
from sqlalchemy import make_url

from events.broker import EmbeddedBroker
from events.topics import ensure_topics
from marketplace import migrate
from marketplace.bootstrap import bootstrap
from marketplace.demo import seed
from marketplace.entrypoints.command import command_unit_of_work
from marketplace.entrypoints.worker import LOG_FORMAT
from marketplace.identity import service as tokens
from marketplace.identity.models import ApiToken
from marketplace.kernel.settings import INSTANCE_DIR, Settings

# (role, organisation code) of the tokens printed at start.
DEV_TOKENS: tuple[tuple[str, str | None], ...] = (
    ("admin", None),
    ("icb_buyer", "QOP"),
    ("innovator", "09876543"),
    ("assessor", "X24"),
    ("funder", "X26"),
    ("trust_system", "R0A"),
)


# Demo trusts (seeded by marketplace.demo) that get a trust adapter each.
DEMO_ADAPTER_TRUSTS: tuple[str, ...] = ("R0A", "RBV")

LOG_DIR = INSTANCE_DIR / "logs"
# The plain demo tokens (the database keeps only their hashes), so they survive restarts.
TOKENS_FILE = INSTANCE_DIR / "dev_tokens.json"
STARTUP_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
POLL_SECONDS = 0.2

@dataclass(frozen=True)
class DevToken:
    """A token ``marketplace dev`` keeps: ``key`` names it in :data:`TOKENS_FILE`."""

    key: str
    role: str
    code: str | None
    name: str


def _key(role: str, code: str | None) -> str:
    """A token's name in the file: role, and organisation where the role has one."""
    return f"{role}:{code}" if code else role


def wanted_tokens() -> list[DevToken]:
    """The banner's tokens, then one trust_system token per demo adapter (gap healing)."""
    return [
        *(DevToken(_key(role, code), role, code, f"dev {role}")
          for role, code in DEV_TOKENS),
        *(DevToken(f"adapter:{ods}", "trust_system", ods, f"dev trust adapter {ods}")
          for ods in DEMO_ADAPTER_TRUSTS),
    ]


def _load_stored_tokens(path: Path) -> dict[str, str]:
    """Whatever a previous run kept; an unreadable file just means new tokens."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        click.echo(f"{path} is unreadable: issuing new demo tokens", err=True)
        return {}
    stored = data.get("tokens") if isinstance(data, dict) else None
    if not isinstance(stored, dict):
        return {}
    return {key: plain for key, plain in stored.items()
            if isinstance(key, str) and isinstance(plain, str)}


def _write_private(path: Path, text: str) -> None:
    """Owner-only (0600) from the first byte, and replaced whole so a crash leaves no half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(partial, 0o600)  # O_CREAT's mode does not apply to a leftover file
    os.replace(partial, path)


def _fits(token: ApiToken, wanted: DevToken) -> bool:
    """A hand-edited file must not turn, say, the admin line into an innovator's token."""
    code = token.organisation.code if token.organisation else None
    return str(token.role) == wanted.role and code == wanted.code


def dev_tokens(settings: Settings, path: Path = TOKENS_FILE) -> dict[str, str]:
    """Plain token by key: the stored ones while this database still has them live, so
    saved curl lines keep working; new ones (then stored) after e.g. a new database."""
    stored = _load_stored_tokens(path)
    plain_by_key: dict[str, str] = {}
    with command_unit_of_work(settings) as uow:
        for wanted in wanted_tokens():
            plain = stored.get(wanted.key)
            token = tokens.find_live(uow, plain) if plain else None
            if plain is None or token is None or not _fits(token, wanted):
                _, plain = tokens.create(uow, role=wanted.role, code=wanted.code,
                                         name=wanted.name)
            plain_by_key[wanted.key] = plain
    if plain_by_key != stored:  # written only once the new tokens are committed
        _write_private(path, json.dumps({
            "about": "marketplace dev's demo tokens; new ones are issued when this "
                     "instance's database no longer knows these",
            "tokens": plain_by_key,
        }, indent=2) + "\n")
    return plain_by_key


@dataclass
class Component:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] | None = None  # added to the shared environment


def components(port: int, adapter_tokens: dict[str, str] | None = None) -> list[Component]:
    """The processes to run; ``python -m`` rather than the console scripts, so they are
    this interpreter's code whether or not (or however) the scripts were installed."""
    marketplace = [sys.executable, "-m", "marketplace.entrypoints.cli"]
    adapter = [sys.executable, "-m", "adapters.cli"]
    adapters = [
        Component(f"adapter-{ods}", [*adapter, "run", "--trust", ods, "--out",
                                     str(INSTANCE_DIR / "trusts" / ods), "--register-url",
                                     f"http://127.0.0.1:{port}"],
                  env={"MARKETPLACE_TOKEN": token})
        for ods, token in (adapter_tokens or {}).items()
    ]
    return [
        Component("web", [*marketplace, "serve", "--port", str(port)]),
        Component("relay", [*marketplace, "relay"]),
        Component("acks", [*marketplace, "acks"]),
        *adapters,
    ]


def _fresh_log(name: str, log_dir: Path = LOG_DIR) -> Path:
    """``instance/logs/<name>.log``, empty; the previous run's is kept as ``.log.1``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"{name}.log"
    if path.exists():
        path.replace(path.with_name(path.name + ".1"))
    path.touch()
    return path


def _configure_supervisor_logging() -> None:
    """This process's own libraries (kafka-python creating topics): in full to dev.log,
    warnings and errors on the console."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    to_file = logging.FileHandler(_fresh_log("dev"))
    to_file.setFormatter(logging.Formatter(LOG_FORMAT))
    to_console = logging.StreamHandler(sys.stderr)
    to_console.setLevel(logging.WARNING)
    to_console.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root.addHandler(to_file)
    root.addHandler(to_console)


# A line that starts a log record, with its level: logging's and tansu's timestamps,
# gunicorn's "[time] [pid] [LEVEL]"; gunicorn's access lines start records of no level.
_RECORD_LEVEL = re.compile(r"^(?:\d{4}-\d\d-\d\d[ T][\d:.,]+Z?\s+|\[[^\]]+\] \[\d+\] \[)"
                           r"(?P<level>[A-Z]+)\b")
_ACCESS_LINE = re.compile(r'^\S+ \S+ \S+ \[[^\]]+\] "')
_NOTABLE_LEVELS = frozenset({"WARNING", "WARN", "ERROR", "CRITICAL", "FATAL"})


class LogTail:
    """Follows a component's log file and hands on its warnings and errors, with their
    tracebacks; lines before any record (an import error, a click error) count too."""

    def __init__(self, name: str, path: Path) -> None:
        self.name, self.path = name, path
        self._offset = 0
        self._partial = b""
        self._notable = True

    def notable_lines(self, *, final: bool = False) -> list[str]:
        try:
            with self.path.open("rb") as log_file:
                log_file.seek(self._offset)
                data = log_file.read()
        except OSError:
            return []
        self._offset += len(data)
        chunks = (self._partial + data).split(b"\n")
        self._partial = b"" if final else chunks.pop()
        lines = []
        for chunk in chunks:
            line = chunk.decode("utf-8", errors="replace").rstrip()
            record = _RECORD_LEVEL.match(line)
            if record:
                self._notable = record["level"] in _NOTABLE_LEVELS
            elif _ACCESS_LINE.match(line):
                self._notable = False
            if self._notable and line:
                lines.append(line)
        return lines


class Supervisor:
    """Starts the components with their logs in files, relays their warnings and errors,
    and stops them all, whichever way the run ends."""

    def __init__(self, running: list[Component], env: dict[str, str],
                 log_dir: Path = LOG_DIR) -> None:
        self.running = running
        self.env = env
        self.log_dir = log_dir
        self.tails: list[LogTail] = []
        self.stopping = False

    def _stop_soon(self, *_: object) -> None:
        self.stopping = True

    def stop_on_signals(self) -> None:
        """Ctrl-C or SIGTERM ends the wait or the supervision, and then :meth:`stop` runs."""
        signal.signal(signal.SIGINT, self._stop_soon)
        signal.signal(signal.SIGTERM, self._stop_soon)

    def start(self) -> None:
        for component in self.running:
            path = _fresh_log(component.name, self.log_dir)
            with path.open("ab") as log_file:  # the child keeps its own descriptor
                component.process = subprocess.Popen(
                    component.argv, env={**self.env, **(component.env or {})},
                    stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
            self.tails.append(LogTail(component.name, path))

    def follow(self, *, final: bool = False) -> None:
        """Echo the warnings and errors logged since last time (stderr: stdout stays ours).
        Not once stopping: Ctrl-C reaches the broker too, and the components' complaints
        about it going are noise (they stay in the log files)."""
        if self.stopping:
            return
        for each in self.tails:
            for line in each.notable_lines(final=final):
                click.echo(f"{each.name}: {line}", err=True)

    def exited(self) -> Component | None:
        for component in self.running:
            assert component.process is not None
            if component.process.poll() is not None:
                return component
        return None

    def _exit_report(self, component: Component, when: str = "") -> str:
        assert component.process is not None
        self.follow(final=True)  # its last words (a traceback) first
        return (f"{component.name} exited with {component.process.returncode}{when} "
                f"(its log: {self.log_dir / (component.name + '.log')})")

    def wait_until_up(self, health_url: str, timeout: float) -> str | None:
        """``None`` once ``health_url`` answers and every component still runs; else why not."""
        deadline = time.monotonic() + timeout
        while not self.stopping:
            self.follow()
            gone = self.exited()
            if gone:
                return self._exit_report(gone, " during startup")
            if _answers(health_url):
                gone = self.exited()
                return self._exit_report(gone, " during startup") if gone else None
            if time.monotonic() >= deadline:
                return (f"the web app did not answer {health_url} within {timeout:.0f} s "
                        f"(its log: {self.log_dir / 'web.log'})")
            time.sleep(POLL_SECONDS)
        return "stopped before the services were up"

    def supervise(self) -> int:
        """Until Ctrl-C (or SIGTERM), or a component exits: then its code."""
        while not self.stopping:
            self.follow()
            gone = self.exited()
            if gone:
                click.echo(self._exit_report(gone) + ": stopping the others", err=True)
                assert gone.process is not None
                return gone.process.returncode or 1
            time.sleep(POLL_SECONDS)
        return 0

    def stop(self) -> None:
        for component in self.running:
            if component.process and component.process.poll() is None:
                component.process.terminate()
        for component in self.running:
            if component.process:
                try:
                    component.process.wait(timeout=STOP_TIMEOUT_SECONDS)
                except subprocess.TimeoutExpired:
                    click.echo(f"{component.name} did not stop within "
                               f"{STOP_TIMEOUT_SECONDS:.0f} s: killed", err=True)
                    component.process.kill()
                    component.process.wait()


def _answers(url: str) -> bool:
    """True when ``url`` gives a 200, asked directly (an HTTP proxy setting must not
    answer for a local port)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=1) as response:
            return bool(response.status == 200)
    except (OSError, ValueError):
        return False


def _port_is_free(port: int) -> bool:
    """Binds as gunicorn does (SO_REUSEADDR), so a just-closed previous run does not count."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def run_dev(port: int) -> int:
    """Everything up, then supervised until Ctrl-C; the exit code says how it ended."""
    try:
        return _run_dev(port)
    except KeyboardInterrupt:  # Ctrl-C while migrating or seeding, before the supervisor
        click.echo("stopped", err=True)
        return 130


def _run_dev(port: int) -> int:
    if not _port_is_free(port):
        raise click.ClickException(f"port {port} is in use: stop what holds it, or pass "
                                   f"--port to marketplace dev")
    settings = Settings.from_env()
    _configure_supervisor_logging()
    with ExitStack() as stack:
        bootstrap_servers = settings.kafka_bootstrap_servers
        if not bootstrap_servers:
            broker = stack.enter_context(EmbeddedBroker(log_path=_fresh_log("broker")))
            bootstrap_servers = broker.bootstrap_servers
            click.echo(f"embedded Kafka broker (tansu) on {bootstrap_servers}")
        ensure_topics(bootstrap_servers)
        env = {key: value for key, value in os.environ.items() if key != "MARKETPLACE_TOKEN"}
        env.update(DATABASE_URL=settings.database_url, SECRET_KEY=settings.secret_key,
                   KAFKA_BOOTSTRAP_SERVERS=bootstrap_servers, PYTHONUNBUFFERED="1")
        return _run(settings, env, port)


def _run(settings: Settings, env: dict[str, str], port: int) -> int:
    """Database and tokens ready first, then the components; the banner once they are up."""
    marketplace = bootstrap(settings)
    migrate.upgrade(marketplace.engine)
    marketplace.dispose()
    with command_unit_of_work(settings) as uow:
        for line in seed(uow, settings.evidence_dir):
            click.echo(f"seeded {line}")
    plain = dev_tokens(settings)
    adapter_tokens = {ods: plain[f"adapter:{ods}"] for ods in DEMO_ADAPTER_TRUSTS}
    supervisor = Supervisor(components(port, adapter_tokens), env)
    click.echo(f"starting {', '.join(c.name for c in supervisor.running)} "
               f"(logs in {LOG_DIR})")
    supervisor.stop_on_signals()
    try:
        supervisor.start()
        failure = supervisor.wait_until_up(f"http://127.0.0.1:{port}/healthz",
                                           STARTUP_TIMEOUT_SECONDS)
        if failure is not None:
            click.echo(failure, err=True)
            return 0 if supervisor.stopping else 1
        _print_banner(settings, env, port, plain)
        return supervisor.supervise()
    finally:
        supervisor.stop()
        click.echo("stopped")


def banner(settings: Settings, env: dict[str, str], port: int, plain: dict[str, str]
           ) -> list[str]:
    """What a newcomer needs, in the order they need it: where things are, then tokens."""
    base = f"http://127.0.0.1:{port}"
    return [
        "",
        f"Marketplace API  {base}/api/v1/openapi.json",
        f"Health           {base}/readyz",
        f"Database         {make_url(settings.database_url).render_as_string()}",
        f"Kafka            {env['KAFKA_BOOTSTRAP_SERVERS']}",
        f"Event feed       {base}/api/v1/events",
        f"Conformance      {base}/api/v1/trusts/conformance",
        *(f"Trust adapter    {ods}: {INSTANCE_DIR / 'trusts' / ods} "
          f"(trust-adapter status --out ...)" for ods in DEMO_ADAPTER_TRUSTS),
        f"Logs             {LOG_DIR} (one file per component)",
        f"Demo tokens (Authorization: Bearer <token>; kept in {TOKENS_FILE}):",
        *(f"  {role:<13} {code or '-':<9} {plain[_key(role, code)]}"
          for role, code in DEV_TOKENS),
        "Press Ctrl-C to stop.",
    ]


def _print_banner(settings: Settings, env: dict[str, str], port: int,
                  plain: dict[str, str]) -> None:
    click.echo("\n".join(banner(settings, env, port, plain)))

