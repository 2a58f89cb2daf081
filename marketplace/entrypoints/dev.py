"""``marketplace dev``: the whole system on one machine, on the embedded defaults.

Each component runs as its own process, exactly as in production (compose.yaml),
so what works here works there. Each one's output goes in full to
``instance/logs/<component>.log``; the console shows only this supervisor's lines and
the components' warnings and errors, and ends with the banner (URLs and demo tokens),
printed once the web app answers, so nothing scrolls it away.
"""
from __future__ import annotations

import logging
import os
import socket
import sys
from contextlib import ExitStack

import click
from sqlalchemy import make_url

from events.broker import EmbeddedBroker
from events.topics import ensure_topics
from marketplace import migrate
from marketplace.bootstrap import bootstrap
from marketplace.demo import seed
from marketplace.entrypoints.command import command_unit_of_work
from marketplace.entrypoints.dev_tokens import (
    DEMO_ADAPTER_TRUSTS,
    DEV_TOKENS,
    TOKENS_FILE,
    demo_email,
    dev_people,
    dev_tokens,
    token_key,
)
from marketplace.entrypoints.supervisor import LOG_DIR, Component, Supervisor, fresh_log
from marketplace.entrypoints.worker import LOG_FORMAT
from marketplace.kernel.settings import INSTANCE_DIR, Settings

STARTUP_TIMEOUT_SECONDS = 30.0


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


def _configure_supervisor_logging() -> None:
    """This process's own libraries (kafka-python creating topics): in full to dev.log,
    warnings and errors on the console."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    to_file = logging.FileHandler(fresh_log("dev"))
    to_file.setFormatter(logging.Formatter(LOG_FORMAT))
    to_console = logging.StreamHandler(sys.stderr)
    to_console.setLevel(logging.WARNING)
    to_console.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root.addHandler(to_file)
    root.addHandler(to_console)


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
            broker = stack.enter_context(EmbeddedBroker(log_path=fresh_log("broker")))
            bootstrap_servers = broker.bootstrap_servers
            click.echo(f"embedded Kafka broker (tansu) on {bootstrap_servers}")
        ensure_topics(bootstrap_servers)
        env = {key: value for key, value in os.environ.items() if key != "MARKETPLACE_TOKEN"}
        # MARKETPLACE_DEV: plain http on this machine, so no Secure flag on the session
        # cookie (marketplace.web.sign_in).
        env.update(DATABASE_URL=settings.database_url, SECRET_KEY=settings.secret_key,
                   KAFKA_BOOTSTRAP_SERVERS=bootstrap_servers, PYTHONUNBUFFERED="1",
                   MARKETPLACE_DEV="true")
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
    sign_ins = dev_people(settings)
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
        _print_banner(settings, env, port, plain, sign_ins)
        return supervisor.supervise()
    finally:
        supervisor.stop()
        click.echo("stopped")


def banner(settings: Settings, env: dict[str, str], port: int, plain: dict[str, str],
           sign_ins: dict[str, str] | None = None) -> list[str]:
    """What a newcomer needs, in the order they need it: where things are, then tokens
    and the demo people's sign-ins."""
    base = f"http://127.0.0.1:{port}"
    people_lines = [
        f"Demo sign-ins at {base}/sign-in (email, password; kept in {TOKENS_FILE}):",
        *(f"  {role:<13} {demo_email(role):<32} {sign_ins[demo_email(role)]}"
          for role, _ in DEV_TOKENS if demo_email(role) in sign_ins),
    ] if sign_ins else []
    return [
        "",
        f"Web pages        {base}/",
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
        *(f"  {role:<13} {code or '-':<9} {plain[token_key(role, code)]}"
          for role, code in DEV_TOKENS),
        *people_lines,
        "Press Ctrl-C to stop.",
    ]


def _print_banner(settings: Settings, env: dict[str, str], port: int,
                  plain: dict[str, str], sign_ins: dict[str, str] | None = None) -> None:
    click.echo("\n".join(banner(settings, env, port, plain, sign_ins)))

