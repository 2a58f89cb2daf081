"""Before/after differences for the audit trail."""
from __future__ import annotations

from typing import Any


def diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """Only the fields that changed, as ``{field: [old, new]}``.

    A creation has ``before=None`` (every field ``[None, value]``); a deletion the reverse.
    """
    before = before or {}
    after = after or {}
    changes: dict[str, Any] = {}
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old != new:
            changes[key] = [old, new]
    return changes
