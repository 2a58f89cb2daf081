"""Free text the marketplace publishes (titles, reasons, answers): stored stripped, never
blank, since the contract's events refuse empty text."""
from __future__ import annotations

from marketplace.kernel.errors import InvalidInput


def stripped(**values: str) -> dict[str, str]:
    """``values`` stripped; a 422 naming every field left blank."""
    out = {name: value.strip() for name, value in values.items()}
    if blank := sorted(name for name, value in out.items() if not value):
        raise InvalidInput("Some text is blank.", {name: ["blank"] for name in blank})
    return out
