"""The ``marketplace`` command line (CONTRACT.md, Command line)."""
from __future__ import annotations

import sys

import click

from events.relay import DEFAULT_BATCH_SIZE
from marketplace.bootstrap import bootstrap
from marketplace.entrypoints.command import command_unit_of_work
from marketplace.kernel.settings import Settings
from schemas.statuses import OrganisationKind, Role, words

NO_BROKER = """No Kafka broker is configured.
Point at one:   KAFKA_BOOTSTRAP_SERVERS=host:9092 marketplace relay
or start the embedded broker (tansu) in another terminal and use the address it prints:
                python -m events.broker
or run everything on one machine:   marketplace dev   (make run)"""


def _bootstrap_servers(settings: Settings) -> str:
    if not settings.kafka_bootstrap_servers:
        raise click.ClickException(NO_BROKER)
    return settings.kafka_bootstrap_servers


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

    marketplace = bootstrap()
    migrate.upgrade(marketplace.engine, revision)
    click.echo(f"database at revision {migrate.current_revision(marketplace.engine)}")
    marketplace.dispose()


@main.group()
def org() -> None:
    """Organisations."""


@org.command("add")
@click.option("--ods", "code", required=True, help="ODS code, or Companies House number")
@click.option("--kind", required=True,
              type=click.Choice(words(OrganisationKind)))
@click.option("--name", required=True)
@click.option("--parent", default=None, help="a trust's ICB (ODS code)")
def org_add(code: str, kind: str, name: str, parent: str | None) -> None:
    """Add an organisation."""
    from marketplace.organisations import service as organisations

    with command_unit_of_work() as uow:
        added = organisations.add(uow, code=code, kind=kind, name=name, parent=parent)
        click.echo(f"added {added.kind} {added.code} {added.name}")


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.option("--ods", "code", default=None, help="the organisation (not for admin tokens)")
@click.option("--role", required=True,
              type=click.Choice(words(Role)))
@click.option("--name", required=True, help="a label saying who or what uses it")
def token_create(code: str | None, role: str, name: str) -> None:
    """Print a new token once, alone on the last line (only its hash is stored)."""
    from marketplace.identity import service as tokens

    with command_unit_of_work() as uow:
        created, plain = tokens.create(uow, role=role, name=name, code=code)
        click.echo(f"token id {created.id} role {created.role} "
                   f"organisation {created.organisation.code if created.organisation else '-'}")
    click.echo(plain)


@token.command("revoke")
@click.argument("token_id")
def token_revoke(token_id: str) -> None:
    """Revoke a token by its id."""
    from marketplace.identity import service as tokens

    with command_unit_of_work() as uow:
        revoked = tokens.revoke(uow, token_id)
        click.echo(f"revoked {revoked.id} at {revoked.revoked_at:%Y-%m-%dT%H:%M:%SZ}")


@main.group()
def user() -> None:
    """People who sign in to the web pages."""


def _read_password() -> str:
    """The first line of standard input (asked twice, unechoed, at a terminal)."""
    stdin = sys.stdin
    if stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True,
                            err=True)
    return stdin.readline().rstrip("\r\n")


@user.command("add")
@click.option("--email", required=True)
@click.option("--ods", "code", default=None, help="the organisation (not for admins)")
@click.option("--role", required=True, type=click.Choice(words(Role)))
def user_add(email: str, code: str | None, role: str) -> None:
    """Add a person; the password is read from standard input and stored hashed."""
    from marketplace.identity import passwords, people

    password = _read_password()
    if not password.strip():
        raise click.ClickException("Give the password on standard input (the first line).")
    if len(password) < passwords.MIN_LENGTH:
        raise click.ClickException(
            f"A password has at least {passwords.MIN_LENGTH} characters.")
    with command_unit_of_work() as uow:
        added = people.add(uow, email=email, password=password, role=role, code=code)
        click.echo(f"person id {added.id} email {added.email} role {added.role} "
                   f"organisation {added.organisation.code if added.organisation else '-'}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the web app and API (gunicorn where available)."""
    from marketplace.entrypoints.server import serve as run_server

    run_server(host, port, workers)


@main.command()
@click.option("--batch-size", default=DEFAULT_BATCH_SIZE, show_default=True, type=int)
def relay(batch_size: int) -> None:
    """Publish the outbox to Kafka until stopped."""
    from marketplace.entrypoints.relay import run_relay

    settings = Settings.from_env()
    servers = _bootstrap_servers(settings)
    run_relay(bootstrap(settings), servers, batch_size)


@main.command()
def tick() -> None:
    """Every deadline that has fallen due (approvals whose evidence lapsed expire);
    idempotent, and safe to run twice at once."""
    from marketplace.entrypoints.tick import run_tick

    marketplace = bootstrap()
    try:
        for line in run_tick(marketplace):
            click.echo(line)
    finally:
        marketplace.dispose()


@main.command()
def acks() -> None:
    """Consume trust adapters' acknowledgements (route.applied) until stopped."""
    from marketplace.entrypoints.acks import run_acks

    settings = Settings.from_env()
    servers = _bootstrap_servers(settings)
    run_acks(bootstrap(settings), servers)


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

    with command_unit_of_work() as uow:
        for line in seed(uow):
            click.echo(line)


@main.command()
@click.option("--port", default=5000, show_default=True, type=int)
def dev(port: int) -> None:
    """Everything on one machine, on the embedded defaults."""
    from marketplace.entrypoints.dev import run_dev

    sys.exit(run_dev(port))


if __name__ == "__main__":
    main()
