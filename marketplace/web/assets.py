"""The front-end packages' compiled files, served as static files from ``node_modules``.

``make`` installs the packages pinned in ``package.json`` (``npm ci`` from the lock file);
nothing is copied by hand and nothing is fetched at run time. ``/assets/...`` is the
asset path nhsuk-frontend's CSS expects (``/assets/images/...``): it is served from the
package's ``dist/nhsuk/assets`` and, for its CSS and JavaScript, ``dist/nhsuk``.
``/assets/swagger-ui/...`` serves ``swagger-ui-dist`` for the API's documentation page.
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, send_from_directory

from marketplace.http.wiring import marketplace_of

bp = Blueprint("assets", __name__)

NHSUK = Path("nhsuk-frontend") / "dist" / "nhsuk"
SWAGGER_UI = Path("swagger-ui-dist")
#: What may be served: compiled files and images, never sources or package metadata.
SERVED_SUFFIXES = frozenset({".css", ".js", ".mjs", ".map", ".svg", ".png", ".ico",
                             ".json"})
#: The packages are pinned: a file's content changes only with its version.
CACHE_SECONDS = 24 * 3600


def _frontend() -> Path:
    return Path(marketplace_of().settings.frontend_dir)


def _send(roots: list[Path], filename: str) -> Response:
    if Path(filename).suffix not in SERVED_SUFFIXES:
        abort(404)
    for root in roots:
        if (root / filename).is_file():
            return send_from_directory(root, filename, max_age=CACHE_SECONDS)
    abort(404)


@bp.get("/assets/swagger-ui/<path:filename>")
def swagger_ui(filename: str) -> Response:
    return _send([_frontend() / SWAGGER_UI], filename)


@bp.get("/assets/<path:filename>")
def nhsuk(filename: str) -> Response:
    return _send([_frontend() / NHSUK / "assets", _frontend() / NHSUK], filename)
