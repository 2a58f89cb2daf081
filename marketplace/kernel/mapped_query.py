"""A list's statement with what to make of each row of a page before it is shown.

A service returns one when its rows need work only the page should pay for (a sealed
response opened, say); the HTTP layer's pagination runs the page and maps its rows.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select


@dataclass(frozen=True)
class MappedQuery:
    stmt: Select[Any]
    each: Callable[[Any], Any]
