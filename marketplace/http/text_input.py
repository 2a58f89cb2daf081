"""Hostile text refused at the door, the same way on every endpoint and database.

JSON may nest without end, carry a lone UTF-16 surrogate (``"\\ud800"``, which no
database or encoder accepts) or a NUL character (which SQLite stores and PostgreSQL
refuses); a query string or a path segment may carry a NUL too. Each is answered
with a 4xx problem before any schema or query sees it, so the whole class of input is
handled here rather than endpoint by endpoint.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from marketplace.http.problems import Problem

#: Deeper JSON than any body of the contract needs (an approval is four levels deep).
MAX_DEPTH = 32
_UNSAFE = re.compile("[\x00\ud800-\udfff]")


def _path(parts: Iterable[str | int]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts) or "."


def _unsafe_reason(text: str) -> str | None:
    found = _UNSAFE.search(text)
    if found is None:
        return None
    return "contains a NUL character" if found.group() == "\x00" else \
        "contains an unpaired UTF-16 surrogate"


def parse_json(raw: bytes) -> Any:
    """The body as JSON: 400 if it is not JSON, nests deeper than :data:`MAX_DEPTH` or holds
    a lone surrogate; 422 naming the field if a string holds a NUL character."""
    try:
        value = json.loads(raw or b"null")
    except RecursionError:
        raise Problem(400, "Malformed JSON",
                      f"The body nests deeper than {MAX_DEPTH} levels.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(400, "Malformed JSON", f"The body is not valid JSON: {exc}.") from exc
    check_json(value)
    return value


def check_json(value: Any) -> None:
    """Walk ``value`` without recursion, refusing depth, surrogates and NULs (see above)."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, at = stack.pop()
        if len(at) > MAX_DEPTH:
            raise Problem(400, "Malformed JSON",
                          f"The body nests deeper than {MAX_DEPTH} levels.")
        if isinstance(item, str):
            _refuse_text(item, at)
        elif isinstance(item, dict):
            for key, child in item.items():
                _refuse_text(key, (*at, key))
                stack.append((child, (*at, key)))
        elif isinstance(item, list):
            stack.extend((child, (*at, n)) for n, child in enumerate(item))


def _refuse_text(text: str, at: tuple[str | int, ...]) -> None:
    reason = _unsafe_reason(text)
    if reason is None:
        return
    name = _path(at)
    if reason.endswith("surrogate"):
        raise Problem(400, "Malformed JSON", f"The string at {name} {reason}.")
    raise Problem(422, "Validation failed", "The request body is not valid.",
                  errors={name.lstrip(".") or "_schema": [reason]})


def check_query(args: Iterable[tuple[str, str]]) -> None:
    """422 when a query parameter's name or value holds a NUL or a lone surrogate."""
    errors = {name: [reason] for name, value in args
              if (reason := _unsafe_reason(name) or _unsafe_reason(value))}
    if errors:
        raise Problem(422, "Validation failed", "The query string is not valid.", errors=errors)


def check_path(values: Mapping[str, Any]) -> None:
    """404 when a path segment holds a NUL or a lone surrogate: no object has such a name."""
    for value in values.values():
        if isinstance(value, str) and _unsafe_reason(value):
            raise Problem(404, "Not Found", "Nothing is found at a path with a NUL character "
                          "or an unpaired surrogate.")
