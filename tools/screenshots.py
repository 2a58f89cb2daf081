"""``make screenshots``: the main pages, on the demo data, saved as PNG files.

    .venv/bin/python -m tools.screenshots [OUT_DIR]      # default docs/screenshots

A fresh SQLite database gets the migrations and ``marketplace seed-demo``'s data; the app
is served on a free local port and Debian's chromium (Playwright, never a downloaded
browser) visits each page and saves a full-page screenshot. Nothing leaves the machine.
"""
from __future__ import annotations

import sys
import tempfile
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright
from sqlalchemy import select
from werkzeug.serving import make_server

from marketplace import migrate
from marketplace.app import create_app
from marketplace.catalogue.models import Innovation
from marketplace.demo import seed
from marketplace.http.wiring import marketplace_of
from marketplace.kernel.actor import Actor
from marketplace.kernel.settings import Settings
from marketplace.tenders.models import Tender

CHROMIUM = "/usr/bin/chromium"
#: (file name, path or a function of the seeded database giving the path)
PAGES: tuple[tuple[str, str], ...] = (
    ("catalogue", "/"),
    ("catalogue-search", "/?q=triage&approved=on"),
    ("innovation", "{innovation}"),
    ("demand", "/demand"),
    ("tenders", "/tenders"),
    ("tender", "{tender}"),
    ("funding", "/funding"),
    ("sign-in", "/sign-in"),
    ("not-found", "/no-such-page"),
    ("api-docs", "/api/v1/docs"),
)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(database_url=f"sqlite:///{tmp}/demo.db",
                                  secret_key="screenshots", evidence_dir=Path(tmp) / "ev"))
        marketplace = marketplace_of(app)
        migrate.upgrade(marketplace.engine)
        with marketplace.committed(Actor(id="screenshots", role="admin")) as uow:
            list(seed(uow, Path(tmp) / "ev"))
            listing = uow.session.scalar(select(Innovation.id).where(
                Innovation.name == "Clearpath Referral Triage"))
            tender = uow.session.scalar(select(Tender.id).where(Tender.status == "published"))
            ids = {"innovation": f"/innovations/{listing}", "tender": f"/tenders/{tender}"}
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                                 args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route("**/*", lambda route: route.continue_()
                       if route.request.url.startswith(base) else route.abort())
            for name, path in PAGES:
                page.goto(base + path.format(**ids))
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(out / f"{name}.png"), full_page=True)
                print(out / f"{name}.png")
            browser.close()
        server.shutdown()
        marketplace.dispose()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots"))
