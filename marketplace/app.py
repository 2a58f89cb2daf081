"""The application factory: the API (and later the pages) on one wired marketplace."""
from __future__ import annotations

import logging

from flask import Blueprint, Flask

from marketplace.approvals import api as approvals_api
from marketplace.approvals import pages as approval_pages
from marketplace.audit import api as audit_api
from marketplace.bootstrap import bootstrap
from marketplace.catalogue import api as catalogue_api
from marketplace.catalogue import listing_pages
from marketplace.catalogue import pages as catalogue_pages
from marketplace.conformance import api as conformance_api
from marketplace.conformance import pages as conformance_pages
from marketplace.contracts import api as contracts_api
from marketplace.contracts import pages as contract_pages
from marketplace.demand import api as demand_api
from marketplace.demand import pages as demand_pages
from marketplace.demand import signal_pages
from marketplace.event_feed import api as event_feed_api
from marketplace.frameworks import api as frameworks_api
from marketplace.funding import api as funding_api
from marketplace.funding import owner_pages as funder_pages
from marketplace.funding import pages as funding_pages
from marketplace.http import health, openapi
from marketplace.http.body_limit import BodyLimit
from marketplace.http.problems import register_api_problems, register_unrouted_problems
from marketplace.http.wiring import install
from marketplace.kernel.clock import Clock, utcnow
from marketplace.kernel.settings import Settings
from marketplace.ocds import api as ocds_api
from marketplace.orders import api as orders_api
from marketplace.orders import invoice_pages
from marketplace.orders import pages as order_pages
from marketplace.organisations import api as organisations_api
from marketplace.tenders import api as tenders_api
from marketplace.tenders import buyer_pages, response_pages
from marketplace.tenders import pages as tenders_pages
from marketplace.web import api_docs, assets, sign_in
from marketplace.web import errors as web_errors
from marketplace.web import headers as web_headers
from marketplace.web.formatting import TEMPLATE_GLOBALS

API_PREFIX = "/api/v1"
#: Every area's pages, and the front-end assets they use.
AREA_PAGES = (assets.bp, catalogue_pages.bp, listing_pages.bp, response_pages.bp,
              invoice_pages.bp, order_pages.bp, conformance_pages.bp,
              demand_pages.bp, tenders_pages.bp,
              funding_pages.bp, approval_pages.bp, funder_pages.bp,
              signal_pages.bp, buyer_pages.bp, contract_pages.bp,
              api_docs.bp)
#: Every area's API blueprint, in the order the OpenAPI document lists their tags.
AREA_APIS = (openapi.bp, organisations_api.bp, audit_api.bp, event_feed_api.bp,
             catalogue_api.bp, approvals_api.bp, conformance_api.bp, frameworks_api.bp,
             demand_api.bp, tenders_api.bp, contracts_api.bp, ocds_api.bp,
             funding_api.bp, orders_api.bp)


def api_blueprint() -> Blueprint:
    """``/api/v1``: every area's endpoints, with problem+json for every error they raise."""
    api = Blueprint("api", __name__, url_prefix=API_PREFIX)
    register_api_problems(api)
    for blueprint in AREA_APIS:
        api.register_blueprint(blueprint)
    return api


def create_app(settings: Settings | None = None, *, clock: Clock = utcnow) -> Flask:
    marketplace = bootstrap(settings, clock=clock)
    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.config.update(SECRET_KEY=marketplace.settings.secret_key,
                      MAX_CONTENT_LENGTH=marketplace.settings.max_content_length,
                      JSON_SORT_KEYS=False)
    install(app, marketplace)
    sign_in.install(app)
    app.wsgi_app = BodyLimit(app.wsgi_app, marketplace.settings.max_content_length,  # type: ignore[method-assign]
                             API_PREFIX)
    register_unrouted_problems(app, API_PREFIX, page=web_errors.http_error_page)
    web_errors.install(app)
    web_headers.install(app)
    app.jinja_env.globals.update(TEMPLATE_GLOBALS)
    app.register_blueprint(health.bp)
    app.register_blueprint(api_blueprint())
    for blueprint in AREA_PAGES:
        app.register_blueprint(blueprint)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return app
