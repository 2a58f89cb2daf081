"""Signing in to the web pages (issue 17): passwords hashed with argon2id, the same
answer for a wrong password and an unknown email, a lockout, a rate limit, CSRF on
every form but the API's, the session cookie's flags, and ``marketplace user add``."""
from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import select, text

from marketplace.entrypoints.cli import main
from marketplace.identity import passwords, people
from marketplace.identity.models import WebUser
from marketplace.kernel.db import metadata
from marketplace.kernel.errors import NotFound
from marketplace.kernel.unit_of_work import UnitOfWork
from marketplace.organisations import service as organisations
from marketplace.web import sign_in
from tests.conftest import Clock, bearer

PASSWORD = "correct horse battery staple"
EMAIL = "buyer@example.nhs.uk"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class CountingHasher(PasswordHasher):
    """Cheap parameters (tests stay fast), counting the verifications."""

    def __init__(self, time_cost: int = 1) -> None:
        super().__init__(time_cost=time_cost, memory_cost=64, parallelism=1)
        self.verifications = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verifications += 1
        return super().verify(hash, password)


@pytest.fixture(autouse=True)
def cheap_hasher(monkeypatch: pytest.MonkeyPatch) -> Iterator[CountingHasher]:
    hasher = CountingHasher()
    monkeypatch.setattr(passwords, "HASHER", hasher)
    yield hasher


def _add_person(uow_factory: Callable[..., UnitOfWork], *, email: str = EMAIL,
                role: str = "icb_buyer", code: str | None = "QOP") -> str:
    with uow_factory() as uow:
        if code:
            try:
                organisations.get_exact(uow, code)
            except NotFound:
                organisations.add(uow, code=code, kind="icb", name="Greater Manchester ICB")
        person = people.add(uow, email=email, password=PASSWORD, role=role, code=code)
        uow.commit()
        return person.id


@pytest.fixture
def person(uow_factory: Callable[..., UnitOfWork]) -> str:
    return _add_person(uow_factory)


def _csrf(client: FlaskClient, path: str = "/sign-in") -> str:
    page = client.get(path)
    match = CSRF.search(page.get_data(as_text=True))
    assert match, page.get_data(as_text=True)
    return match.group(1)


def _sign_in(client: FlaskClient, email: str = EMAIL, password: str = PASSWORD,
             next_url: str | None = None, **kwargs):  # type: ignore[no-untyped-def]
    data = {"email": email, "password": password, "csrf_token": _csrf(client)}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/sign-in", data=data, **kwargs)


def _page_without_token(body: str) -> str:
    return CSRF.sub("", body)


def test_sign_in_shows_the_person_then_sign_out_ends_every_copy_of_the_session(
        client: FlaskClient, person: str) -> None:
    page = client.get("/sign-in")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "<h1>Sign in</h1>" in body
    assert 'autocomplete="username"' in body and 'autocomplete="current-password"' in body
    assert page.headers["Cache-Control"] == "no-store"

    response = _sign_in(client)
    assert response.status_code == 303 and response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    assert PASSWORD not in cookie

    body = client.get("/sign-in").get_data(as_text=True)
    assert f"{EMAIL} (ICB buyer, Greater Manchester ICB)" in body
    assert 'action="/sign-out"' in body
    stolen = client.get_cookie("marketplace_session")
    assert stolen is not None

    out = client.post("/sign-out", data={"csrf_token": _csrf(client)})
    assert out.status_code == 303 and out.headers["Location"] == "/"
    body = client.get("/sign-in").get_data(as_text=True)
    assert EMAIL not in body and 'href="/sign-in">Sign in' in body

    client.set_cookie("marketplace_session", stolen.value)  # a copy made before signing out
    assert EMAIL not in client.get("/sign-in").get_data(as_text=True)


def test_wrong_password_and_unknown_email_look_and_cost_the_same(
        client: FlaskClient, person: str, cheap_hasher: CountingHasher) -> None:
    before = cheap_hasher.verifications
    wrong = _sign_in(client, password="not the password at all")
    after_wrong = cheap_hasher.verifications
    unknown = _sign_in(client, email="nobody@example.nhs.uk", password="not the password at all")
    assert after_wrong - before == 1 and cheap_hasher.verifications - after_wrong == 1
    assert wrong.status_code == unknown.status_code == 401
    wrong_body, unknown_body = wrong.get_data(as_text=True), unknown.get_data(as_text=True)
    assert sign_in.CREDENTIALS_MESSAGE in wrong_body
    assert 'class="nhsuk-error-summary"' in wrong_body and 'href="#email"' in wrong_body
    assert f'value="{EMAIL}"' in wrong_body  # the email entered is kept
    assert _page_without_token(wrong_body) == \
        _page_without_token(unknown_body).replace("nobody@example.nhs.uk", EMAIL)
    assert client.get_cookie("marketplace_session") is None or \
        EMAIL not in client.get("/sign-in").get_data(as_text=True)


