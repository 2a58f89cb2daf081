"""The one clock: every "now" of the marketplace comes from here (tests pass their own)."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

#: What the bootstrap hands to units of work: a function returning an aware UTC instant.
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)
