"""How a Flask app carries its :class:`~marketplace.bootstrap.Marketplace` (one typed slot)."""
from __future__ import annotations

from flask import Flask, current_app

from marketplace.bootstrap import Marketplace

_SLOT = "marketplace"


def install(app: Flask, marketplace: Marketplace) -> None:
    app.extensions[_SLOT] = marketplace


def marketplace_of(app: Flask | None = None) -> Marketplace:
    """The wired marketplace of ``app`` (default: the app handling this request)."""
    found = (app or current_app).extensions[_SLOT]
    assert isinstance(found, Marketplace)
    return found