def test_empty_fields_are_linked_errors(client: FlaskClient) -> None:
    response = client.post("/sign-in", data={"email": "", "password": "",
                                             "csrf_token": _csrf(client)})
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'href="#email">Enter your email address' in body
    assert 'href="#password">Enter your password' in body
    assert 'aria-describedby="email-error"' in body and "nhsuk-error-message" in body


def test_five_wrong_passwords_lock_the_account_for_15_minutes(
        client: FlaskClient, person: str, clock: Clock,
        uow_factory: Callable[..., UnitOfWork]) -> None:
    for _ in range(people.LOCK_AFTER):
        assert _sign_in(client, password="wrong password!").status_code == 401
    locked = _sign_in(client)  # the right password, but locked: the same generic answer
    assert locked.status_code == 401 and sign_in.CREDENTIALS_MESSAGE in locked.get_data(
        as_text=True)
    with uow_factory() as uow:
        assert uow.session.get(WebUser, person).locked_until is not None
        actions = uow.session.scalars(text("SELECT action FROM audit_event")).all()
        assert "person.locked" in actions
    clock.advance(minutes=14)
    assert _sign_in(client).status_code == 401
    clock.advance(minutes=1, seconds=1)
    assert _sign_in(client).status_code == 303
    with uow_factory() as uow:
        signed_in = uow.session.get(WebUser, person)
        assert signed_in.failed_attempts == 0 and signed_in.locked_until is None
        assert signed_in.last_signed_in_at is not None


def test_failed_attempts_from_one_address_are_rate_limited(
        client: FlaskClient, person: str, clock: Clock) -> None:
    here = {"REMOTE_ADDR": "192.0.2.10"}
    for n in range(people.RATE_LIMIT):
        assert _sign_in(client, email=f"guess{n}@example.nhs.uk", password="guessing123",
                        environ_overrides=here).status_code == 401
    limited = _sign_in(client, environ_overrides=here)
    body = limited.get_data(as_text=True)
    assert limited.status_code == 429 and limited.mimetype == "text/html"
    assert "Too many attempts" in body and "15 minutes" in body
    assert int(limited.headers["Retry-After"]) > 0
    elsewhere = _sign_in(client, environ_overrides={"REMOTE_ADDR": "198.51.100.7"})
    assert elsewhere.status_code == 303
    clock.advance(minutes=15, seconds=1)
    assert _sign_in(client, environ_overrides=here).status_code == 303


def test_csrf_missing_or_invalid_is_the_html_400_page_and_no_sign_in(
        client: FlaskClient, person: str) -> None:
    for token in (None, "not-a-token"):
        data = {"email": EMAIL, "password": PASSWORD}
        if token:
            data["csrf_token"] = token
        response = client.post("/sign-in", data=data)
        assert response.status_code == 400 and response.mimetype == "text/html"
        assert "Sorry, there is a problem with the request" in response.get_data(as_text=True)
        assert EMAIL not in client.get("/sign-in").get_data(as_text=True)
    assert _sign_in(client).status_code == 303
    refused = client.post("/sign-out")
    assert refused.status_code == 400 and refused.mimetype == "text/html"
    assert EMAIL in client.get("/sign-in").get_data(as_text=True)  # still signed in


@pytest.mark.parametrize(("asked", "goes_to"), [
    ("/tenders?status=open", "/tenders?status=open"), ("//evil.example/x", "/"),
    ("https://evil.example/", "/"), ("/\\evil.example", "/"), ("javascript:alert(1)", "/"),
])
def test_next_is_followed_only_to_a_local_path(client: FlaskClient, person: str, asked: str,
                                               goes_to: str) -> None:
    response = _sign_in(client, next_url=asked)
    assert response.status_code == 303 and response.headers["Location"] == goes_to


def test_next_is_carried_by_the_form(client: FlaskClient) -> None:
    body = client.get("/sign-in?next=/funding").get_data(as_text=True)
    assert 'name="next" value="/funding"' in body
    assert 'name="next"' not in client.get("/sign-in?next=//evil").get_data(as_text=True)


def test_a_disabled_person_is_signed_out_and_cannot_sign_in(
        client: FlaskClient, person: str, clock: Clock,
        uow_factory: Callable[..., UnitOfWork]) -> None:
    assert _sign_in(client).status_code == 303
    with uow_factory() as uow:
        uow.session.get(WebUser, person).disabled_at = clock()
        uow.commit()
    assert EMAIL not in client.get("/sign-in").get_data(as_text=True)
    assert _sign_in(client).status_code == 401


def test_a_session_ends_12_hours_after_signing_in(client: FlaskClient, person: str,
                                                  clock: Clock) -> None:
    assert _sign_in(client).status_code == 303
    clock.advance(hours=11, minutes=59)
    assert EMAIL in client.get("/sign-in").get_data(as_text=True)
    clock.advance(minutes=2)
    assert EMAIL not in client.get("/sign-in").get_data(as_text=True)


