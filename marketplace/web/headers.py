"""Security headers on every page: a Content-Security-Policy without ``unsafe-inline``
(the pages' scripts and styles are files of our own origin), no framing, no sniffing.

The policy's ``font-src 'self'`` also keeps the browser from fetching nhsuk-frontend's
web fonts from assets.nhs.uk (the CSS names them): nothing a page loads comes from
elsewhere, and the text falls back to the design system's Arial.
"""
from __future__ import annotations

from flask import Flask, Response, request

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'", "script-src 'self'", "style-src 'self'",
    "img-src 'self' data:", "font-src 'self'", "connect-src 'self'",
    "object-src 'none'", "base-uri 'self'", "form-action 'self'",
    "frame-ancestors 'none'"))
HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY,
           "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
           "Referrer-Policy": "same-origin"}


def install(app: Flask) -> None:
    @app.after_request
    def _secure(response: Response) -> Response:
        if response.mimetype == "text/html" or request.path.startswith("/assets/"):
            for name, value in HEADERS.items():
                response.headers.setdefault(name, value)
        return response
