"""Password hashing: argon2id (``argon2-cffi``), never a plain value stored or logged.

``HASHER`` uses argon2-cffi's defaults (RFC 9106's low-memory profile: argon2id, 3
passes, 64 MiB, 4 lanes). A stored hash made with other parameters still verifies and is
replaced by one with the current parameters at the next successful sign-in
(:func:`needs_rehash`). Tests swap ``HASHER`` for a cheap one.
"""
from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

HASHER = PasswordHasher()

#: The shortest password ``marketplace user add`` accepts.
MIN_LENGTH = 12

_dummy: tuple[PasswordHasher, str] | None = None


def hash_password(plain: str) -> str:
    return HASHER.hash(plain)


def verify(stored_hash: str, plain: str) -> bool:
    """True when ``plain`` matches ``stored_hash``; False for a mismatch or a broken hash."""
    try:
        return HASHER.verify(stored_hash, plain)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    try:
        return HASHER.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


def verify_dummy(plain: str) -> None:
    """As long as :func:`verify` takes, for a person who does not exist (or may not sign
    in): an unknown email answers no sooner than a wrong password."""
    global _dummy
    if _dummy is None or _dummy[0] is not HASHER:
        _dummy = (HASHER, HASHER.hash(secrets.token_urlsafe(16)))
    verify(_dummy[1], plain)