def test_the_signed_in_actor_is_the_api_s_kind(client: FlaskClient, person: str) -> None:
    assert _sign_in(client).status_code == 303
    with client:
        client.get("/sign-in")
        actor = g.person.actor
        assert actor.id == person and str(actor.role) == "icb_buyer"
        assert actor.organisation_code == "QOP" and actor.organisation_id is not None


def test_the_api_needs_no_csrf_and_takes_no_session(client: FlaskClient, person: str,
                                                    make_token) -> None:  # type: ignore[no-untyped-def]
    admin = make_token("admin")
    created = client.post("/api/v1/organisations", headers=bearer(admin),
                          json={"code": "RAL", "kind": "trust", "name": "Royal Free",
                                "parent": "QOP"})
    assert created.status_code == 201, created.get_data(as_text=True)
    assert _sign_in(client).status_code == 303
    # The session cookie is no credential for the API: no token, anonymous.
    assert client.get("/api/v1/audit").status_code == 401
    assert client.get("/healthz").status_code == 200


def test_passwords_are_stored_hashed_and_never_logged(
        client: FlaskClient, database_url: str, caplog: pytest.LogCaptureFixture,
        uow_factory: Callable[..., UnitOfWork]) -> None:
    caplog.set_level(logging.DEBUG)
    with uow_factory() as uow:
        organisations.add(uow, code="QOP", kind="icb", name="GM ICB")
        uow.commit()
    result = CliRunner().invoke(main, ["user", "add", "--email", "Lead@Example.NHS.uk",
                                       "--ods", "qop", "--role", "icb_buyer"],
                                input=PASSWORD + "\n",
                                env={"DATABASE_URL": database_url, "SECRET_KEY": "x"})
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    person_id = re.search(r"person id (\S+)", result.output).group(1)  # type: ignore[union-attr]
    _sign_in(client, email="lead@example.nhs.uk", password=PASSWORD + "x")
    assert _sign_in(client, email="lead@example.nhs.uk").status_code == 303
    assert PASSWORD not in caplog.text
    with uow_factory() as uow:
        stored = uow.session.get(WebUser, person_id)
        assert stored.email == "lead@example.nhs.uk"
        assert stored.password_hash.startswith("$argon2id$")
        for table in metadata.sorted_tables:
            for row in uow.session.execute(table.select()):
                assert PASSWORD not in repr(tuple(row)), table.name


def test_a_hash_with_old_parameters_is_replaced_at_sign_in(
        client: FlaskClient, person: str, monkeypatch: pytest.MonkeyPatch,
        uow_factory: Callable[..., UnitOfWork]) -> None:
    with uow_factory() as uow:
        old = uow.session.get(WebUser, person).password_hash
    assert "t=1" in old
    monkeypatch.setattr(passwords, "HASHER", CountingHasher(time_cost=2))
    assert _sign_in(client).status_code == 303
    with uow_factory() as uow:
        new = uow.session.get(WebUser, person).password_hash
    assert new != old and "t=2" in new and passwords.verify(new, PASSWORD)


def test_user_add_reads_the_password_from_stdin_and_refuses_bad_input(
        database_url: str, uow_factory: Callable[..., UnitOfWork]) -> None:
    with uow_factory() as uow:
        organisations.add(uow, code="QOP", kind="icb", name="GM ICB")
        uow.commit()
    env = {"DATABASE_URL": database_url, "SECRET_KEY": "x"}

    def add(args: list[str], password: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(main, ["user", "add", *args], input=password, env=env)

    admin = add(["--email", "ops@example.nhs.uk", "--role", "admin"], PASSWORD + "\n")
    assert admin.exit_code == 0 and re.search(r"person id [0-9a-f-]{36}", admin.output)
    assert PASSWORD not in admin.output
    for args, password, message in [
        (["--email", "ops@example.nhs.uk", "--role", "admin"], PASSWORD, "already exists"),
        (["--email", "x@example.nhs.uk", "--role", "admin", "--ods", "QOP"], PASSWORD,
         "no organisation"),
        (["--email", "y@example.nhs.uk", "--role", "innovator", "--ods", "QOP"], PASSWORD,
         "of kind innovator"),
        (["--email", "z@example.nhs.uk", "--role", "icb_buyer", "--ods", "QOP"], "short\n",
         "at least 12"),
        (["--email", "z@example.nhs.uk", "--role", "icb_buyer", "--ods", "QOP"], "",
         "standard input"),
        (["--email", "not-an-email", "--role", "admin"], PASSWORD, "email address"),
    ]:
        result = add(args, password)
        assert result.exit_code == 1 and message in result.output, (args, result.output)
        assert PASSWORD not in result.output
    with uow_factory() as uow:
        assert uow.session.scalars(select(WebUser.email)).all() == ["ops@example.nhs.uk"]


def test_secure_cookies_everywhere_but_dev(app: Flask, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    app.testing = True
    assert sign_in.secure_cookies(app) is False
    app.testing = False
    monkeypatch.setenv("MARKETPLACE_DEV", "true")
    assert sign_in.secure_cookies(app) is False
    monkeypatch.setenv("MARKETPLACE_DEV", "")
    assert sign_in.secure_cookies(app) is True
