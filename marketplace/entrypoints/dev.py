"""``marketplace dev``: the whole system on one machine, on the embedded defaults.

Each component runs as its own process, exactly as in production (compose.yaml),
so what works here works there.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass

import click

from events.broker import EmbeddedBroker
from events.topics import ensure_topics
from marketplace import migrate
from marketplace.cli import cli_unit_of_work
from marketplace.config import INSTANCE_DIR, Settings
from marketplace.db import make_engine
from marketplace.demo import seed
from marketplace.services import tokens

# (role, organisation code, label) of the tokens printed at start.
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


@dataclass
class Component:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] | None = None  # added to the shared environment


def _issue_dev_tokens(settings: Settings) -> list[tuple[str, str | None, str]]:
    """Fresh tokens for this run (only hashes are stored, so old ones cannot be shown again)."""
    issued = []
    with cli_unit_of_work(settings) as uow:
        for role, code in DEV_TOKENS:
            _, plain = tokens.create(uow, role=role, code=code, name=f"dev {role}")
            issued.append((role, code, plain))
    return issued


def _issue_adapter_tokens(settings: Settings) -> dict[str, str]:
    """A trust_system token per demo adapter, for healing gaps from the event feed."""
    with cli_unit_of_work(settings) as uow:
        return {ods: tokens.create(uow, role="trust_system", code=ods,
                                   name=f"dev trust adapter {ods}")[1]
                for ods in DEMO_ADAPTER_TRUSTS}


def components(port: int, adapter_tokens: dict[str, str] | None = None) -> list[Component]:
    bin_dir = os.path.dirname(sys.executable)
    marketplace = os.path.join(bin_dir, "marketplace")
    adapter = os.path.join(bin_dir, "trust-adapter")
    adapters = [
        Component(f"adapter-{ods}", [adapter, "run", "--trust", ods, "--out",
                                     str(INSTANCE_DIR / "trusts" / ods), "--register-url",
                                     f"http://127.0.0.1:{port}"],
                  env={"MARKETPLACE_TOKEN": token})
        for ods, token in (adapter_tokens or {}).items()
    ]
    return [
        Component("web", [marketplace, "serve", "--port", str(port)]),
        Component("relay", [marketplace, "relay"]),
        Component("acks", [marketplace, "acks"]),
        *adapters,
    ]


def run_dev(port: int) -> int:
    settings = Settings.from_env()
    with ExitStack() as stack:
        bootstrap = settings.kafka_bootstrap_servers
        if not bootstrap:
            broker = stack.enter_context(EmbeddedBroker())
            bootstrap = broker.bootstrap_servers
            click.echo(f"embedded Kafka broker (tansu) on {bootstrap}")
        ensure_topics(bootstrap)
        env = dict(os.environ, DATABASE_URL=settings.database_url,
                   SECRET_KEY=settings.secret_key, KAFKA_BOOTSTRAP_SERVERS=bootstrap)
        return _run(settings, env, port)


def _run(settings: Settings, env: dict[str, str], port: int) -> int:
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    engine.dispose()
    with cli_unit_of_work(settings) as uow:
        for line in seed(uow):
            click.echo(f"seeded {line}")
    issued = _issue_dev_tokens(settings)

    running = components(port, _issue_adapter_tokens(settings))
    for component in running:
        component.process = subprocess.Popen(component.argv, env={**env,
                                                                   **(component.env or {})})
    click.echo("")
    click.echo(f"Marketplace API  http://127.0.0.1:{port}/api/v1/openapi.json")
    click.echo(f"Health           http://127.0.0.1:{port}/readyz")
    click.echo(f"Database         {settings.database_url}")
    click.echo(f"Kafka            {env['KAFKA_BOOTSTRAP_SERVERS']}")
    click.echo(f"Event feed       http://127.0.0.1:{port}/api/v1/events")
    click.echo(f"Conformance      http://127.0.0.1:{port}/api/v1/trusts/conformance")
    for ods in DEMO_ADAPTER_TRUSTS:
        click.echo(f"Trust adapter    {ods}: {INSTANCE_DIR / 'trusts' / ods} "
                   f"(trust-adapter status --out ...)")
    click.echo("Demo tokens (Authorization: Bearer <token>):")
    for role, code, plain in issued:
        click.echo(f"  {role:<13} {code or '-':<9} {plain}")
    click.echo("Press Ctrl-C to stop.")
    return _supervise(running)


def _supervise(running: list[Component]) -> int:
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    code = 0
    while not stopping:
        for component in running:
            assert component.process is not None
            if component.process.poll() is not None:
                click.echo(f"{component.name} exited with {component.process.returncode}")
                code, stopping = component.process.returncode or 1, True
        time.sleep(0.5)
    for component in running:
        if component.process and component.process.poll() is None:
            component.process.terminate()
    for component in running:
        if component.process:
            try:
                component.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                component.process.kill()
    return code
