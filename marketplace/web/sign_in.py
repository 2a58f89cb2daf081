"""Signing in to the web pages: ``GET/POST /sign-in``, ``POST /sign-out``, the signed-in
person in ``g.person`` for every page, CSRF protection on every form, and the session
cookie's flags (docs/web-sign-in.md).

The session is Flask's signed cookie; it holds the person's id, their
``session_generation`` and when they signed in, never a password or a hash. A signed-in
person acts as an :class:`~marketplace.kernel.actor.Actor` built as an API token's is
(``marketplace.http.auth``), so the pages apply the API's role rules.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, g, redirect, request, session
from flask_wtf.csrf import CSRFError, CSRFProtect

from marketplace.http.auth import ANONYMOUS
from marketplace.http.wiring import marketplace_of
from marketplace.identity import people
from marketplace.identity.models import WebUser
from marketplace.kernel.actor import Actor
from marketplace.web.errors import error_page
from marketplace.web.pages import render

bp = Blueprint("sign_in", __name__)
csrf = CSRFProtect()

#: The API is token-authenticated (no cookies), so it needs no CSRF token.
API_PREFIX = "/api/v1"
#: Paths that never need the signed-in person (no database read for them).
UNPERSONAL_PREFIXES = ("/assets/", "/static/", "/healthz", "/readyz")
#: A session ends this long after signing in, whatever happens meanwhile.
SESSION_LIFETIME = timedelta(hours=12)
#: ``MARKETPLACE_DEV=true`` (set by ``marketplace dev``): served over plain http on this
#: machine, so the session cookie goes without ``Secure``.
DEV_ENV = "MARKETPLACE_DEV"

CREDENTIALS_MESSAGE = ("Enter a correct email address and password. After 5 wrong "
                       "passwords in a row an account is locked for 15 minutes.")
CSRF_MESSAGE = ("The form had expired or did not come from this service. Go back, reload "
                "the page and try again.")
RATE_MESSAGE = "There have been too many failed sign-ins from your network. Try again in {}."


@dataclass(frozen=True)
class Person:
    """Who is signed in, as the layout shows them, and the actor pages act as."""

    actor: Actor
    email: str
    role_label: str
    organisation: str


def person_of(user: WebUser) -> Person:
    org = user.organisation
    actor = Actor(id=user.id, role=user.role, organisation_id=org.id if org else None,
                  organisation_code=org.code if org else None, label=user.email)
    return Person(actor=actor, email=user.email,
                  role_label=people.ROLE_LABELS.get(user.role, str(user.role)),
                  organisation=org.name if org else "Marketplace operator")


def is_api_request() -> bool:
    return (request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")
            or "api" in request.blueprints)


def safe_next(value: str | None) -> str | None:
    """``value`` if it is a path on this site (``/...``), else None: never another host
    (``//evil``, ``/\\evil``, ``https://...``) nor anything with control characters."""
    if not value or len(value) > 2000 or not value.startswith("/"):
        return None
    if value.startswith(("//", "/\\")) or any(ord(c) < 32 or c == "\\" for c in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value


def _form(email: str = "", errors: dict[str, str] | None = None,
          next_url: str | None = None, status: int = 200) -> Response:
    body, code = render("sign_in/sign_in.html", "Sign in", status=status, email=email,
                        errors=errors or {}, next_url=next_url)
    response = Response(body, code, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def _wait(seconds: int) -> str:
    minutes = max(1, (seconds + 59) // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Response:
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        return _form(next_url=next_url)
    email = request.form.get("email", "").strip()
    password = request.form.get("password", "")
    errors = {}
    if not email:
        errors["email"] = "Enter your email address"
    if not password:
        errors["password"] = "Enter your password"
    if errors:
        return _form(email, errors, next_url, status=422)
    with marketplace_of().unit_of_work(ANONYMOUS) as uow:
        try:
            user = people.sign_in(uow, email, password, request.remote_addr or "unknown")
        except people.TooManyAttempts as exc:
            response = error_page(429, RATE_MESSAGE.format(_wait(exc.retry_after)))
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        signed_in = (user.id, user.session_generation) if user is not None else None
        uow.commit()
    if signed_in is None:
        return _form(email, {"email": CREDENTIALS_MESSAGE}, next_url, status=401)
    session.clear()  # a new session: nothing from before signing in carries over
    session["person"], session["generation"] = signed_in
    session["since"] = marketplace_of().clock().timestamp()
    return redirect(next_url or "/", 303)  # type: ignore[return-value]


@bp.post("/sign-out")
def sign_out() -> Response:
    person = g.get("person")
    if person is not None:
        with marketplace_of().unit_of_work(ANONYMOUS) as uow:
            people.sign_out(uow, person.actor.id)
            uow.commit()
    session.clear()
    g.person = None
    return redirect("/", 303)  # type: ignore[return-value]


def _load_person() -> None:
    """``g.person`` from the session; a person disabled, merged away, signed out
    elsewhere or signed in too long ago is signed out here."""
    g.person = None
    if is_api_request() or request.path.startswith(UNPERSONAL_PREFIXES):
        return
    person_id = session.get("person")
    if not person_id:
        return
    marketplace = marketplace_of()
    with marketplace.unit_of_work(ANONYMOUS) as uow:
        user = uow.session.get(WebUser, person_id) if isinstance(person_id, str) else None
        since = session.get("since")
        fresh = (isinstance(since, int | float)
                 and marketplace.clock().timestamp() - since
                 < SESSION_LIFETIME.total_seconds())
        if (user is None or not people.may_act(user) or not fresh
                or session.get("generation") != user.session_generation):
            session.clear()
            return
        g.person = person_of(user)


def _check_csrf() -> None:
    if not is_api_request():
        csrf.protect()


def _csrf_page(exc: CSRFError) -> Response:
    return error_page(400, CSRF_MESSAGE)


def _private(response: Response) -> Response:
    """A page made for a signed-in person is kept by no cache."""
    if g.get("person") is not None:
        response.headers["Cache-Control"] = "no-store"
        response.vary.add("Cookie")
    return response


def secure_cookies(app: Flask) -> bool:
    """``Secure`` session cookies everywhere but dev: ``app.debug``, ``app.testing`` or
    ``MARKETPLACE_DEV=true`` (which ``marketplace dev`` sets)."""
    dev = os.environ.get(DEV_ENV, "").strip().lower() in {"1", "true", "yes", "on"}
    return not (app.debug or app.testing or dev)


def install(app: Flask) -> None:
    """The sign-in pages, CSRF on every form outside the API, the person per request,
    and the session cookie's flags."""
    app.config.update(
        SESSION_COOKIE_NAME="marketplace_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure_cookies(app),
        # Checked by _check_csrf below (the API is exempt); tokens last as long as the
        # session they are bound to, so a page left open for an hour still signs out.
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,
    )
    csrf.init_app(app)
    app.before_request(_load_person)
    app.before_request(_check_csrf)
    app.after_request(_private)
    app.register_error_handler(CSRFError, _csrf_page)
    app.register_blueprint(bp)
