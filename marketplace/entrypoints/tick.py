"""``marketplace tick``: every deadline that has fallen due, once (idempotent)."""
from __future__ import annotations

from marketplace.bootstrap import Marketplace
from marketplace.entrypoints.command import CLI_ACTOR, domain_errors_as_click


def run_tick(marketplace: Marketplace) -> list[str]:
    """Run the scheduler at the marketplace clock's now; the lines it reports."""
    with domain_errors_as_click(), marketplace.committed(CLI_ACTOR) as uow:
        reports = marketplace.scheduler().tick(uow)
    return [line for report in reports for line in report.lines()]
