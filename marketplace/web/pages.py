"""What every page shares: who is signed in, a unit of work acting as them, the header's
navigation for their role, and rendering.

A page view parses its form or query with the API's schemas, calls one service function
in :func:`unit_of_work`, and renders a template: the rules are the services', never the
page's own. Who is signed in is ``g.person`` (set by :mod:`marketplace.web.sign_in`);
without one, pages act as the anonymous caller and see what the public API shows.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import g, render_template, request

from marketplace.http.auth import ANONYMOUS
from marketplace.http.wiring import marketplace_of
from marketplace.kernel.actor import Actor
from marketplace.kernel.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class NavItem:
    text: str
    href: str
    #: Roles that see the item; None: everyone, signed in or not.
    roles: frozenset[str] | None = None


#: The header's navigation, in order; each role sees its own journeys.
NAVIGATION: tuple[NavItem, ...] = (
    NavItem("Catalogue", "/"),
    NavItem("Your listings", "/my/innovations", roles=frozenset({"innovator"})),
    NavItem("Demand signals", "/buy/signals", roles=frozenset({"icb_buyer"})),
    NavItem("Your tenders", "/buy/tenders", roles=frozenset({"icb_buyer"})),
    NavItem("Contracts", "/buy/contracts", roles=frozenset({"icb_buyer"})),
    NavItem("National demand", "/demand"),
    NavItem("Tenders", "/tenders"),
    NavItem("Funding", "/funding"),
    NavItem("Orders", "/trust/orders", roles=frozenset({"trust_system"})),
    NavItem("Route conformance", "/trust/conformance", roles=frozenset({"trust_system"})),
    NavItem("Review queue", "/review", roles=frozenset({"assessor"})),
    NavItem("Funding pots", "/fund", roles=frozenset({"funder"})),
    NavItem("API", "/api/v1/docs"),
)


def current_actor() -> Actor:
    """The signed-in person's actor (same roles as the API), or the anonymous caller."""
    person = g.get("person")
    return person.actor if person is not None else ANONYMOUS


@contextmanager
def unit_of_work() -> Iterator[UnitOfWork]:
    """A unit of work acting as the signed-in person; the caller commits."""
    with marketplace_of().unit_of_work(current_actor()) as uow:
        yield uow


def navigation() -> list[dict[str, Any]]:
    """The caller's header items; the one whose section holds this page is current
    (``/fund/...`` under "Funding pots", never ``/funding``)."""
    role = current_actor().role
    here = request.path
    items = [item for item in NAVIGATION if item.roles is None or str(role) in item.roles]
    return [{"text": item.text, "href": item.href,
             "current": here == item.href or (item.href != "/"
                                              and here.startswith(item.href + "/"))}
            for item in items]


#: Pages of a list beyond this are refused (a number in the query string, not a search).
MAX_PAGE = 10_000


def page_number() -> int:
    """The list page asked for (``?page=``): 1 unless a sensible number."""
    value = request.args.get("page", "1")
    return int(value) if value.isdigit() and 0 < int(value) < MAX_PAGE else 1


def page_query(page: int) -> str:
    """This request's query string for another page of the same list."""
    return urlencode({**{k: v for k, v in request.args.items() if k != "page"},
                      "page": page})


def render(template: str, title: str, status: int = 200, **context: Any) -> tuple[str, int]:
    """The page ``template`` with ``title`` (its ``<title>`` and usually its ``<h1>``);
    a list's pages link to each other with ``page_query``."""
    return render_template(template, page_title=title, navigation=navigation(),
                           person=g.get("person"), page_query=page_query,
                           **context), status
