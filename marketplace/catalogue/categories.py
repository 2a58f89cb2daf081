"""Catalogue categories as a hierarchy: ``cancer`` holds ``cancer.triage`` and below.

A listing names its most specific categories (``cancer.triage``); a filter on a more
general one (``category=cancer``) finds every listing under it. ``GET /categories``
lists the categories in use, each ancestor counted once per listing, so a buyer can
see what there is before filtering; a filter on a category nothing is listed under is
a 422 naming the categories in use, never a silent empty page.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select

from marketplace.catalogue.lifecycle import ListingStatus
from marketplace.catalogue.models import Innovation, InnovationCategory
from marketplace.kernel.errors import InvalidInput
from marketplace.kernel.unit_of_work import UnitOfWork

SEPARATOR = "."
#: The character after SEPARATOR: ``cancer.`` <= a descendant < ``cancer/``, a range the
#: facet index answers on both databases (unlike LIKE, where ``_`` is a wildcard).
_AFTER_SEPARATOR = chr(ord(SEPARATOR) + 1)


def under(category: str, column: ColumnElement[str] | None = None) -> ColumnElement[bool]:
    """SQL: a facet row of ``category`` itself or of any category below it; ``column`` is
    the facet column (the listings' by default; demand signals have one of their own)."""
    if column is None:
        column = InnovationCategory.category
    return or_(column == category, and_(column >= category + SEPARATOR,
                                        column < category + _AFTER_SEPARATOR))


def ancestors(category: str) -> list[str]:
    """``cancer.triage.ai`` -> ``["cancer", "cancer.triage", "cancer.triage.ai"]``."""
    parts = category.split(SEPARATOR)
    return [SEPARATOR.join(parts[:n]) for n in range(1, len(parts) + 1)]


def in_use(uow: UnitOfWork) -> list[dict[str, Any]]:
    """Every category of a published listing, with its ancestors: how many listings each
    holds (a listing counts once under an ancestor however many of its categories lie
    below it), in category order."""
    rows = uow.session.execute(
        select(InnovationCategory.category, InnovationCategory.innovation_pk)
        .join(Innovation, Innovation.pk == InnovationCategory.innovation_pk)
        .where(Innovation.status == ListingStatus.PUBLISHED)).all()
    listings: dict[str, set[int]] = defaultdict(set)
    for category, pk in rows:
        for name in ancestors(category):
            listings[name].add(pk)
    return [{"category": name, "listings": len(pks),
             "parent": name.rpartition(SEPARATOR)[0] or None}
            for name, pks in sorted(listings.items())]


def check_known(uow: UnitOfWork, category: str) -> None:
    """422 when no listing at all is under ``category``: say so rather than answer an
    empty page that looks like "nothing matches your other filters"."""
    if uow.session.scalar(select(InnovationCategory.innovation_pk).where(under(category))
                          .limit(1)) is None:
        raise InvalidInput("No listing is in this category; GET /api/v1/categories lists "
                           "the categories in use.",
                           {"category": [f"unknown category {category!r}"]})
