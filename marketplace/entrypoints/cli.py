"""The ``marketplace`` command line (CONTRACT.md, Command line)."""
from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from events.relay import DEFAULT_BATCH_SIZE
from marketplace.actor import Actor
from marketplace.config import Settings
from marketplace.db import make_engine, make_session_factory
from marketplace.errors import DomainError
from marketplace.unit_of_work import UnitOfWork

CLI_ACTOR = Actor(id="cli", role="admin", label="marketplace command line")


@contextmanager
def cli_unit_of_work(settings: Settings | None = None) -> Iterator[UnitOfWork]:
    """A committed unit of work for one command; domain errors become a clean exit 1."""
    settings = settings or Settings.from_env()
    engine = make_engine(settings.database_url)
    try:
        with UnitOfWork(make_session_factory(engine), CLI_ACTOR,
                        event_source=settings.event_source) as uow:
            yield uow
            uow.commit()
    except DomainError as exc:
        errors = getattr(exc, "extra", {}).get("errors")
        raise click.ClickException(f"{exc.detail} {errors or ''}".strip()) from exc
    finally:
        engine.dispose()


@click.group()
def main() -> None:
    """NHS innovation marketplace."""


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations (idempotent)."""
    from marketplace import migrate

    engine = make_engine(Settings.from_env().database_url)
    migrate.upgrade(engine, revision)
    click.echo(f"database at revision {migrate.current_revision(engine)}")
    engine.dispose()


@main.group()
def org() -> None:
    """Organisations."""


@org.command("add")
@click.option("--ods", "code", required=True, help="ODS code, or Companies House number")
@click.option("--kind", required=True,
              type=click.Choice(["icb", "trust", "innovator", "assessor", "funder"]))
@click.option("--name", required=True)
@click.option("--parent", default=None, help="a trust's ICB (ODS code)")
def org_add(code: str, kind: str, name: str, parent: str | None) -> None:
    """Add an organisation."""
    from marketplace.services import organisations

    with cli_unit_of_work() as uow:
        added = organisations.add(uow, code=code, kind=kind, name=name, parent=parent)
        click.echo(f"added {added.kind} {added.code} {added.name}")


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.option("--ods", "code", default=None, help="the organisation (not for admin tokens)")
@click.option("--role", required=True,
              type=click.Choice(["icb_buyer", "innovator", "assessor", "funder", "trust_system",
                                 "admin"]))
@click.option("--name", required=True, help="a label saying who or what uses it")
def token_create(code: str | None, role: str, name: str) -> None:
    """Print a new token once, alone on the last line (only its hash is stored)."""
    from marketplace.services import tokens

    with cli_unit_of_work() as uow:
        created, plain = tokens.create(uow, role=role, name=name, code=code)
        click.echo(f"token id {created.id} role {created.role} "
                   f"organisation {created.organisation.code if created.organisation else '-'}")
    click.echo(plain)


@token.command("revoke")
@click.argument("token_id")
def token_revoke(token_id: str) -> None:
    """Revoke a token by its id."""
    from marketplace.services import tokens

    with cli_unit_of_work() as uow:
        revoked = tokens.revoke(uow, token_id)
        click.echo(f"revoked {revoked.id} at {revoked.revoked_at:%Y-%m-%dT%H:%M:%SZ}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the web app and API (gunicorn where available)."""
    from marketplace.server import serve as run_server

    run_server(host, port, workers)


@main.command()
@click.option("--batch-size", default=DEFAULT_BATCH_SIZE, show_default=True, type=int)
def relay(batch_size: int) -> None:
    """Publish the outbox to Kafka until stopped."""
    from marketplace.relay import run_relay

    settings = Settings.from_env()
    if not settings.kafka_bootstrap_servers:
        raise click.ClickException("Set KAFKA_BOOTSTRAP_SERVERS (marketplace dev starts a broker).")
    run_relay(settings, settings.kafka_bootstrap_servers, batch_size)


@main.command()
def tick() -> None:
    """Time-based transitions: approvals whose evidence lapsed expire (idempotent)."""
    from marketplace.services import approval_expiry

    with cli_unit_of_work() as uow:
        expired = approval_expiry.expire_due(uow)
        for approval in expired:
            click.echo(f"approval {approval.id} expired (version {approval.product_version}: "
                       f"{', '.join(approval.lapsed_evidence or [])} lapsed)")
        click.echo(f"expired {len(expired)} approval{'' if len(expired) == 1 else 's'}")


@main.command()
def acks() -> None:
    """Consume trust adapters' acknowledgements (route.applied) until stopped."""
    from marketplace.services.conformance import run_acks

    settings = Settings.from_env()
    if not settings.kafka_bootstrap_servers:
        raise click.ClickException("Set KAFKA_BOOTSTRAP_SERVERS (marketplace dev starts a broker).")
    run_acks(settings.database_url, settings.kafka_bootstrap_servers)


@main.group()
def events() -> None:
    """The event contract."""


@events.command("topics")
def events_topics() -> None:
    """Create the missing topics and DLQs on $KAFKA_BOOTSTRAP_SERVERS (idempotent)."""
    from events.topics import ensure_topics

    settings = Settings.from_env()
    if not settings.kafka_bootstrap_servers:
        raise click.ClickException("Set KAFKA_BOOTSTRAP_SERVERS.")
    created = ensure_topics(settings.kafka_bootstrap_servers)
    click.echo("created: " + (", ".join(created) if created else "nothing, all topics exist"))


@events.command("schemas")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
def events_schemas(out_dir: str) -> None:
    """Write a JSON Schema file per event type."""
    from pathlib import Path

    from schemas.events.jsonschema import write_json_schemas

    for path in write_json_schemas(Path(out_dir)):
        click.echo(str(path))


@events.command("docs")
@click.option("--out", "out_file", default="docs/events.md", show_default=True)
def events_docs(out_file: str) -> None:
    """Regenerate docs/events.md from the registry."""
    from pathlib import Path

    from schemas.events.docs import write

    click.echo(str(write(Path(out_file))))


@main.command("seed-demo")
def seed_demo() -> None:
    """Realistic demo data; safe to run twice."""
    from marketplace.demo import seed

    with cli_unit_of_work() as uow:
        for line in seed(uow):
            click.echo(line)


@main.command()
@click.option("--port", default=5000, show_default=True, type=int)
def dev(port: int) -> None:
    """Everything on one machine, on the embedded defaults."""
    from marketplace.dev import run_dev

    sys.exit(run_dev(port))


if __name__ == "__main__":
    main()
