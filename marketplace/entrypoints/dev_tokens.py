"""The demo tokens and sign-ins of ``marketplace dev``, kept in ``instance/`` so they
survive restarts.

The database keeps only token and password hashes, so the plain values are stored beside
it (mode 0600) and reused while this database still accepts them; a new database (or a
revoked token) gets new ones. A newcomer's saved curl lines and browser passwords keep
working.
"""
from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from marketplace.entrypoints.command import command_unit_of_work
from marketplace.identity import passwords, people
from marketplace.identity import service as tokens
from marketplace.identity.models import ApiToken
from marketplace.kernel.settings import INSTANCE_DIR, Settings

# (role, organisation code) of the tokens printed at start.
DEV_TOKENS: tuple[tuple[str, str | None], ...] = (
    ("admin", None),
    ("icb_buyer", "QOP"),
    ("innovator", "09876543"),
    ("assessor", "X24"),
    ("funder", "X26"),
    ("trust_system", "RAL"),
)


# Demo trusts (seeded by marketplace.demo) that get a trust adapter each.
DEMO_ADAPTER_TRUSTS: tuple[str, ...] = ("RAL", "RRV")

# The plain demo tokens (the database keeps only their hashes), so they survive restarts.
TOKENS_FILE = INSTANCE_DIR / "dev_tokens.json"


@dataclass(frozen=True)
class DevToken:
    """A token ``marketplace dev`` keeps: ``key`` names it in :data:`TOKENS_FILE`."""

    key: str
    role: str
    code: str | None
    name: str


def token_key(role: str, code: str | None) -> str:
    """A token's name in the file: role, and organisation where the role has one."""
    return f"{role}:{code}" if code else role


def wanted_tokens() -> list[DevToken]:
    """The banner's tokens, then one trust_system token per demo adapter (gap healing)."""
    return [
        *(DevToken(token_key(role, code), role, code, f"dev {role}")
          for role, code in DEV_TOKENS),
        *(DevToken(f"adapter:{ods}", "trust_system", ods, f"dev trust adapter {ods}")
          for ods in DEMO_ADAPTER_TRUSTS),
    ]


def demo_email(role: str) -> str:
    """The demo person of ``role`` (``.test`` is reserved: no real mailbox)."""
    return f"{role.replace('_', '.')}@marketplace.test"


def _load_file(path: Path, *, quiet: bool = False) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        if not quiet:
            click.echo(f"{path} is unreadable: issuing new demo tokens and sign-ins",
                       err=True)
        return {}
    return data if isinstance(data, dict) else {}


def _save(path: Path, key: str, values: dict[str, str]) -> None:
    """``values`` under ``key``, keeping the file's other section."""
    data = _load_file(path, quiet=True)
    data["about"] = ("marketplace dev's demo tokens and sign-ins; new ones are issued when "
                     "this instance's database no longer knows these")
    data[key] = values
    _write_private(path, json.dumps(data, indent=2) + "\n")


def _load_stored_tokens(path: Path, section: str = "tokens") -> dict[str, str]:
    """Whatever a previous run kept; an unreadable file just means new tokens."""
    data = _load_file(path)
    stored = data.get(section)
    if not isinstance(stored, dict):
        return {}
    return {key: plain for key, plain in stored.items()
            if isinstance(key, str) and isinstance(plain, str)}


def _write_private(path: Path, text: str) -> None:
    """Owner-only (0600) from the first byte, and replaced whole so a crash leaves no half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(partial, 0o600)  # O_CREAT's mode does not apply to a leftover file
    os.replace(partial, path)


def _fits(token: ApiToken, wanted: DevToken) -> bool:
    """A hand-edited file must not turn, say, the admin line into an innovator's token."""
    code = token.organisation.code if token.organisation else None
    return str(token.role) == wanted.role and code == wanted.code


def dev_tokens(settings: Settings, path: Path = TOKENS_FILE) -> dict[str, str]:
    """Plain token by key: the stored ones while this database still has them live, so
    saved curl lines keep working; new ones (then stored) after e.g. a new database."""
    stored = _load_stored_tokens(path)
    plain_by_key: dict[str, str] = {}
    with command_unit_of_work(settings) as uow:
        for wanted in wanted_tokens():
            plain = stored.get(wanted.key)
            token = tokens.find_live(uow, plain) if plain else None
            if plain is None or token is None or not _fits(token, wanted):
                _, plain = tokens.create(uow, role=wanted.role, code=wanted.code,
                                         name=wanted.name)
            plain_by_key[wanted.key] = plain
    if plain_by_key != stored:  # written only once the new tokens are committed
        _save(path, "tokens", plain_by_key)
    return plain_by_key


def dev_people(settings: Settings, path: Path = TOKENS_FILE) -> dict[str, str]:
    """Password by email of one demo person per role (the organisations of
    :data:`DEV_TOKENS`): the stored passwords while they still sign in on this database;
    a new password (then stored) for a new person or one whose password no longer fits."""
    stored = _load_stored_tokens(path, "people")
    password_by_email: dict[str, str] = {}
    with command_unit_of_work(settings) as uow:
        for role, code in DEV_TOKENS:
            email = demo_email(role)
            password = stored.get(email)
            person = people.find(uow, email)
            if person is None:
                password = secrets.token_urlsafe(12)
                people.add(uow, email=email, password=password, role=role, code=code)
            elif (password is None or person.password_hash is None
                  or not passwords.verify(person.password_hash, password)):
                password = secrets.token_urlsafe(12)
                people.set_password(uow, person, password)
            else:  # a demo account locked by a previous run would stall the demo
                person.failed_attempts, person.locked_until = 0, None
            password_by_email[email] = password
    if password_by_email != stored:
        _save(path, "people", password_by_email)
    return password_by_email
