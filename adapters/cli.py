"""The ``trust-adapter`` command line (CONTRACT.md, Command line)."""
from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

import click

from schemas.identifiers import TRUST_ODS

DATABASE_ENV = "REGISTER_DATABASE_URL"
TOKEN_ENV = "MARKETPLACE_TOKEN"
WEBHOOK_SECRET_ENV = "TRUST_WEBHOOK_SECRET"


def _trust(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if not TRUST_ODS.fullmatch(value or ""):
        raise click.BadParameter(f"{value!r} is not a trust ODS code (e.g. R0A)")
    return value


@click.group()
def main() -> None:
    """A trust's finance-system adapter: applies the procurement route to marketplace events."""


@main.command()
@click.option("--trust", required=True, callback=_trust, help="the trust's ODS code")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="where the register, journal and Peppol files go")
@click.option("--register-url", default=None,
              help="the marketplace base URL: gaps are healed from its event feed "
                   f"(bearer token from ${TOKEN_ENV})")
@click.option("--webhook", "webhook_url", default=None,
              help=f"POST signed notifications here (HMAC key from ${WEBHOOK_SECRET_ENV})")
@click.option("--database-url", default=None, envvar=DATABASE_ENV,
              help="the register database (default: SQLite DIR/register.db)")
@click.option("--topics", default=None, help="comma-separated topics (default: the contract's)")
@click.option("--ack-topic", default=None, help="where acknowledgements go (marketplace.acks)")
@click.option("--group", default=None, help="consumer group (default trust.<ODS>)")
@click.option("--legal-name", default=None, envvar="TRUST_LEGAL_NAME",
              help="the trust's legal name on Peppol documents")
@click.option("--peppol-id", default=None, envvar="TRUST_PEPPOL_ID",
              help="the trust's Peppol participant id, scheme:id")
def run(trust: str, out_dir: str, register_url: str | None, webhook_url: str | None,
        database_url: str | None, topics: str | None, ack_topic: str | None,
        group: str | None, legal_name: str | None, peppol_id: str | None) -> None:
    """Consume as group trust.<ODS> and apply events until SIGINT or SIGTERM."""
    from adapters.peppol import TrustIdentity
    from adapters.runtime import DEFAULT_TOPICS, AdapterConfig, TrustAdapter
    from events.broker import bootstrap_servers_from_env
    from events.topics import ensure_topics
    from schemas.events.topics import ACKS

    bootstrap = bootstrap_servers_from_env()
    if bootstrap is None:
        raise click.ClickException("Set KAFKA_BOOTSTRAP_SERVERS to the broker(s) to consume.")
    secret = os.environ.get(WEBHOOK_SECRET_ENV)
    if webhook_url and not secret:
        raise click.ClickException(f"--webhook needs ${WEBHOOK_SECRET_ENV} to sign with.")
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if topics is None:
        ensure_topics(bootstrap)  # creates the contract topics and their DLQs if missing
    config = AdapterConfig(
        trust=trust, out_dir=Path(out_dir), bootstrap_servers=bootstrap,
        database_url=database_url, register_url=register_url,
        token=os.environ.get(TOKEN_ENV), webhook_url=webhook_url, webhook_secret=secret,
        topics=tuple(t for t in topics.split(",") if t) if topics else DEFAULT_TOPICS,
        ack_topic=ack_topic or ACKS, group=group,
        identity=TrustIdentity.default(trust, legal_name, peppol_id))
    adapter = TrustAdapter(config)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    adapter.run(stop)


@main.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@click.option("--database-url", default=None, envvar=DATABASE_ENV)
def status(out_dir: str, database_url: str | None) -> None:
    """Print route version, events applied per type, last offsets and state hash (JSON)."""
    from adapters import register

    url = database_url or register.default_url(Path(out_dir))
    if database_url is None and not (Path(out_dir) / "register.db").exists():
        raise click.ClickException(f"no register in {out_dir}")
    engine, meta = register.read_register(url)
    try:
        with engine.connect() as conn:
            consumer = meta["consumer"]
            state_hash, register_hash = register.hashes(conn)
            applied = register.applied_by_type(conn, consumer)
            report = {
                "trust": meta["trust"], "consumer_group": consumer,
                "route_version": meta["route_version"],
                "events_applied": sum(applied.values()), "applied_by_type": applied,
                "last_offsets": register.last_offsets(conn, consumer),
                "aggregates_seen": len(register.last_sequences(conn, consumer)),
                "state_hash": state_hash, "register_hash": register_hash,
                "records": register.counts(conn),
            }
    finally:
        engine.dispose()
    click.echo(json.dumps(report, indent=2, sort_keys=True))


if __name__ == "__main__":
    sys.exit(main())
