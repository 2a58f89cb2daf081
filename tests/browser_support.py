"""Browser tests: Debian's chromium driven by Playwright against the app served live, and
axe-core (the pinned npm package) run in the page.

``browser`` is one headless chromium per session (``/usr/bin/chromium``, never a
downloaded build; ``make test`` installs it with apt when missing). ``live`` serves the
test's app over HTTP. Every page may only reach the live server: any other request is
aborted (and recorded), so nothing reaches the internet and a page that tries fails.
``assert_accessible`` runs axe-core's WCAG 2.2 A and AA rules and fails on any serious or
critical violation.
"""
from __future__ import annotations

import atexit
import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from marketplace.kernel.settings import DEFAULT_FRONTEND_DIR
from tests.live_server import serve_wsgi

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
AXE = DEFAULT_FRONTEND_DIR / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
BLOCKING = ("serious", "critical")

playwright_sync = pytest.importorskip("playwright.sync_api")


_STARTED: dict[str, Any] = {}


def _chromium() -> Any:
    """One Playwright and one chromium for the whole session, however many test modules
    import the fixtures (two Playwright instances cannot run in one thread); closed when
    the session's process ends."""
    if "browser" not in _STARTED:
        if not Path(CHROMIUM).exists():
            pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
        playwright = playwright_sync.sync_playwright().start()
        _STARTED["playwright"] = playwright
        _STARTED["browser"] = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        atexit.register(_stop)
    return _STARTED["browser"]


def _stop() -> None:
    _STARTED.pop("browser").close()
    _STARTED.pop("playwright").stop()


@pytest.fixture(scope="session")
def browser() -> Any:
    return _chromium()


@pytest.fixture
def live(app: Flask) -> Iterator[str]:
    """The test's app over HTTP: its base URL."""
    with serve_wsgi(app) as base_url:
        yield base_url


@functools.cache
def _axe_source() -> str:
    return AXE.read_text() + "\n;void 0"


class Page:
    """A browser tab on the live server, with the requests it was refused."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.refused: list[str] = []
        page.route("**/*", self._only_local)

    def _only_local(self, route: Any) -> None:
        if route.request.url.startswith(self.base_url):
            route.continue_()
        else:
            self.refused.append(route.request.url)
            route.abort()

    def goto(self, path: str) -> Any:
        return self.page.goto(self.base_url + path)

    def assert_accessible(self) -> None:
        """axe-core in the page: no serious or critical WCAG 2.2 AA violation."""
        # Evaluated through the DevTools protocol, which the page's CSP does not govern
        # (a <script> tag would be refused by it, as it should be).
        self.page.evaluate(_axe_source())
        result = self.page.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS)
        blocking = [f"{v['id']} ({v['impact']}): {v['help']} at "
                    f"{[n['target'] for n in v['nodes']][:3]}"
                    for v in result["violations"] if v["impact"] in BLOCKING]
        assert not blocking, f"{self.page.url}: " + "; ".join(blocking)


@pytest.fixture
def tab(browser: Any, live: str) -> Iterator[Page]:
    context = browser.new_context(base_url=live)
    try:
        yield Page(context.new_page(), live)
    finally:
        context.close()


#: The password of every person the browser tests sign in as (at least 12 characters).
PASSWORD = "correct horse battery staple"


def add_person(uow_factory: Any, role: str, code: str | None, email: str | None = None
               ) -> str:
    """A person of ``role`` in the organisation ``code`` (which must exist, as the demo's
    do); returns the email."""
    from marketplace.identity import people
    email = email or f"{role}.{(code or 'operator').lower()}@marketplace.test"
    with uow_factory() as uow:
        if people.find(uow, email) is None:
            people.add(uow, email=email, password=PASSWORD, role=role, code=code)
            uow.commit()
    return email


def sign_in(tab: Page, email: str, password: str = PASSWORD) -> None:
    """Sign in through the sign-in page, as a person would."""
    tab.goto("/sign-in")
    tab.page.get_by_label("Email address").fill(email)
    tab.page.get_by_label("Password").fill(password)
    tab.page.get_by_role("button", name="Sign in").click()
    tab.page.wait_for_load_state()
    assert "/sign-in" not in tab.page.url, tab.page.locator("main").inner_text()
