"""One committed unit of work per command, for the command line and ``marketplace dev``."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from marketplace.bootstrap import bootstrap
from marketplace.kernel.actor import Actor
from marketplace.kernel.errors import DomainError
from marketplace.kernel.settings import Settings
from marketplace.kernel.unit_of_work import UnitOfWork

CLI_ACTOR = Actor(id="cli", role="admin", label="marketplace command line")


@contextmanager
def domain_errors_as_click() -> Iterator[None]:
    """A broken rule ends the command with its message and exit code 1, not a traceback."""
    try:
        yield
    except DomainError as exc:
        errors = getattr(exc, "extra", {}).get("errors")
        raise click.ClickException(f"{exc.detail} {errors or ''}".strip()) from exc


@contextmanager
def command_unit_of_work(settings: Settings | None = None) -> Iterator[UnitOfWork]:
    """A unit of work committed when the command's block ends, on its own marketplace."""
    marketplace = bootstrap(settings)
    try:
        with domain_errors_as_click(), marketplace.committed(CLI_ACTOR) as uow:
            yield uow
    finally:
        marketplace.dispose()
